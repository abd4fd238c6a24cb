package proof

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/tessera-net/tessera/merkle"
)

// HopAudit summarises what the auditor checked of one hop.
type HopAudit struct {
	Receipts     int // receipts received (and checked: signature, key, chain)
	Audited      int // receipts with at least one cell audited
	Cells        int // cells checked in full
	KVOpenings   int // key/value openings checked for attention
	Failed       int // audits that found a failing equation
	Refused      int // openings the node did not give or that did not match
	ReexecSteps  int // steps re-executed by a validator
	ReexecFailed int // re-executions whose result differed
}

// Passed reports whether nothing failed.
func (h HopAudit) Passed() bool { return h.Failed == 0 && h.Refused == 0 && h.ReexecFailed == 0 }

// CertHop is one hop of the chain a generation ran through.
type CertHop struct {
	Local    bool              // computed by the client itself (no receipts)
	Peer     string            // the node's peer id ("" when local)
	Key      ed25519.PublicKey // the node's receipt key (nil when local)
	First    int               // layers [First, Last)
	Last     int
	Receipts []*Receipt // in step order
	Audit    HopAudit
	// Verdict is a validator's signed verdict on re-executing the hop's
	// receipts (nil when none was delegated). Audit.ReexecSteps and
	// ReexecFailed then state what it says.
	Verdict *Verdict
}

// Certificate is the auditor's signed statement about one generation
// (DESIGN section 3, step 5): which model, what prompt and output (by
// hash), which nodes computed which layers (with all their receipts, so
// the chain can be checked offline), and what the audit found. Audited
// false says plainly that no verification key was used: only the receipts
// and their chain were checked.
type Certificate struct {
	Model        Hash
	PromptHash   Hash // SHA-256 of the prompt text
	OutputHash   Hash // SHA-256 of the generated text
	PromptTokens int
	OutputTokens int
	Audited      bool
	VKID         Hash // the verification key's ID when Audited
	Hops         []CertHop
	// Retired are the hops failover replaced mid-generation, in the order
	// they were replaced: each covers layers that consecutive Hops cover
	// now, and its receipts are the first calls of the session (the
	// outputs it sent on were reproduced bit for bit by its replacement).
	Retired      []CertHop
	ReceiptsRoot Hash // Merkle root over every receipt's hash, hop by hop (Hops, then Retired)
	Passed       bool // every receipt checked and every audit passed
	Auditor      ed25519.PublicKey
	Sig          []byte
}

// AllHops returns the current hops, then the retired ones.
func (c *Certificate) AllHops() []CertHop {
	return append(c.Hops[:len(c.Hops):len(c.Hops)], c.Retired...)
}

// ReceiptsRoot is the Merkle root over the hashes of the hops' receipts,
// in hop order and step order (the retired hops' after the others').
func ReceiptsRoot(hops []CertHop, retired ...CertHop) Hash {
	var leaves []Hash
	for _, h := range append(hops[:len(hops):len(hops)], retired...) {
		for _, r := range h.Receipts {
			leaves = append(leaves, r.Hash())
		}
	}
	return merkle.Root(leaves)
}

// A certificate is encoded as version 1 unless a hop carries a validator's
// verdict, which version 2 and 3 can hold, or failover retired a hop, which
// only version 3 can hold; each certificate has one encoding.
const (
	certMagic    = "tessera-certificate\x00\x00\x00\x00\x01"
	certMagicV2  = "tessera-certificate\x00\x00\x00\x00\x02"
	certMagicV3  = "tessera-certificate\x00\x00\x00\x00\x03"
	certDomain   = "tessera/certificate/v1\n"
	certDomainV2 = "tessera/certificate/v2\n"
	certDomainV3 = "tessera/certificate/v3\n"
)

// certMagics and certDomains by version.
var (
	certMagics  = [...]string{1: certMagic, 2: certMagicV2, 3: certMagicV3}
	certDomains = [...]string{1: certDomain, 2: certDomainV2, 3: certDomainV3}
)

// version is the encoding the certificate needs.
func (c *Certificate) version() int {
	if len(c.Retired) > 0 {
		return 3
	}
	for _, h := range c.Hops {
		if h.Verdict != nil {
			return 2
		}
	}
	return 1
}

