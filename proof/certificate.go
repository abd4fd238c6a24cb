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
	ReceiptsRoot Hash // Merkle root over every receipt's hash, hop by hop
	Passed       bool // every receipt checked and every audit passed
	Auditor      ed25519.PublicKey
	Sig          []byte
}

// ReceiptsRoot is the Merkle root over the hashes of the hops' receipts,
// in hop order and step order.
func ReceiptsRoot(hops []CertHop) Hash {
	var leaves []Hash
	for _, h := range hops {
		for _, r := range h.Receipts {
			leaves = append(leaves, r.Hash())
		}
	}
	return merkle.Root(leaves)
}

// A certificate is encoded as version 1 unless a hop carries a validator's
// verdict, which only version 2 can hold; each certificate has one
// encoding.
const (
	certMagic    = "tessera-certificate\x00\x00\x00\x00\x01"
	certMagicV2  = "tessera-certificate\x00\x00\x00\x00\x02"
	certDomain   = "tessera/certificate/v1\n"
	certDomainV2 = "tessera/certificate/v2\n"
)

// version is the encoding the certificate needs.
func (c *Certificate) version() int {
	for _, h := range c.Hops {
		if h.Verdict != nil {
			return 2
		}
	}
	return 1
}

func (c *Certificate) appendBody(w *enc) {
	v2 := c.version() == 2
	w.hash(c.Model)
	w.hash(c.PromptHash)
	w.hash(c.OutputHash)
	w.u32(uint32(c.PromptTokens))
	w.u32(uint32(c.OutputTokens))
	w.bool(c.Audited)
	w.hash(c.VKID)
	w.u32(uint32(len(c.Hops)))
	for _, h := range c.Hops {
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
		if v2 {
			w.bool(h.Verdict != nil)
			if h.Verdict != nil {
				w.bytes(h.Verdict.Marshal())
			}
		}
	}
	w.hash(c.ReceiptsRoot)
	w.bool(c.Passed)
	w.bytes(c.Auditor)
}

// SignedMessage is what the auditor signs: "tessera/certificate/v1\n"
// (v2 when a hop carries a verdict) and the encoding without the
// signature.
func (c *Certificate) SignedMessage() []byte {
	domain := certDomain
	if c.version() == 2 {
		domain = certDomainV2
	}
	w := enc{b: []byte(domain)}
	c.appendBody(&w)
	return w.b
}

// Sign fills ReceiptsRoot, Passed, Auditor and Sig.
func (c *Certificate) Sign(key ed25519.PrivateKey) {
	c.ReceiptsRoot = ReceiptsRoot(c.Hops)
	c.Passed = c.outcome() == nil
	c.Auditor = key.Public().(ed25519.PublicKey)
	c.Sig = ed25519.Sign(key, c.SignedMessage())
}

// outcome is nil when every hop's receipts were checked and every audit
// passed.
func (c *Certificate) outcome() error {
	for i, h := range c.Hops {
		if h.Local {
			continue
		}
		if h.Audit.Receipts != len(h.Receipts) {
			return fmt.Errorf("hop %d: %d receipts checked of %d", i, h.Audit.Receipts, len(h.Receipts))
		}
		if !h.Audit.Passed() {
			return fmt.Errorf("hop %d (layers %d:%d): %d audits failed, %d openings refused, %d re-executions differed",
				i, h.First, h.Last, h.Audit.Failed, h.Audit.Refused, h.Audit.ReexecFailed)
		}
	}
	return nil
}

// Marshal encodes the certificate as a file.
func (c *Certificate) Marshal() []byte {
	w := enc{}
	if c.version() == 2 {
		w.raw([]byte(certMagicV2))
	} else {
		w.raw([]byte(certMagic))
	}
	c.appendBody(&w)
	w.bytes(c.Sig)
	return w.b
}

// UnmarshalCertificate decodes a certificate file. It checks the encoding,
// not the signatures (see VerifyCertificate).
func UnmarshalCertificate(b []byte) (*Certificate, error) {
	d := dec{b: b, what: "certificate"}
	v2 := len(b) >= len(certMagicV2) && string(b[:len(certMagicV2)]) == certMagicV2
	if v2 {
		d.magic(certMagicV2)
	} else {
		d.magic(certMagic)
	}
	c := &Certificate{Model: d.hash(), PromptHash: d.hash(), OutputHash: d.hash()}
	c.PromptTokens, c.OutputTokens = int(d.u32()), int(d.u32())
	c.Audited = d.bool()
	c.VKID = d.hash()
	n := d.count(layerLimit, 30)
	for i := 0; i < n && d.err == nil; i++ {
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
				break
			}
			h.Receipts = append(h.Receipts, r)
		}
		if v2 && d.bool() {
			vb := d.bytes(MaxString)
			if d.err == nil {
				vd, err := UnmarshalVerdict(vb)
				if err != nil {
					d.err = err
					break
				}
				h.Verdict = vd
			}
		}
		c.Hops = append(c.Hops, h)
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
	if v2 && c.version() != 2 {
		return nil, fmt.Errorf("%w: certificate: version 2 encoding without any verdict", ErrMalformed)
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
		if h.Local {
			if len(h.Receipts) != 0 || h.Key != nil || h.Verdict != nil {
				return bad("local hop %d carries receipts, a key or a verdict", i)
			}
			continue
		}
		if len(h.Key) != ed25519.PublicKeySize {
			return bad("hop %d has no node key", i)
		}
		if err := CheckSequence(h.Key, h.Receipts); err != nil {
			return bad("hop %d: %v", i, err)
		}
		for _, r := range h.Receipts {
			if r.Model != c.Model || r.First != h.First || r.Last != h.Last {
				return bad("hop %d: %s names another model or layers", i, r)
			}
		}
		if v := h.Verdict; v != nil {
			if err := v.Verify(); err != nil {
				return bad("hop %d: %v", i, err)
			}
			if err := v.About(h.Key, h.Receipts); err != nil {
				return bad("hop %d: %v", i, err)
			}
			failed := 0
			if !v.Matched() {
				failed = 1
			}
			if h.Audit.ReexecSteps != v.Steps || h.Audit.ReexecFailed != failed {
				return bad("hop %d: %d steps re-executed and %d failed, the validator's verdict says %d and %d",
					i, h.Audit.ReexecSteps, h.Audit.ReexecFailed, v.Steps, failed)
			}
		}
		if i > 0 && !c.Hops[i-1].Local {
			p := c.Hops[i-1]
			if len(p.Receipts) != len(h.Receipts) {
				return bad("hops %d and %d have %d and %d receipts", i-1, i, len(p.Receipts), len(h.Receipts))
			}
			for k, r := range h.Receipts {
				q := p.Receipts[k]
				if q.Start != r.Start || q.N != r.N || q.HOut != r.HIn {
					return bad("call %d: hop %d's input is not hop %d's output", k, i, i-1)
				}
			}
		}
	}
	if got := ReceiptsRoot(c.Hops); got != c.ReceiptsRoot {
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

// HashText is the hash certificates use for prompts and outputs.
func HashText(s string) Hash { return sha256.Sum256([]byte(s)) }

// SameKey reports whether two public keys are equal.
func SameKey(a, b ed25519.PublicKey) bool { return bytes.Equal(a, b) }
