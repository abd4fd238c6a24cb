package proof_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/quant"
)

// Every decoder of outside bytes is fuzzed: it never panics, every
// failure wraps ErrMalformed, and whatever decodes re-encodes to the same
// bytes (the encodings are canonical).

func sampleReceipt(step uint64) *proof.Receipt {
	r := &proof.Receipt{DType: proof.DTypeF32, Session: sha256.Sum256([]byte("s")), Step: step, Start: int(step), N: 1,
		Model: sha256.Sum256([]byte("m")), First: 2, Last: 4, HIn: sha256.Sum256([]byte("i")), HOut: sha256.Sum256([]byte("o")),
		TraceRoot: sha256.Sum256([]byte("t"))}
	r.Sign(ed25519.NewKeyFromSeed(make([]byte, 32)))
	return r
}

func damaged(b []byte) [][]byte {
	out := [][]byte{b}
	if len(b) > 2 {
		out = append(out, b[:len(b)/2], b[:len(b)-1], append(append([]byte(nil), b...), 0))
		f := append([]byte(nil), b...)
		f[len(f)/3] ^= 0x41
		out = append(out, f)
	}
	return out
}

func checkMalformed(t *testing.T, err error) {
	if err != nil && !errors.Is(err, proof.ErrMalformed) {
		t.Fatalf("error does not wrap ErrMalformed: %v", err)
	}
}

func FuzzReceipt(f *testing.F) {
	for _, b := range damaged(sampleReceipt(3).Marshal()) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := proof.UnmarshalReceipt(b)
		checkMalformed(t, err)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatal("receipt does not re-encode to its bytes")
		}
		_ = r.Verify()
	})
}

// sampleOpenings are openings of a small synthetic model's trace.
func sampleOpenings(t testing.TB) (*fixture, []*proof.CellOpening, []proof.CellRef) {
	fx := synthetic(t, "llama", quant.Q8_0)
	calls := runTraced(t, fx, model.Range{First: 0, Last: 2}, []int{1, 2, 3}, 0)
	tc, err := proof.CommitTrace(calls[0].trace)
	if err != nil {
		t.Fatal(err)
	}
	refs := []proof.CellRef{{Step: 0, Layer: 1, Pos: 2, Mask: proof.MaskAll}, {Step: 0, Layer: 0, Pos: 1, Mask: proof.MaskKV}}
	var ops []*proof.CellOpening
	for _, ref := range refs {
		c, _ := calls[0].trace.Cell(ref.Layer, ref.Pos)
		o, err := proof.Open(tc, 0, ref, proof.CellVectors(c))
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, o)
	}
	return fx, ops, refs
}

func FuzzOpenings(f *testing.F) {
	_, ops, _ := sampleOpenings(f)
	for _, b := range damaged(proof.MarshalOpenings(ops)) {
		f.Add(b)
	}
	f.Add(proof.MarshalOpenings(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := proof.UnmarshalOpenings(b)
		checkMalformed(t, err)
		if err == nil && !bytes.Equal(proof.MarshalOpenings(ops), b) {
			t.Fatal("openings do not re-encode to their bytes")
		}
	})
}

func FuzzRequest(f *testing.F) {
	_, _, refs := sampleOpenings(f)
	for _, b := range damaged(proof.MarshalRequest(refs)) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := proof.UnmarshalRequest(b)
		checkMalformed(t, err)
		if err == nil && !bytes.Equal(proof.MarshalRequest(refs), b) {
			t.Fatal("request does not re-encode to its bytes")
		}
	})
}

func sampleCertificate() *proof.Certificate {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	c := &proof.Certificate{Model: sampleReceipt(0).Model, PromptHash: proof.HashText("p"), OutputHash: proof.HashText("o"),
		PromptTokens: 3, OutputTokens: 2, Hops: []proof.CertHop{
			{Local: true, First: 0, Last: 2},
			{Peer: "12D3KooW", Key: key.Public().(ed25519.PublicKey), First: 2, Last: 4,
				Receipts: []*proof.Receipt{sampleReceipt(0)}, Audit: proof.HopAudit{Receipts: 1}},
		}}
	c.Sign(key)
	return c
}

