package swarm

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"

	"github.com/tessera-net/tessera/merkle"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/wire"
)

// Verification configures the client's checks of a chain's remote hops
// (DESIGN section 5). L0: every result carries the node's signed receipt,
// checked as it arrives (signature, the node's announced key, session,
// step order, chaining, H(in) and H(out) against what was sent and
// received). L1: with a verification key covering a hop's layers, random
// cells of its receipts are opened and checked (proof.Auditor). A node
// that fails either is not used again by the chain.
type Verification struct {
	// Keys are verification keys; each remote hop whose layers one of
	// them covers is audited. Without keys only L0 checks run.
	Keys []*proof.VerificationKey
	// Audit sets the audit rate and tolerances (zero: proof defaults).
	Audit proof.AuditConfig
	// Rand supplies session nonces and seeds the audits' choices (nil:
	// crypto/rand). The node must not be able to predict it.
	Rand io.Reader
	// KeepInputs records every call's input per remote hop so that a
	// validator can re-execute the session (Chain.Reexecute).
	KeepInputs bool
	// SyncReceipts asks nodes for each call's receipt with its own result
	// (sessions of wire.Version 2) and checks it, audit included, before
	// the output is used. By default a node sends a call's receipt with
	// the next call's result, so that committing and signing are not on
	// the path of a decode step, and the chain checks it then (see
	// Chain.Flush).
	SyncReceipts bool
}

// ErrDistrusted is wrapped by the errors of a hop whose node failed a
// receipt check or an audit: the chain does not use the node again.
var ErrDistrusted = errors.New("swarm: node failed verification")

// receiptOverhead bounds a receipt's share of a ForwardResult frame.
const receiptOverhead = 512

// hopProof is the verification state of one remote hop.
type hopProof struct {
	v        *Verification
	key      ed25519.PublicKey // the node's announced key (Hop.PubKey)
	vk       *proof.VerificationKey
	nonce    proof.Hash
	checker  *proof.ReceiptChecker
	auditor  *proof.Auditor
	prior    proof.AuditStats // audits of earlier sessions of this hop
	fault    error            // why the node is distrusted
	frauds   []*proof.Fraud
	inputs   [][]float32 // with KeepInputs: every call's input, by step
	outputs  [][]float32
	reexec   int
	reexecKO int
	verdict  *proof.Verdict // a validator's, on the current session

	// Receipts in flight (see receipts.go).
	deferred  bool      // the node sends each receipt one call late (wire.Version 3)
	owed      *owedCall // the call whose receipt the node owes
	verifying *sigCheck // the newest receipt, its signature being verified
	unsigned  int       // receipts at the end of checker's whose signature is not verified
}

func (v *Verification) read(b []byte) error {
	r := v.Rand
	if r == nil {
		r = rand.Reader
	}
	_, err := io.ReadFull(r, b)
	return err
}

// newHopProof prepares the checks of a remote hop.
func newHopProof(v *Verification, cfg *ChainConfig, h Hop) (*hopProof, error) {
	if len(h.PubKey) != ed25519.PublicKeySize {
		return nil, errors.New("receipts are required but the hop has no node key (Hop.PubKey)")
	}
	p := &hopProof{v: v, key: h.PubKey}
	for _, vk := range v.Keys {
		if vk.Covers(h.Range) && vk.Commit.Model == cfg.ModelCommit {
			p.vk = vk
			break
		}
	}
	return p, nil
}

// begin starts the checks of a new session with the node; it returns the
// nonce to send in OpenSession.
func (p *hopProof) begin(cfg *ChainConfig, r model.Range) ([]byte, error) {
	if p.auditor != nil {
		p.prior.Add(p.auditor.Stats())
	}
	if err := p.v.read(p.nonce[:]); err != nil {
		return nil, fmt.Errorf("drawing a session nonce: %w", err)
	}
	p.checker = &proof.ReceiptChecker{Key: p.key, Session: p.nonce, Model: cfg.ModelCommit,
		First: r.First, Last: r.Last, DType: uint8(cfg.DType)}
	p.auditor = nil
	p.inputs, p.outputs = nil, nil
	p.verdict = nil
	p.owed, p.verifying, p.unsigned = nil, nil, 0
	if p.vk != nil {
		var seed [32]byte
		if err := p.v.read(seed[:]); err != nil {
			return nil, fmt.Errorf("drawing an audit seed: %w", err)
		}
		rng := mrand.New(mrand.NewChaCha8(seed))
		a, err := proof.NewAuditor(p.vk, r.First, r.Last, p.v.Audit, rng)
		if err != nil {
			return nil, err
		}
		p.auditor = a
	}
	return p.nonce[:], nil
}

