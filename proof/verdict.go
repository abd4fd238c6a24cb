package proof

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
)

// ReexecJob is what a client hands a validator to re-execute (level L2):
// one hop's receipts of a session, from step 0, with the input the client
// sent and the output it received for each call. The receipts bind both:
// the inputs must hash to their H(in), the outputs to their H(out).
type ReexecJob struct {
	Steps []ReexecStep
}

const jobMagic = "tessera-reexec-job\x00\x00\x00\x01"

// Marshal encodes the job: magic, the step count, and per step the
// receipt, the input and the output (each a count and little-endian
// float32 values; an output may be empty).
func (j *ReexecJob) Marshal() []byte {
	w := enc{}
	w.raw([]byte(jobMagic))
	w.u32(uint32(len(j.Steps)))
	for _, s := range j.Steps {
		w.raw(s.Receipt.Marshal())
		w.f32s(s.Input)
		w.f32s(s.Output)
	}
	return w.b
}

// UnmarshalReexecJob decodes a job. It checks the encoding (at least one
// step, receipts that decode, finite values), not the claims: Reexecute
// checks the receipts' chain and that the vectors hash to them.
func UnmarshalReexecJob(b []byte) (*ReexecJob, error) {
	d := dec{b: b, what: "re-execution job"}
	d.magic(jobMagic)
	n := d.count(MaxItems, ReceiptSize+8)
	j := &ReexecJob{}
	for i := 0; i < n && d.err == nil; i++ {
		r, err := UnmarshalReceipt(d.take(ReceiptSize))
		if err != nil {
			if d.err == nil {
				d.err = err
			}
			break
		}
		s := ReexecStep{Receipt: r, Input: d.f32s(MaxVector)}
		if out := d.f32s(MaxVector); len(out) > 0 {
			s.Output = out
		}
		j.Steps = append(j.Steps, s)
	}
	d.done()
	if d.err != nil {
		return nil, d.err
	}
	if len(j.Steps) == 0 {
		return nil, fmt.Errorf("%w: re-execution job holds no step", ErrMalformed)
	}
	return j, nil
}

// Receipts returns the job's receipts in step order.
func (j *ReexecJob) Receipts() []*Receipt {
	rs := make([]*Receipt, len(j.Steps))
	for i, s := range j.Steps {
		rs[i] = s.Receipt
	}
	return rs
}

// Outcomes of a verdict.
const (
	VerdictMatch  uint8 = 1 // every output and trace root re-executed to the receipts'
	VerdictOutput uint8 = 2 // an output differs from the receipt's H(out)
	VerdictTrace  uint8 = 3 // the outputs match, a trace root differs
)

// MaxPlatform bounds Verdict.Platform.
const MaxPlatform = 64

// Verdict is a validator's signed statement about a spot re-execution
// (level L2): which node's receipts (by the Merkle root over their hashes),
// how many steps it re-ran, and whether the outputs and trace roots were
// the ones the node signed. On a difference it names the first step that
// differs and the hash of the evidence it returned with the verdict.
type Verdict struct {
	Validator ed25519.PublicKey
	Node      ed25519.PublicKey // the key that signed the receipts
	Model     Hash
	Session   Hash
	First     int // layers [First, Last)
	Last      int
	Calls     int  // receipts in the job
	Receipts  Hash // Merkle root over the job's receipt hashes (ReceiptsRoot)
	Steps     int  // steps re-executed: all on a match, up to Step otherwise
	Outcome   uint8
	Step      uint64  // the first differing step (0 on a match)
	RelDev    float64 // relative L2 distance of the node's output at Step from the recomputation (0: not measured)
	// EvidenceHash is SHA-256 of the evidence encoding on a difference.
	EvidenceHash Hash
	// Platform says where the validator ran (GOARCH and kernel level):
	// results of different instruction sets may differ in their last bits.
	Platform string
	Sig      []byte
}

// ErrVerdict is wrapped by the errors of a verdict that does not check.
var ErrVerdict = errors.New("proof: bad verdict")

const (
	verdictMagic  = "tessera-verdict\x00\x00\x00\x00\x01"
	verdictDomain = "tessera/verdict/v1\n"
)