func (c *Certificate) appendBody(w *enc) {
	v := c.version()
	w.hash(c.Model)
	w.hash(c.PromptHash)
	w.hash(c.OutputHash)
	w.u32(uint32(c.PromptTokens))
	w.u32(uint32(c.OutputTokens))
	w.bool(c.Audited)
	w.hash(c.VKID)
	w.u32(uint32(len(c.Hops)))
	for _, h := range c.Hops {
		h.append(w, v >= 2)
	}
	if v >= 3 {
		w.u32(uint32(len(c.Retired)))
		for _, h := range c.Retired {
			h.append(w, true)
		}
	}
	w.hash(c.ReceiptsRoot)
	w.bool(c.Passed)
	w.bytes(c.Auditor)
}

// append encodes the hop; withVerdict adds the verdict flag (and verdict)
// of encodings 2 and 3.
func (h *CertHop) append(w *enc, withVerdict bool) {
	w.bool(h.Local)
	w.str(h.Peer)
	w.bytes(h.Key)
	w.u32(uint32(h.First))
	w.u32(uint32(h.Last))
	a := h.Audit
	for _, v := range []int{a.Receipts, a.Audited, a.Cells, a.KVOpenings, a.Failed, a.Refused, a.ReexecSteps, a.ReexecFailed} {
		w.u32(uint32(v))
	}
	w.u32(uint32(len(h.Receipts)))
	for _, r := range h.Receipts {
		w.raw(r.Marshal())
	}
	if withVerdict {
		w.bool(h.Verdict != nil)
		if h.Verdict != nil {
			w.bytes(h.Verdict.Marshal())
		}
	}
}

// decodeHop reads a hop appended by CertHop.append.
func decodeHop(d *dec, withVerdict bool) CertHop {
	h := CertHop{Local: d.bool(), Peer: d.str(MaxString)}
	if k := d.bytes(ed25519.PublicKeySize); len(k) > 0 {
		h.Key = ed25519.PublicKey(append([]byte(nil), k...))
	}
	h.First, h.Last = int(d.u32()), int(d.u32())
	a := &h.Audit
	for _, p := range []*int{&a.Receipts, &a.Audited, &a.Cells, &a.KVOpenings, &a.Failed, &a.Refused, &a.ReexecSteps, &a.ReexecFailed} {
		*p = int(d.u32())
	}
	m := d.count(MaxItems, ReceiptSize)
	for j := 0; j < m && d.err == nil; j++ {
		r, err := UnmarshalReceipt(d.take(ReceiptSize))
		if err != nil {
			if d.err == nil {
				d.err = err
			}
			return h
		}
		h.Receipts = append(h.Receipts, r)
	}
	if withVerdict && d.bool() {
		vb := d.bytes(MaxString)
		if d.err == nil {
			vd, err := UnmarshalVerdict(vb)
			if err != nil {
				d.err = err
				return h
			}
			h.Verdict = vd
		}
	}
	return h
}

// SignedMessage is what the auditor signs: "tessera/certificate/v1\n"
// (v2 when a hop carries a verdict, v3 when a hop was retired) and the
// encoding without the signature.
func (c *Certificate) SignedMessage() []byte {
	domain := certDomains[c.version()]
	w := enc{b: []byte(domain)}
	c.appendBody(&w)
	return w.b
}

// Sign fills ReceiptsRoot, Passed, Auditor and Sig.
func (c *Certificate) Sign(key ed25519.PrivateKey) {
	c.ReceiptsRoot = ReceiptsRoot(c.Hops, c.Retired...)
	c.Passed = c.outcome() == nil
	c.Auditor = key.Public().(ed25519.PublicKey)
	c.Sig = ed25519.Sign(key, c.SignedMessage())
}

// outcome is nil when every hop's receipts were checked and every audit
// passed, the retired hops' too: their outputs fed the final answer.
func (c *Certificate) outcome() error {
	for i, h := range c.AllHops() {
		if h.Local {
			continue
		}
		what := fmt.Sprintf("hop %d", i)
		if i >= len(c.Hops) {
			what = fmt.Sprintf("retired hop %d", i-len(c.Hops))
		}
		if h.Audit.Receipts != len(h.Receipts) {
			return fmt.Errorf("%s: %d receipts checked of %d", what, h.Audit.Receipts, len(h.Receipts))
		}
		if !h.Audit.Passed() {
			return fmt.Errorf("%s (layers %d:%d): %d audits failed, %d openings refused, %d re-executions differed",
				what, h.First, h.Last, h.Audit.Failed, h.Audit.Refused, h.Audit.ReexecFailed)
		}
	}
	return nil
}