func FuzzCertificate(f *testing.F) {
	for _, b := range damaged(sampleCertificate().Marshal()) {
		f.Add(b)
	}
	// Version 2: a hop with a validator's verdict.
	c := sampleCertificate()
	c.Hops[1].Verdict = sampleVerdict()
	c.Sign(ed25519.NewKeyFromSeed(make([]byte, 32)))
	for _, b := range damaged(c.Marshal()) {
		f.Add(b)
	}
	// Version 3: a hop retired by failover.
	for _, b := range damaged(failedOver().Marshal()) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := proof.UnmarshalCertificate(b)
		checkMalformed(t, err)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Marshal(), b) {
			t.Fatal("certificate does not re-encode to its bytes")
		}
		_ = proof.VerifyCertificate(c)
	})
}

func sampleEvidence(t testing.TB) []byte {
	_, ops, _ := sampleOpenings(t)
	e := &proof.Evidence{Kind: proof.EvidenceCell, Model: sampleReceipt(0).Model,
		Finding:  proof.Finding{Equation: proof.EqDown, Layer: 1, Pos: 2, Value: 0.5, Limit: 1e-5, Detail: "x"},
		Receipts: []*proof.Receipt{sampleReceipt(0)}, Openings: ops,
		Rows:   []*proof.RowOpening{{Output: true, Pos: 2, Row: []float32{1, 2}, Path: []proof.Hash{{1}}}},
		Inputs: [][]float32{{1, 2, 3}}}
	return e.Marshal()
}

func FuzzEvidence(f *testing.F) {
	for _, b := range damaged(sampleEvidence(f)) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := proof.UnmarshalEvidence(b)
		if err != nil {
			if !errors.Is(err, proof.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.Equal(e.Marshal(), b) {
			t.Fatal("evidence does not re-encode to its bytes")
		}
	})
}

// FuzzVK fuzzes key files. The checksum would stop almost every input at
// the door, so the fuzzed bytes are the body and the test appends a valid
// checksum (a first byte of 0xff leaves it off, to test that path too).
func FuzzVK(f *testing.F) {
	fx := synthetic(f, "llama", quant.Q4_1)
	full := fx.vk.Marshal()
	body := full[:len(full)-32]
	for _, b := range damaged(body) {
		f.Add(b)
	}
	f.Add(append([]byte{0xff}, full...))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := b
		if len(b) > 0 && b[0] == 0xff {
			in = b[1:]
		} else {
			sum := sha256.Sum256(b)
			in = append(append([]byte(nil), b...), sum[:]...)
		}
		vk, err := proof.UnmarshalVK(in)
		checkMalformed(t, err)
		if err == nil && !bytes.Equal(vk.Marshal(), in) {
			t.Fatal("key does not re-encode to its bytes")
		}
	})
}

func sampleVerdict() *proof.Verdict {
	r := sampleReceipt(0)
	v := &proof.Verdict{Node: r.Key, Model: r.Model, Session: r.Session, First: r.First, Last: r.Last, Calls: 2,
		Receipts: sha256.Sum256([]byte("r")), Steps: 1, Outcome: proof.VerdictOutput, Step: 0, RelDev: 0.01,
		EvidenceHash: sha256.Sum256([]byte("e")), Platform: "amd64/avx2"}
	v.Sign(ed25519.NewKeyFromSeed(make([]byte, 32)))
	return v
}

func FuzzVerdict(f *testing.F) {
	for _, b := range damaged(sampleVerdict().Marshal()) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := proof.UnmarshalVerdict(b)
		checkMalformed(t, err)
		if err != nil {
			return
		}
		if !bytes.Equal(v.Marshal(), b) {
			t.Fatal("verdict does not re-encode to its bytes")
		}
		_ = v.Verify()
		_ = v.Describe()
	})
}

func FuzzReexecJob(f *testing.F) {
	job := &proof.ReexecJob{Steps: []proof.ReexecStep{
		{Receipt: sampleReceipt(0), Input: []float32{1, 2}, Output: []float32{3, 4}},
		{Receipt: sampleReceipt(1), Input: []float32{5, 6}},
	}}
	for _, b := range damaged(job.Marshal()) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := proof.UnmarshalReexecJob(b)
		checkMalformed(t, err)
		if err != nil {
			return
		}
		if !bytes.Equal(j.Marshal(), b) {
			t.Fatal("job does not re-encode to its bytes")
		}
	})
}
