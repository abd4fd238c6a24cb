package proof_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
)

// reexecJob runs three calls (a prefill of 3, two decodes) through node
// and returns them as a job.
func reexecJob(t *testing.T, fx *fixture, node *simNode) *proof.ReexecJob {
	t.Helper()
	dim := fx.cfg.Dim
	toks := []int{1, 5, 9, 13, 17}
	job := &proof.ReexecJob{}
	for i, start := range []int{0, 3, 4} {
		n := 3
		if i > 0 {
			n = 1
		}
		h := make([]float32, n*dim)
		if err := fx.all.Embed(h, toks[start:start+n]); err != nil {
			t.Fatal(err)
		}
		in := append([]float32(nil), h...)
		rc := node.forward(start, h, n)
		job.Steps = append(job.Steps, proof.ReexecStep{Receipt: rc, Input: in, Output: h})
	}
	return job
}

// validatorWeights are kjv-tiny's weights and its layers r loaded from
// them, as a validator holds them.
func validatorWeights(t *testing.T, fx *fixture, r model.Range) (*proof.Weights, *model.Model) {
	t.Helper()
	w, err := proof.NewWeights(fx.file, fx.commit, testPool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	m, err := w.Model(r)
	if err != nil {
		t.Fatal(err)
	}
	return w, m
}

// TestVerdict: a validator's verdict on an honest and a dishonest node
// survives encoding, verifies, speaks of exactly the job's receipts, and
// carries the evidence it names; certificates hold it and check it.
func TestVerdict(t *testing.T) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	r := model.Range{First: 0, Last: 2}
	w, m := validatorWeights(t, fx, r)
	validator := ed25519.NewKeyFromSeed(sha256.New().Sum(nil))
	run := func(node *simNode) (*proof.ReexecJob, *proof.Verdict, []byte) {
		job := reexecJob(t, fx, node)
		back, err := proof.UnmarshalReexecJob(job.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		res, ev, err := proof.Reexecute(m, back.Steps)
		if err != nil {
			t.Fatal(err)
		}
		var evb []byte
		if ev != nil {
			evb = ev.Marshal()
		}
		v := proof.NewVerdict(back, res, evb)
		v.Platform = "test/generic"
		v.Sign(validator)
		got, err := proof.UnmarshalVerdict(v.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if err := got.Verify(); err != nil {
			t.Fatal(err)
		}
		if err := got.About(node.key.Public().(ed25519.PublicKey), job.Receipts()); err != nil {
			t.Fatal(err)
		}
		return job, got, evb
	}
	honest := newSimNode(t, fx, r, 6)
	job, v, _ := run(honest)
	if !v.Matched() || v.Steps != 3 || v.Calls != 3 || !strings.Contains(v.Describe(), "all 3 steps") {
		t.Fatalf("honest verdict: %+v", v)
	}
	nodeKey := honest.key.Public().(ed25519.PublicKey)
	if err := v.About(nodeKey, job.Receipts()[:2]); !errors.Is(err, proof.ErrVerdict) {
		t.Fatalf("verdict about a prefix: %v", err)
	}
	if err := v.About(validator.Public().(ed25519.PublicKey), job.Receipts()); !errors.Is(err, proof.ErrVerdict) {
		t.Fatalf("verdict about another node: %v", err)
	}
	edited := *v
	edited.Steps = 2
	if err := edited.Verify(); !errors.Is(err, proof.ErrVerdict) {
		t.Fatalf("inconsistent verdict: %v", err)
	}
	edited = *v
	edited.Platform = "elsewhere"
	if err := edited.Verify(); !errors.Is(err, proof.ErrVerdict) {
		t.Fatalf("edited verdict: %v", err)
	}

	dishonest := newSimNode(t, fx, r, 7)
	dishonest.tamper = func(step uint64, tr *model.Trace, out []float32) {
		if step == 1 {
			out[5] *= 1.001
		}
	}
	djob, dv, evb := run(dishonest)
	if dv.Matched() || dv.Outcome != proof.VerdictOutput || dv.Step != 1 || dv.Steps != 2 || dv.RelDev == 0 {
		t.Fatalf("dishonest verdict: %+v", dv)
	}
	ev, err := dv.OpenEvidence(evb, djob.Receipts())
	if err != nil {
		t.Fatal(err)
	}
	if f, err := proof.CheckEvidence(ev, w, proof.Tolerances{}); err != nil || f.Equation != proof.EqReexec {
		t.Fatalf("the verdict's evidence: %v %v", f, err)
	}
	if _, err := dv.OpenEvidence(append(evb, 0), djob.Receipts()); !errors.Is(err, proof.ErrVerdict) {
		t.Fatalf("other evidence: %v", err)
	}
	if _, err := dv.OpenEvidence(evb, job.Receipts()); !errors.Is(err, proof.ErrVerdict) {
		t.Fatalf("evidence about other receipts: %v", err)
	}

	// Certificates carry verdicts (encoding v2) and check them.
	auditor := ed25519.NewKeyFromSeed(make([]byte, 32))
	cert := func(v *proof.Verdict, rs []*proof.Receipt, key ed25519.PublicKey, steps, failed int) *proof.Certificate {
		c := &proof.Certificate{Model: fx.commit.Model, Hops: []proof.CertHop{
			{Peer: "node", Key: key, First: 0, Last: 2, Receipts: rs, Verdict: v,
				Audit: proof.HopAudit{Receipts: len(rs), ReexecSteps: steps, ReexecFailed: failed}},
			{Local: true, First: 2, Last: fx.cfg.Layers}}}
		c.Sign(auditor)
		back, err := proof.UnmarshalCertificate(c.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		return back
	}
	c := cert(v, job.Receipts(), nodeKey, 3, 0)
	if err := proof.VerifyCertificate(c); err != nil || !c.Passed || c.Hops[0].Verdict == nil {
		t.Fatalf("certificate with a verdict: %v passed %v", err, c.Passed)
	}
	c = cert(dv, djob.Receipts(), dishonest.key.Public().(ed25519.PublicKey), 2, 1)
	if err := proof.VerifyCertificate(c); err != nil || c.Passed {
		t.Fatalf("certificate with a failed verdict: %v passed %v", err, c.Passed)
	}
	for name, c := range map[string]*proof.Certificate{
		"counts contradict the verdict": cert(v, job.Receipts(), nodeKey, 2, 0),
		"failure hidden":                cert(dv, djob.Receipts(), dishonest.key.Public().(ed25519.PublicKey), 2, 0),
		"verdict about other receipts":  cert(dv, job.Receipts(), nodeKey, 2, 1),
	} {
		if err := proof.VerifyCertificate(c); !errors.Is(err, proof.ErrCertificate) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Without verdicts the encoding stays version 1.
	plain := cert(nil, job.Receipts(), nodeKey, 0, 0)
	if b := plain.Marshal(); b[len("tessera-certificate")+4] != 1 {
		t.Fatalf("certificate without verdicts is not version 1")
	}
}

// TestReexecuteRefusesForeignOutputs: outputs that do not hash to the
// receipts are refused before anything runs, so a verdict's relative
// distance is always measured on what the node signed.
func TestReexecuteRefusesForeignOutputs(t *testing.T) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	r := model.Range{First: 0, Last: 2}
	w, m := validatorWeights(t, fx, r)
	job := reexecJob(t, fx, newSimNode(t, fx, r, 8))
	job.Steps[1].Output[0] += 1
	if _, _, err := proof.Reexecute(m, job.Steps); err == nil || !strings.Contains(err.Error(), "H(out)") {
		t.Fatalf("foreign output: %v", err)
	}
	job.Steps[1].Output = nil // outputs are optional
	if res, _, err := proof.Reexecute(m, job.Steps); err != nil || !res.OK() {
		t.Fatalf("without outputs: %v %+v", err, res)
	}
	other, _ := w.Model(model.Range{First: 1, Last: 3})
	if _, _, err := proof.Reexecute(other, job.Steps); err == nil {
		t.Fatal("re-executed on other layers")
	}
}