// Marshal encodes the certificate as a file.
func (c *Certificate) Marshal() []byte {
	w := enc{}
	w.raw([]byte(certMagics[c.version()]))
	c.appendBody(&w)
	w.bytes(c.Sig)
	return w.b
}

// UnmarshalCertificate decodes a certificate file. It checks the encoding,
// not the signatures (see VerifyCertificate).
func UnmarshalCertificate(b []byte) (*Certificate, error) {
	d := dec{b: b, what: "certificate"}
	version := 1
	for v := 2; v < len(certMagics); v++ {
		if bytes.HasPrefix(b, []byte(certMagics[v])) {
			version = v
		}
	}
	d.magic(certMagics[version])
	c := &Certificate{Model: d.hash(), PromptHash: d.hash(), OutputHash: d.hash()}
	c.PromptTokens, c.OutputTokens = int(d.u32()), int(d.u32())
	c.Audited = d.bool()
	c.VKID = d.hash()
	n := d.count(layerLimit, 30)
	for i := 0; i < n && d.err == nil; i++ {
		c.Hops = append(c.Hops, decodeHop(&d, version >= 2))
	}
	if version >= 3 {
		n := d.count(MaxItems, 30)
		for i := 0; i < n && d.err == nil; i++ {
			c.Retired = append(c.Retired, decodeHop(&d, true))
		}
	}
	c.ReceiptsRoot = d.hash()
	c.Passed = d.bool()
	if k := d.bytes(ed25519.PublicKeySize); len(k) > 0 {
		c.Auditor = ed25519.PublicKey(append([]byte(nil), k...))
	}
	c.Sig = append([]byte(nil), d.bytes(ed25519.SignatureSize)...)
	d.done()
	if d.err != nil {
		return nil, d.err
	}
	if c.version() != version {
		return nil, fmt.Errorf("%w: certificate: version %d encoding of a version %d certificate", ErrMalformed, version, c.version())
	}
	return c, nil
}

// ErrCertificate is wrapped by VerifyCertificate's errors.
var ErrCertificate = errors.New("proof: certificate does not verify")

// VerifyCertificate checks a certificate offline: the auditor's signature;
// every receipt's signature under its hop's key, the hop's session chain
// from step 0, its model and layers; that the hops cover consecutive
// layers from 0; that each node's inputs are the previous node's outputs
// call by call (where no local hop lies between); the receipts root; and
// that the Passed flag matches the audit counts. A nil error means the
// certificate is authentic and internally consistent; whether it states
// an audit, and whether that audit passed, is in c.Audited and c.Passed.
func VerifyCertificate(c *Certificate) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCertificate, fmt.Sprintf(format, args...))
	}
	if len(c.Auditor) != ed25519.PublicKeySize || len(c.Sig) != ed25519.SignatureSize {
		return bad("the auditor's key or signature is missing")
	}
	if !ed25519.Verify(c.Auditor, c.SignedMessage(), c.Sig) {
		return bad("the auditor's signature does not verify")
	}
	if len(c.Hops) == 0 {
		return bad("no hops")
	}
	next := 0
	for i, h := range c.Hops {
		if h.First != next || h.Last <= h.First {
			return bad("hop %d covers layers %d:%d, expected to start at %d", i, h.First, h.Last, next)
		}
		next = h.Last
		if err := checkHop(c, h); err != nil {
			return bad("hop %d: %v", i, err)
		}
		if i > 0 && !c.Hops[i-1].Local && !h.Local {
			if err := chained(c.Hops[i-1].Receipts, h.Receipts, true); err != nil {
				return bad("hops %d and %d: %v", i-1, i, err)
			}
		}
	}
	for i, h := range c.Retired {
		if err := checkRetired(c, h); err != nil {
			return bad("retired hop %d: %v", i, err)
		}
	}
	if got := ReceiptsRoot(c.Hops, c.Retired...); got != c.ReceiptsRoot {
		return bad("the receipts root does not match the receipts")
	}
	if (c.outcome() == nil) != c.Passed {
		return bad("the Passed flag contradicts the audit counts")
	}
	if !c.Audited && c.VKID != (Hash{}) {
		return bad("an unaudited certificate names a verification key")
	}
	return nil
}