// distrust records why the node is no longer used.
func (p *hopProof) distrust(err error) error {
	if p.fault == nil {
		p.fault = err
	}
	var f *proof.Fraud
	if errors.As(err, &f) {
		p.frauds = append(p.frauds, f)
	}
	return fmt.Errorf("%w: %w", ErrDistrusted, err)
}

// roundTo returns hidden as the node decodes it from dtype dt.
func roundTo(dst, hidden []float32, dt wire.DType) []float32 {
	if dt != wire.DTypeF16 {
		return append(dst[:0], hidden...)
	}
	dst = append(dst[:0], hidden...)
	for i, v := range dst {
		dst[i] = proof.RoundDType(v, proof.DTypeF16)
	}
	return dst
}

// fetchOpenings asks the node for the openings of refs, in requests whose
// answers fit in one message.
func (h *hop) fetchOpenings(refs []proof.CellRef) ([]*proof.CellOpening, error) {
	cfg := h.cfg
	limit := h.maxMsg - 1024
	var out []*proof.CellOpening
	for len(refs) > 0 {
		size, k := 64, 0
		for k < len(refs) {
			s := proof.OpeningSize(cfg.Model, refs[k].Mask, merkle.ProofLen(0, 1<<20))
			if k > 0 && size+s > limit {
				break
			}
			size += s
			k++
		}
		req := &wire.OpenCells{SessionID: h.id, Request: proof.MarshalRequest(refs[:k])}
		if err := h.w.WriteMessage(req); err != nil {
			return nil, h.writeFailed("asking for openings", err)
		}
		msg, err := wire.ReadMessage(h.r, cfg.MaxMessageBytes)
		if err != nil {
			return nil, fmt.Errorf("reading openings: %w", err)
		}
		switch m := msg.(type) {
		case *wire.Error:
			return nil, fmt.Errorf("openings: %w", m)
		case *wire.Openings:
			ops, err := proof.UnmarshalOpenings(m.Body)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", proof.ErrRefused, err)
			}
			out = append(out, ops...)
		default:
			return nil, fmt.Errorf("asked for openings, node answered %s", msg.Type())
		}
		refs = refs[k:]
	}
	return out, nil
}

// HopProof is what the chain verified of one hop's current session.
type HopProof struct {
	Peer     string
	Range    model.Range
	Local    bool
	Key      ed25519.PublicKey
	Receipts []*proof.Receipt
	// Audited reports whether a verification key covered the hop.
	Audited bool
	Audit   proof.AuditStats
	// Fault is why the node is distrusted (nil while it is trusted).
	Fault  error
	Frauds []*proof.Fraud
	// ReexecSteps and ReexecFailed count Reexecute's work on this hop.
	ReexecSteps, ReexecFailed int
	// Retired is set for a hop that failover replaced; Failure is why.
	Retired bool
	Failure error
	// Verdict is a validator's verdict on the session (RecordVerdict).
	Verdict *proof.Verdict
}

// CertHop summarises the hop for a certificate.
func (p HopProof) CertHop() proof.CertHop {
	h := proof.CertHop{Local: p.Local, First: p.Range.First, Last: p.Range.Last}
	if p.Local {
		return h
	}
	h.Peer, h.Key, h.Receipts, h.Verdict = p.Peer, p.Key, p.Receipts, p.Verdict
	h.Audit = proof.HopAudit{
		Receipts: len(p.Receipts), Audited: p.Audit.Audited, Cells: p.Audit.Cells, KVOpenings: p.Audit.KVOpenings,
		Failed: p.Audit.Failed, Refused: p.Audit.Refused, ReexecSteps: p.ReexecSteps, ReexecFailed: p.ReexecFailed,
	}
	if p.Fault != nil && h.Audit.Passed() {
		// A receipt that failed L0 checks: count it as refused.
		h.Audit.Refused++
	}
	return h
}

// Proofs returns, per hop in chain order, the receipts and audit results
// of its current session: the hops of a certificate. After a failover the
// replacement's receipts cover the whole session (its replayed calls are
// receipted call by call like the original ones), so they chain with its
// neighbours' from the first call; the replaced node's are in Retired.
// It first fetches and checks the receipts the nodes still owe (Flush,
// bounded by ChainConfig.Timeout or DefaultFlushTimeout; a node failing
// them shows as Fault). Call it between Forwards, not during one.
func (c *Chain) Proofs() []HopProof {
	c.flushNow()
	out := make([]HopProof, len(c.hops))
	for i, h := range c.hops {
		out[i] = h.proofs()
	}
	return out
}