// NewVerdict states the outcome res of re-executing job, with the evidence
// (its encoding) Reexecute returned on a difference. The caller sets
// Platform and signs.
func NewVerdict(job *ReexecJob, res *ReexecResult, evidence []byte) *Verdict {
	rs := job.Receipts()
	r := rs[0]
	v := &Verdict{Node: r.Key, Model: r.Model, Session: r.Session, First: r.First, Last: r.Last,
		Calls: len(rs), Receipts: receiptsRoot(rs), Steps: res.Steps, Outcome: VerdictMatch}
	switch {
	case res.Mismatch >= 0:
		v.Outcome, v.Step, v.RelDev = VerdictOutput, rs[res.Mismatch].Step, sanitize(res.RelDev)
	case res.TraceMismatch >= 0:
		v.Outcome, v.Step = VerdictTrace, rs[res.TraceMismatch].Step
	}
	if v.Outcome != VerdictMatch {
		v.EvidenceHash = sha256.Sum256(evidence)
	}
	return v
}

// Matched reports whether every step re-executed to the node's receipts.
func (v *Verdict) Matched() bool { return v.Outcome == VerdictMatch }

func receiptsRoot(rs []*Receipt) Hash { return ReceiptsRoot([]CertHop{{Receipts: rs}}) }

func (v *Verdict) appendBody(w *enc) {
	var k [ed25519.PublicKeySize]byte
	copy(k[:], v.Validator)
	w.raw(k[:])
	k = [ed25519.PublicKeySize]byte{}
	copy(k[:], v.Node)
	w.raw(k[:])
	w.hash(v.Model)
	w.hash(v.Session)
	w.u32(uint32(v.First))
	w.u32(uint32(v.Last))
	w.u32(uint32(v.Calls))
	w.hash(v.Receipts)
	w.u32(uint32(v.Steps))
	w.u8(v.Outcome)
	w.u64(v.Step)
	w.f64(sanitize(v.RelDev))
	w.hash(v.EvidenceHash)
	w.str(truncate(v.Platform, MaxPlatform))
}

// SignedMessage is what the validator signs: "tessera/verdict/v1\n" and
// the encoding without magic and signature.
func (v *Verdict) SignedMessage() []byte {
	w := enc{b: []byte(verdictDomain)}
	v.appendBody(&w)
	return w.b
}

// Sign sets Validator and Sig.
func (v *Verdict) Sign(key ed25519.PrivateKey) {
	v.Validator = key.Public().(ed25519.PublicKey)
	v.Sig = ed25519.Sign(key, v.SignedMessage())
}

// Marshal encodes the verdict: magic, the signed fields, the signature.
func (v *Verdict) Marshal() []byte {
	w := enc{}
	w.raw([]byte(verdictMagic))
	v.appendBody(&w)
	var sig [ed25519.SignatureSize]byte
	copy(sig[:], v.Sig)
	w.raw(sig[:])
	return w.b
}

// UnmarshalVerdict decodes a verdict and checks that its fields are
// consistent; it does not check the signature (see Verify).
func UnmarshalVerdict(b []byte) (*Verdict, error) {
	d := dec{b: b, what: "verdict"}
	d.magic(verdictMagic)
	v := &Verdict{}
	v.Validator = ed25519.PublicKey(bytes.Clone(d.take(ed25519.PublicKeySize)))
	v.Node = ed25519.PublicKey(bytes.Clone(d.take(ed25519.PublicKeySize)))
	v.Model, v.Session = d.hash(), d.hash()
	v.First, v.Last, v.Calls = int(d.u32()), int(d.u32()), int(d.u32())
	v.Receipts = d.hash()
	v.Steps = int(d.u32())
	v.Outcome = d.u8()
	v.Step = d.u64()
	v.RelDev = d.f64()
	v.EvidenceHash = d.hash()
	v.Platform = d.str(MaxPlatform)
	v.Sig = bytes.Clone(d.take(ed25519.SignatureSize))
	d.done()
	if d.err != nil {
		return nil, d.err
	}
	if err := v.validate(); err != nil {
		return nil, fmt.Errorf("%w: verdict: %v", ErrMalformed, err)
	}
	return v, nil
}