// checkHop checks one hop on its own: a local hop carries nothing; a
// node's receipts are signed by its key, chained from step 0, about the
// certificate's model and the hop's layers; a verdict is signed, about
// those receipts, and agrees with the hop's re-execution counts.
func checkHop(c *Certificate, h CertHop) error {
	if h.Local {
		if len(h.Receipts) != 0 || h.Key != nil || h.Verdict != nil {
			return errors.New("a local hop carries receipts, a key or a verdict")
		}
		return nil
	}
	if len(h.Key) != ed25519.PublicKeySize {
		return errors.New("no node key")
	}
	if err := CheckSequence(h.Key, h.Receipts); err != nil {
		return err
	}
	for _, r := range h.Receipts {
		if r.Model != c.Model || r.First != h.First || r.Last != h.Last {
			return fmt.Errorf("%s names another model or layers", r)
		}
	}
	if v := h.Verdict; v != nil {
		if err := v.Verify(); err != nil {
			return err
		}
		if err := v.About(h.Key, h.Receipts); err != nil {
			return err
		}
		failed := 0
		if !v.Matched() {
			failed = 1
		}
		if h.Audit.ReexecSteps != v.Steps || h.Audit.ReexecFailed != failed {
			return fmt.Errorf("%d steps re-executed and %d failed, the validator's verdict says %d and %d",
				h.Audit.ReexecSteps, h.Audit.ReexecFailed, v.Steps, failed)
		}
	}
	return nil
}

// chained checks that next's calls took prev's outputs as inputs, call by
// call; all says both hops made every call (else next may have made fewer,
// as a retired hop did, or prev fewer).
func chained(prev, next []*Receipt, all bool) error {
	if all && len(prev) != len(next) {
		return fmt.Errorf("%d and %d receipts", len(prev), len(next))
	}
	for k := range min(len(prev), len(next)) {
		p, r := prev[k], next[k]
		if p.Start != r.Start || p.N != r.N || p.HOut != r.HIn {
			return fmt.Errorf("call %d: the input is not the previous hop's output", k)
		}
	}
	return nil
}

// checkRetired checks a hop failover replaced: a node's hop (checkHop)
// whose layers are exactly those of consecutive current hops, whose calls
// are the session's first ones (no more than its neighbours made), taking
// the previous hop's outputs and giving the next hop its inputs.
func checkRetired(c *Certificate, h CertHop) error {
	if h.Local {
		return errors.New("a local hop cannot be retired")
	}
	if err := checkHop(c, h); err != nil {
		return err
	}
	from, to := -1, -1
	for i, cur := range c.Hops {
		if cur.First == h.First {
			from = i
		}
		if cur.Last == h.Last {
			to = i
		}
	}
	if from < 0 || to < from {
		return fmt.Errorf("layers %d:%d do not match the current hops' boundaries", h.First, h.Last)
	}
	for i := from; i <= to; i++ {
		if cur := c.Hops[i]; !cur.Local && len(h.Receipts) > len(cur.Receipts) {
			return fmt.Errorf("%d receipts, more than the %d of its replacement (hop %d)", len(h.Receipts), len(cur.Receipts), i)
		}
	}
	if from > 0 && !c.Hops[from-1].Local {
		if err := chained(c.Hops[from-1].Receipts, h.Receipts, false); err != nil {
			return fmt.Errorf("after hop %d: %w", from-1, err)
		}
	}
	if to+1 < len(c.Hops) && !c.Hops[to+1].Local {
		if err := chained(h.Receipts, c.Hops[to+1].Receipts, false); err != nil {
			return fmt.Errorf("before hop %d: %w", to+1, err)
		}
	}
	return nil
}

// HashText is the hash certificates use for prompts and outputs.
func HashText(s string) Hash { return sha256.Sum256([]byte(s)) }

// SameKey reports whether two public keys are equal.
func SameKey(a, b ed25519.PublicKey) bool { return bytes.Equal(a, b) }
