package proof

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
)

// ReceiptChecker performs the client's L0 checks on the receipts of one
// hop's session, in the order they arrive: signature, the node's announced
// key, session, model, layer range, dtype, step order, the previous
// receipt's hash, the positions of the call, and H(in) and H(out) against
// what the client sent and received. It keeps the accepted receipts.
type ReceiptChecker struct {
	Key     ed25519.PublicKey // the key the node announced (peer id / Info)
	Session Hash
	Model   Hash
	First   int
	Last    int
	DType   uint8

	next     uint64
	prev     Hash
	receipts []*Receipt
	verifier keyVerifier
}

// Check accepts r as the answer to the next forward call, which covered
// positions [start, start+n) with inputs hashing to in and outputs
// hashing to out (HiddenRoot of what the client sent and decoded).
func (c *ReceiptChecker) Check(r *Receipt, start, n int, in, out Hash) error {
	if err := c.expect(r, start, n, in, out); err != nil {
		return err
	}
	if err := c.VerifySignature(r); err != nil {
		return err
	}
	c.accept(r)
	return nil
}

// VerifySignature verifies r's signature under the hop's key, decompressed
// once for all the hop's receipts: what CheckUnsigned leaves to its caller.
func (c *ReceiptChecker) VerifySignature(r *Receipt) error {
	return r.verifyWith(c.verifier.verify)
}

// CheckUnsigned is Check without the signature's verification, which the
// caller does with VerifySignature (on another goroutine, say, as the Ed25519
// verification costs most of the check) and must finish before trusting
// anything r says: until then, r is accepted only as the next receipt of
// the sequence.
func (c *ReceiptChecker) CheckUnsigned(r *Receipt, start, n int, in, out Hash) error {
	if err := c.expect(r, start, n, in, out); err != nil {
		return err
	}
	c.accept(r)
	return nil
}

// expect checks everything of r but its signature.
func (c *ReceiptChecker) expect(r *Receipt, start, n int, in, out Hash) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadReceipt, r, fmt.Sprintf(format, args...))
	}
	if len(c.Key) != ed25519.PublicKeySize {
		return bad("the node announced no key")
	}
	if !bytes.Equal(r.Key, c.Key) {
		return bad("signed by key %x, the node announced %x", []byte(r.Key), []byte(c.Key))
	}
	switch {
	case r.Session != c.Session:
		return bad("belongs to another session")
	case r.Model != c.Model:
		return bad("names another model")
	case r.First != c.First || r.Last != c.Last:
		return bad("covers layers %d:%d, the hop %d:%d", r.First, r.Last, c.First, c.Last)
	case r.DType != c.DType:
		return bad("dtype %d, the session uses %d", r.DType, c.DType)
	case r.Step != c.next:
		return bad("step %d, expected step %d (replayed or out of order)", r.Step, c.next)
	case r.Prev != c.prev:
		return bad("does not chain to the previous receipt")
	case r.Start != start || r.N != n:
		return bad("positions %d+%d, the call sent %d+%d", r.Start, r.N, start, n)
	case r.HIn != in:
		return bad("H(in) does not match the hidden states sent")
	case r.HOut != out:
		return bad("H(out) does not match the hidden states received")
	}
	return nil
}

func (c *ReceiptChecker) accept(r *Receipt) {
	c.next++
	c.prev = r.Hash()
	c.receipts = append(c.receipts, r)
}

// Receipts returns the accepted receipts in order.
func (c *ReceiptChecker) Receipts() []*Receipt { return c.receipts }

// Last returns the most recently accepted receipt, or nil.
func (c *ReceiptChecker) LastReceipt() *Receipt {
	if len(c.receipts) == 0 {
		return nil
	}
	return c.receipts[len(c.receipts)-1]
}

// CheckSequence checks a hop's receipts offline: each signed by key, in
// one session, steps 0, 1, … in order, each chaining to the previous one.
func CheckSequence(key ed25519.PublicKey, rs []*Receipt) error {
	var prev Hash
	for i, r := range rs {
		if !bytes.Equal(r.Key, key) {
			return fmt.Errorf("%w: %s is signed by another key", ErrBadReceipt, r)
		}
		if err := r.Verify(); err != nil {
			return err
		}
		if i > 0 && (r.Session != rs[0].Session || r.Model != rs[0].Model || r.First != rs[0].First ||
			r.Last != rs[0].Last || r.DType != rs[0].DType) {
			return fmt.Errorf("%w: %s does not belong to the session of step 0", ErrBadReceipt, r)
		}
		if r.Step != uint64(i) {
			return fmt.Errorf("%w: %s is at place %d", ErrBadReceipt, r, i)
		}
		if r.Prev != prev {
			return fmt.Errorf("%w: %s does not chain to the previous receipt", ErrBadReceipt, r)
		}
		prev = r.Hash()
	}
	return nil
}
