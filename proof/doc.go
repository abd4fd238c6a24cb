// Package proof makes a layer slice's work checkable (DESIGN section 5):
// signed receipts per forward call, Merkle commitments to the call's
// trace, secret-key Freivalds verification keys, audits of random trace
// cells, spot re-execution, fraud evidence that anyone holding the weights
// can re-check, and the auditor's signed certificate of a generation.
//
// The package is pure and deterministic: no clock, no randomness, no I/O.
// Keys and random sources are passed in; model files are passed in open.
//
// # Receipts (level L0)
//
// For each forward call a node signs, with its Ed25519 key (the key of its
// libp2p peer id), the ReceiptSize-byte Receipt: session nonce (chosen by
// the client), step, positions, model commitment, layer range, H(input),
// H(output), trace root, and the hash of its previous receipt in the
// session. H(hidden) is HiddenRoot: the RFC 6962 Merkle root (package
// merkle) over the SHA-256 of each position's row, little-endian float32,
// taken over the values as the client decodes them (after f16 rounding
// when the session uses f16), so a single row can later be shown to
// belong to a receipt. The signature covers "tessera/receipt/v1\n" and the
// encoding without the signature; the receipt's hash (Receipt.Hash) is
// SHA-256 of the whole encoding. ReceiptChecker is the client's check of
// each receipt as it arrives; CheckSequence checks a hop's receipts
// offline.
//
// # Traces and openings
//
// A forward call over layers [first, last) and n positions has
// (last−first)·n cells, ordered layer-major. Each cell has 11 vectors (H,
// X1, Q, K, V after RoPE, Att, O, X2, Gate, Up, Down; see model.Cell), each
// hashed as SHA-256 of its little-endian float32 bytes; the cell's leaf is
// SHA-256("tessera/cell/v1" ‖ u32 layer ‖ u32 pos ‖ the 11 hashes), and
// the trace root is the Merkle root over the leaves (CommitTrace). An
// opening (CellOpening) gives any subset of a cell's vectors, the hashes of
// the others and the Merkle path, so keys and values can be opened
// without the rest of the cell. TraceStore is the node's retention: full
// traces of a bounded window of recent calls, keys and values of every
// position for the session.
//
// # Verification keys
//
// For every weight matrix W (rows × cols) of the layers it covers, a
// VerificationKey holds s = rᵀW for Reps secret vectors r whose entries
// are uniform in ±[1, 2), derived from a 32-byte seed kept in the key
// file. Entries bounded away from zero matter: with r_i possibly near 0,
// a perturbation of output i alone would change r·y by almost nothing and
// pass; with |r_i| ≥ 1 it changes r·y by at least its own size, and for
// any perturbation δ the probability (over r) that |r·δ| < t is at most
// t / max_i|δ_i|. The key also holds the layers' norm weights and, for
// q4_1/q5_1 weights, t = rᵀM over the per-block minimums (their kernels
// add an f16-rounded activation block sum). GenerateVK reads each weight
// once; the file (VerificationKey.Marshal) is versioned, checksummed and
// bound to the model commitment. The key is secret: whoever knows r can
// craft perturbations orthogonal to it.
//
// # Audits (level L1)
//
// An Auditor picks random cells of a receipt (the rate follows a CPU
// budget, AuditConfig), the client fetches their openings, and Check
// verifies them: the Merkle paths; X1 = RMSNorm(H)·w and X2 =
// RMSNorm(H+O)·w recomputed; every matrix product by Freivalds, r·y
// against s·x̂ where x̂ is the activation quantized exactly as the kernels
// quantize it (so that honest residuals are float32 rounding only; q and
// k are un-rotated first, which checks RoPE); attention recomputed from Q
// and the opened keys and values of every earlier position, each opening
// checked against the receipt of the step that computed it; the residual
// (H+O)+Down against the next layer's H or the receipt's output row,
// bit for bit; and at the cell's position the first layer's H against the
// receipt's input row and the last layer's output against its output row.
// A failing equation yields a Fraud with Evidence: the node's receipts
// from step 0, the openings and rows the equation reads, and the finding.
// CheckEvidence re-checks evidence with the weights themselves (the full
// matrix product), so it convicts without the secret key.
//
// # Re-execution (level L2)
//
// Reexecute re-runs a session's calls on a validator's copy of the layers
// and compares outputs and trace roots with the receipts bit for bit (the
// kernels are deterministic for any thread count).
//
// # Certificates
//
// A Certificate is signed by the auditor at the end of a generation: model
// commitment, hashes of prompt and output, the hops with their keys,
// ranges and every receipt, the Merkle root over all receipts, the audit
// counts, and whether an audit was done at all (Audited). VerifyCertificate
// checks it offline.
package proof
