package proof_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/tessera-net/tessera/proof"
)

// hopReceipts are a node's receipts for calls calls of one session over
// layers [first, last): call k takes hidden state h(first, k) and gives
// h(last, k), so consecutive hops chain.
func hopReceipts(seed byte, session string, first, last, calls int) (ed25519.PublicKey, []*proof.Receipt) {
	key := ed25519.NewKeyFromSeed(append(make([]byte, 31), seed))
	h := func(layer, call int) proof.Hash { return sha256.Sum256([]byte(fmt.Sprint(layer, "/", call))) }
	var rs []*proof.Receipt
	var prev proof.Hash
	for k := range calls {
		r := &proof.Receipt{DType: proof.DTypeF32, Session: sha256.Sum256([]byte(session)), Step: uint64(k), Start: k, N: 1,
			Model: sha256.Sum256([]byte("m")), First: first, Last: last, HIn: h(first, k), HOut: h(last, k),
			TraceRoot: sha256.Sum256([]byte("t")), Prev: prev}
		r.Sign(key)
		prev = r.Hash()
		rs = append(rs, r)
	}
	return key.Public().(ed25519.PublicKey), rs
}

func nodeHop(seed byte, session string, first, last, calls int) proof.CertHop {
	key, rs := hopReceipts(seed, session, first, last, calls)
	return proof.CertHop{Peer: fmt.Sprint("node", seed), Key: key, First: first, Last: last, Receipts: rs,
		Audit: proof.HopAudit{Receipts: len(rs)}}
}

// failedOver is a generation of 6 calls over layers 0:6 whose node for
// 2:4 died after 4 calls and was replaced by two nodes (2:3 and 3:4) that
// replayed them.
func failedOver() *proof.Certificate {
	c := &proof.Certificate{Model: sha256.Sum256([]byte("m")), PromptTokens: 3, OutputTokens: 3,
		Hops: []proof.CertHop{
			{Local: true, First: 0, Last: 1},
			nodeHop(1, "a", 1, 2, 6),
			nodeHop(2, "b", 2, 3, 6),
			nodeHop(3, "c", 3, 4, 6),
			nodeHop(4, "d", 4, 6, 6),
		},
		Retired: []proof.CertHop{nodeHop(5, "e", 2, 4, 4)},
	}
	c.Sign(ed25519.NewKeyFromSeed(make([]byte, 32)))
	return c
}

func TestCertificateRetiredHops(t *testing.T) {
	good := failedOver()
	back, err := proof.UnmarshalCertificate(good.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyCertificate(back); err != nil || !back.Passed || len(back.Retired) != 1 {
		t.Fatalf("a certificate with a retired hop: %v, passed %v, %d retired", err, back.Passed, len(back.Retired))
	}
	if proof.ReceiptsRoot(good.Hops) == good.ReceiptsRoot {
		t.Fatal("the receipts root leaves out the retired hop's receipts")
	}

	auditor := ed25519.NewKeyFromSeed(make([]byte, 32))
	bad := map[string]func(c *proof.Certificate){
		"retired layers off the hop boundaries": func(c *proof.Certificate) { c.Retired[0] = nodeHop(5, "e", 2, 5, 4) },
		"retired hop with more calls than its replacement": func(c *proof.Certificate) {
			c.Retired[0] = nodeHop(5, "e", 2, 4, 7)
		},
		"retired hop fed other inputs": func(c *proof.Certificate) {
			h := nodeHop(5, "e", 2, 4, 4)
			r := h.Receipts[0]
			r.HIn[0] ^= 1
			r.Sign(ed25519.NewKeyFromSeed(append(make([]byte, 31), 5)))
			_, rest := hopReceipts(5, "e", 2, 4, 4)
			h.Receipts = append([]*proof.Receipt{r}, rest[1:]...)
			c.Retired[0] = h
		},
		"retired hop's receipts out of order": func(c *proof.Certificate) {
			rs := c.Retired[0].Receipts
			rs[1], rs[2] = rs[2], rs[1]
		},
		"local retired hop": func(c *proof.Certificate) { c.Retired[0] = proof.CertHop{Local: true, First: 0, Last: 1} },
		"retired receipt of another model": func(c *proof.Certificate) {
			c.Model[0] ^= 1
			for i := range c.Hops {
				if !c.Hops[i].Local {
					c.Hops[i].Receipts = nil
					c.Hops[i].Audit.Receipts = 0
				}
			}
		},
	}
	for name, edit := range bad {
		c := failedOver()
		edit(c)
		c.Sign(auditor)
		if err := proof.VerifyCertificate(c); !errors.Is(err, proof.ErrCertificate) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A retired hop whose audit failed is authentic but fails the whole
	// certificate: its outputs fed the answer.
	c := failedOver()
	c.Retired[0].Audit.Failed = 1
	c.Sign(auditor)
	if err := proof.VerifyCertificate(c); err != nil || c.Passed {
		t.Fatalf("a retired hop's failed audit: %v, passed %v", err, c.Passed)
	}
	// Dropping the retired hop after signing breaks the signature.
	c = failedOver()
	c.Retired = nil
	if err := proof.VerifyCertificate(c); !errors.Is(err, proof.ErrCertificate) {
		t.Fatalf("retired hop removed: %v", err)
	}
}
