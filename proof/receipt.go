package proof

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/tessera-net/tessera/quant"
)

// Hidden-state encodings a receipt names, with the values of wire.DType.
const (
	DTypeF32 uint8 = 1 // float32, exact
	DTypeF16 uint8 = 2 // rounded to IEEE binary16 at every hop
)

// RoundDType returns v as it arrives after encoding in dtype: unchanged for
// f32, rounded to the nearest float16 for f16.
func RoundDType(v float32, dtype uint8) float32 {
	if dtype == DTypeF16 {
		return quant.FP16ToFP32(quant.FP32ToFP16(v))
	}
	return v
}

// ReceiptVersion is the version of the receipt encoding.
const ReceiptVersion = 1

// ReceiptSize is the length of an encoded receipt.
const ReceiptSize = 2 + 32 + 8 + 4 + 4 + 32 + 4 + 4 + 4*32 + ed25519.PublicKeySize + ed25519.SignatureSize

const receiptDomain = "tessera/receipt/v1\n"

// Receipt is what a node signs for one forward call (DESIGN section 5).
// Hidden-state hashes are HiddenRoot over the values as the client
// decodes them (after dtype rounding).
type Receipt struct {
	DType     uint8  // DTypeF32 or DTypeF16
	Session   Hash   // the client's session nonce
	Step      uint64 // the node's count of the session's forward calls, from 0
	Start, N  int    // positions [Start, Start+N)
	Model     Hash   // model commitment
	First     int    // layers [First, Last)
	Last      int
	HIn       Hash // HiddenRoot of the input
	HOut      Hash // HiddenRoot of the output
	TraceRoot Hash // root of the trace tree (CommitTrace)
	Prev      Hash // Hash of the previous receipt of the session; zero for step 0
	Key       ed25519.PublicKey
	Sig       []byte
}

// ErrBadReceipt is wrapped by every error about a receipt that does not
// check: bad signature, wrong key, out of order, not matching what the
// client sent or received.
var ErrBadReceipt = errors.New("proof: bad receipt")

func (r *Receipt) appendBody(b []byte) []byte {
	e := enc{b: b}
	e.u8(ReceiptVersion)
	e.u8(r.DType)
	e.hash(r.Session)
	e.u64(r.Step)
	e.u32(uint32(r.Start))
	e.u32(uint32(r.N))
	e.hash(r.Model)
	e.u32(uint32(r.First))
	e.u32(uint32(r.Last))
	e.hash(r.HIn)
	e.hash(r.HOut)
	e.hash(r.TraceRoot)
	e.hash(r.Prev)
	var key [ed25519.PublicKeySize]byte
	copy(key[:], r.Key)
	e.raw(key[:])
	return e.b
}

// SignedMessage is the canonical byte string the node signs:
// "tessera/receipt/v1\n" followed by the encoding without the signature.
func (r *Receipt) SignedMessage() []byte {
	return r.appendBody([]byte(receiptDomain))
}

// Sign sets r.Key and r.Sig with key.
func (r *Receipt) Sign(key ed25519.PrivateKey) {
	r.Key = key.Public().(ed25519.PublicKey)
	r.Sig = signEd25519(key, r.SignedMessage())
}

// Marshal returns the ReceiptSize-byte encoding: version, dtype, session,
// step, start, n, model, first, last, h_in, h_out, trace_root, prev (all
// integers little-endian), the 32-byte public key and the 64-byte
// signature.
func (r *Receipt) Marshal() []byte {
	b := r.appendBody(make([]byte, 0, ReceiptSize))
	var sig [ed25519.SignatureSize]byte
	copy(sig[:], r.Sig)
	return append(b, sig[:]...)
}

// Hash is SHA-256 of the encoding; the next receipt's Prev.
func (r *Receipt) Hash() Hash { return sha256.Sum256(r.Marshal()) }

// UnmarshalReceipt decodes an encoded receipt. It checks the encoding and
// ranges, not the signature (see Verify).
func UnmarshalReceipt(b []byte) (*Receipt, error) {
	if len(b) != ReceiptSize {
		return nil, fmt.Errorf("%w: receipt of %d bytes, want %d", ErrMalformed, len(b), ReceiptSize)
	}
	d := dec{b: b, what: "receipt"}
	if v := d.u8(); v != ReceiptVersion {
		return nil, fmt.Errorf("%w: receipt version %d, want %d", ErrMalformed, v, ReceiptVersion)
	}
	r := &Receipt{DType: d.u8(), Session: d.hash(), Step: d.u64()}
	r.Start, r.N = int(d.u32()), int(d.u32())
	r.Model = d.hash()
	r.First, r.Last = int(d.u32()), int(d.u32())
	r.HIn, r.HOut, r.TraceRoot, r.Prev = d.hash(), d.hash(), d.hash(), d.hash()
	r.Key = ed25519.PublicKey(append([]byte(nil), d.take(ed25519.PublicKeySize)...))
	r.Sig = append([]byte(nil), d.take(ed25519.SignatureSize)...)
	d.done()
	if d.err != nil {
		return nil, d.err
	}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("%w: receipt: %v", ErrMalformed, err)
	}
	return r, nil
}

// Limits on receipt fields (those of the wire protocol).
const (
	layerLimit    = 1 << 16
	positionLimit = 1 << 28
)

func (r *Receipt) validate() error {
	if r.DType != DTypeF32 && r.DType != DTypeF16 {
		return fmt.Errorf("unknown dtype %d", r.DType)
	}
	if r.First < 0 || r.Last > layerLimit || r.First >= r.Last {
		return fmt.Errorf("layer range %d:%d", r.First, r.Last)
	}
	if r.Start < 0 || r.N < 1 || r.Start+r.N > positionLimit {
		return fmt.Errorf("positions %d+%d", r.Start, r.N)
	}
	return nil
}

// Verify checks the encoding's ranges and the signature under r.Key.
func (r *Receipt) Verify() error {
	return r.verifyWith(ed25519.Verify)
}

// verifyWith is Verify with the signature checked by verify.
func (r *Receipt) verifyWith(verify func(key ed25519.PublicKey, msg, sig []byte) bool) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadReceipt, err)
	}
	if len(r.Key) != ed25519.PublicKeySize || len(r.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: key or signature missing", ErrBadReceipt)
	}
	if !verify(r.Key, r.SignedMessage(), r.Sig) {
		return fmt.Errorf("%w: signature does not verify under the receipt's key", ErrBadReceipt)
	}
	return nil
}

// Layers is the number of layers the receipt covers.
func (r *Receipt) Layers() int { return r.Last - r.First }

// Cells is the number of leaves of the receipt's trace tree.
func (r *Receipt) Cells() int { return r.Layers() * r.N }

func (r *Receipt) String() string {
	return fmt.Sprintf("receipt step %d positions %d+%d layers %d:%d", r.Step, r.Start, r.N, r.First, r.Last)
}