// Retired returns the receipts and audit results of the hops failover
// replaced, in the order they were replaced (Retired set, Failure saying
// why). Their inputs were the previous hop's outputs, like any hop's, and
// the outputs they had sent on were reproduced bit for bit by their
// replacements (a failover that could not reproduce them gave up), so
// every receipt here attests work that the final output used.
func (c *Chain) Retired() []HopProof {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]HopProof, len(c.retiredHops))
	for i, h := range c.retiredHops {
		out[i] = h.proofs()
	}
	return out
}

// proofs is what the chain verified of h's session.
func (h *hop) proofs() HopProof {
	hp := HopProof{Peer: h.name(), Range: h.Range, Local: h.local(), Retired: h.retired != nil, Failure: h.retired}
	if p := h.proof; p != nil {
		hp.Key = p.key
		hp.Audited = p.vk != nil
		hp.Fault = p.fault
		hp.Frauds = p.frauds
		hp.Audit = p.prior
		hp.ReexecSteps, hp.ReexecFailed = p.reexec, p.reexecKO
		hp.Verdict = p.verdict
		p.verifySig()
		if p.checker != nil {
			rs := p.checker.Receipts()
			hp.Receipts = rs[:len(rs)-p.unsigned]
		}
		if p.auditor != nil {
			hp.Audit.Add(p.auditor.Stats())
		}
	}
	return hp
}

// Audited reports whether every remote hop is covered by a verification
// key (and so the chain's audits cover every node).
func (c *Chain) Audited() bool {
	any := false
	for _, h := range c.hops {
		if h.local() {
			continue
		}
		if h.proof == nil || h.proof.vk == nil {
			return false
		}
		any = true
	}
	return any
}

// Reexecute re-runs hop i's current session on m (a validator's copy of
// the hop's layers) from the inputs the chain sent, and compares every
// output and trace root with the node's receipts (level L2). It needs
// Verification.KeepInputs. A mismatch distrusts the node and returns
// evidence anyone holding the weights can re-check.
func (c *Chain) Reexecute(i int, m *model.Model) (*proof.ReexecResult, *proof.Evidence, error) {
	job, err := c.ReexecJob(i)
	if err != nil {
		return nil, nil, err
	}
	h := c.hops[i]
	p := h.proof
	res, ev, err := proof.Reexecute(m, job.Steps)
	if err != nil {
		return nil, nil, err
	}
	p.reexec += res.Steps
	if ev != nil {
		p.reexecKO++
		f := &proof.Fraud{Finding: ev.Finding, Evidence: ev}
		_ = p.distrust(f)
		h.closeStream()
	}
	return res, ev, nil
}

// ReexecJob returns hop i's current session as a re-execution job (the
// receipts with the inputs sent and outputs received), for a validator to
// re-run. It needs Verification.KeepInputs.
func (c *Chain) ReexecJob(i int) (*proof.ReexecJob, error) {
	if i < 0 || i >= len(c.hops) || c.hops[i].proof == nil {
		return nil, fmt.Errorf("swarm: hop %d is not a verified remote hop", i)
	}
	p := c.hops[i].proof
	if !p.v.KeepInputs {
		return nil, errors.New("swarm: re-execution needs Verification.KeepInputs")
	}
	c.flushNow()
	if p = c.hops[i].proof; p == nil || p.checker == nil { // a failover may have replaced the hop
		return nil, fmt.Errorf("swarm: hop %d has no receipts to re-execute", i)
	}
	rs := p.checker.Receipts()
	if rs = rs[:len(rs)-p.unsigned]; len(rs) == 0 {
		return nil, fmt.Errorf("swarm: hop %d has no receipts to re-execute", i)
	}
	job := &proof.ReexecJob{Steps: make([]proof.ReexecStep, len(rs))}
	for k, r := range rs {
		job.Steps[k] = proof.ReexecStep{Receipt: r, Input: p.inputs[k], Output: p.outputs[k]}
	}
	return job, nil
}

// RecordVerdict records a validator's verdict on hop i's current session
// (the caller checked it: proof.Verdict.Verify, About and, on a
// difference, OpenEvidence); a difference distrusts the node with the
// evidence.
func (c *Chain) RecordVerdict(i int, v *proof.Verdict, ev *proof.Evidence) error {
	if i < 0 || i >= len(c.hops) || c.hops[i].proof == nil {
		return fmt.Errorf("swarm: hop %d is not a verified remote hop", i)
	}
	if !v.Matched() && ev == nil {
		return errors.New("swarm: a verdict stating a difference needs its evidence")
	}
	h := c.hops[i]
	p := h.proof
	p.verdict = v
	p.reexec += v.Steps
	if !v.Matched() {
		p.reexecKO++
		_ = p.distrust(&proof.Fraud{Finding: ev.Finding, Evidence: ev})
		h.closeStream()
	}
	return nil
}