func (v *Verdict) validate() error {
	switch {
	case v.First < 0 || v.Last > layerLimit || v.First >= v.Last:
		return fmt.Errorf("layer range %d:%d", v.First, v.Last)
	case v.Calls < 1 || v.Calls > MaxItems:
		return fmt.Errorf("%d calls", v.Calls)
	case v.RelDev < 0 || math.IsNaN(v.RelDev) || math.IsInf(v.RelDev, 0):
		return fmt.Errorf("relative deviation %v", v.RelDev)
	}
	switch v.Outcome {
	case VerdictMatch:
		if v.Steps != v.Calls || v.Step != 0 || v.EvidenceHash != (Hash{}) || v.RelDev != 0 {
			return errors.New("a match must cover every call and carry no difference")
		}
	case VerdictOutput, VerdictTrace:
		if v.Step >= uint64(v.Calls) || uint64(v.Steps) != v.Step+1 || v.EvidenceHash == (Hash{}) {
			return errors.New("a difference must name the step it stopped at and its evidence")
		}
	default:
		return fmt.Errorf("unknown outcome %d", v.Outcome)
	}
	return nil
}

// Verify checks the verdict's consistency and the validator's signature.
func (v *Verdict) Verify() error {
	if err := v.validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrVerdict, err)
	}
	if len(v.Validator) != ed25519.PublicKeySize || len(v.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: key or signature missing", ErrVerdict)
	}
	if !ed25519.Verify(v.Validator, v.SignedMessage(), v.Sig) {
		return fmt.Errorf("%w: the validator's signature does not verify", ErrVerdict)
	}
	return nil
}

// About checks that the verdict speaks of exactly the receipts rs signed
// by node: same key, model, session, layers, count and receipts root.
func (v *Verdict) About(node ed25519.PublicKey, rs []*Receipt) error {
	if len(rs) == 0 {
		return fmt.Errorf("%w: no receipts to compare with", ErrVerdict)
	}
	r := rs[0]
	switch {
	case !SameKey(v.Node, node):
		return fmt.Errorf("%w: it is about node %x, not %x", ErrVerdict, []byte(v.Node), []byte(node))
	case v.Model != r.Model || v.Session != r.Session || v.First != r.First || v.Last != r.Last:
		return fmt.Errorf("%w: it is about another model, session or layer range", ErrVerdict)
	case v.Calls != len(rs) || v.Receipts != receiptsRoot(rs):
		return fmt.Errorf("%w: it is about other receipts (%d calls)", ErrVerdict, v.Calls)
	}
	return nil
}

// OpenEvidence decodes the evidence b that came with a verdict stating a
// difference and checks that it is the one the verdict names (its hash)
// and is about the same receipts: re-execution evidence whose receipts
// are rs up to the differing step and whose finding is that step. It
// does not re-execute (that needs the weights: CheckEvidence).
func (v *Verdict) OpenEvidence(b []byte, rs []*Receipt) (*Evidence, error) {
	if v.Matched() {
		return nil, fmt.Errorf("%w: a match comes with no evidence", ErrVerdict)
	}
	if sha256.Sum256(b) != v.EvidenceHash {
		return nil, fmt.Errorf("%w: the evidence is not the one the verdict names", ErrVerdict)
	}
	e, err := UnmarshalEvidence(b)
	if err != nil {
		return nil, err
	}
	if e.Kind != EvidenceReexec || e.Finding.Step != v.Step || e.Model != v.Model ||
		uint64(len(e.Receipts)) != v.Step+1 || len(e.Inputs) != len(e.Receipts) || v.Step >= uint64(len(rs)) {
		return nil, fmt.Errorf("%w: the evidence does not match the verdict", ErrVerdict)
	}
	for i, r := range e.Receipts {
		if r.Hash() != rs[i].Hash() {
			return nil, fmt.Errorf("%w: the evidence's receipt of step %d is not the node's", ErrVerdict, i)
		}
	}
	return e, nil
}

// Describe explains the verdict in a sentence.
func (v *Verdict) Describe() string {
	where := ""
	if v.Platform != "" {
		where = " on " + v.Platform
	}
	switch v.Outcome {
	case VerdictMatch:
		return fmt.Sprintf("all %d steps re-executed to the node's outputs and trace roots%s", v.Steps, where)
	case VerdictOutput:
		s := fmt.Sprintf("step %d's output differs from the recomputation%s", v.Step, where)
		if v.RelDev > 0 {
			s += fmt.Sprintf(" (relative L2 distance %.3g)", v.RelDev)
		}
		return s
	}
	return fmt.Sprintf("step %d's output matches but its trace root differs%s", v.Step, where)
}
