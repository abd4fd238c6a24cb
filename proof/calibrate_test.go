package proof_test

import (
	"math"
	"os"
	"slices"
	"testing"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/quant"
)

// calibrate checks every cell of honest runs and returns, per equation,
// the residuals seen, and the largest ratio of an honest matrix product's
// deviation to the evidence bound (checked on every 7th cell).
func calibrate(t testing.TB, fx *fixture, r model.Range, prompt, decode int) ([proof.NumEqs][]float64, float64) {
	t.Helper()
	toks := make([]int, prompt)
	for i := range toks {
		toks[i] = 1 + (i*97+13)%(fx.cfg.Vocab-1)
	}
	calls := runTraced(t, fx, r, toks, decode)
	var res [proof.NumEqs][]float64
	w, err := proof.NewWeights(fx.file, fx.commit, testPool)
	if err != nil {
		t.Fatal(err)
	}
	var bound float64
	k := 0
	for ci, cl := range calls {
		for layer := r.First; layer < r.Last; layer++ {
			for pos := cl.start; pos < cl.start+cl.n; pos++ {
				d := cellData(t, fx, r, calls, ci, layer, pos)
				got, fail, err := proof.CheckCell(fx.vk, proof.DefaultTolerances, d)
				if err != nil {
					t.Fatal(err)
				}
				if fail != nil {
					t.Fatalf("honest cell fails: %v", fail)
				}
				for e, v := range got {
					if v >= 0 {
						res[e] = append(res[e], v)
					}
				}
				if k++; k%7 == 0 {
					wres, wfail, err := proof.CheckCellWeights(w, proof.DefaultTolerances, d)
					if err != nil || wfail != nil {
						t.Fatalf("honest cell fails the evidence check: %v %v", err, wfail)
					}
					for _, e := range []int{proof.EqQ, proof.EqK, proof.EqV, proof.EqO, proof.EqGate, proof.EqUp, proof.EqDown} {
						bound = max(bound, wres[e])
					}
				}
			}
		}
	}
	return res, bound
}

// TestCalibration: honest residuals stay far below the tolerances on every
// weight type (the full figures: TESSERA_PROOF_FIGURES=1).
func TestCalibration(t *testing.T) {
	type run struct {
		name           string
		fx             func() *fixture
		r              model.Range
		prompt, decode int
	}
	runs := []run{
		{"kjv q8_0", func() *fixture { return kjv(t, "kjv-tiny-q8_0.gguf") }, model.Range{First: 0, Last: 6}, 16, 8},
	}
	for _, typ := range []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1, quant.Q8_0, quant.Q4_K, quant.Q5_K, quant.Q6_K} {
		typ := typ
		runs = append(runs, run{"synth " + typ.String(), func() *fixture { return synthetic(t, "llama", typ) }, model.Range{First: 0, Last: 3}, 6, 2})
	}
	full := os.Getenv("TESSERA_PROOF_FIGURES") != ""
	if full {
		runs[0].prompt, runs[0].decode = 64, 128
		runs = append(runs, run{"kjv f32", func() *fixture { return kjv(t, "kjv-tiny-f32.gguf") }, model.Range{First: 0, Last: 6}, 64, 64})
		runs = append(runs, run{"synth qwen2 q4_k", func() *fixture { return synthetic(t, "qwen2", quant.Q4_K) }, model.Range{First: 0, Last: 3}, 32, 24})
		runs = append(runs, run{"1B-shape q8_0", func() *fixture { return bigFixture(t) }, model.Range{First: 0, Last: 3}, 24, 8})
		for i := 1; i < len(runs); i++ {
			if runs[i].prompt == 6 {
				runs[i].prompt, runs[i].decode = 24, 24
			}
		}
	}
	var worst [proof.NumEqs]float64
	var all [proof.NumEqs][]float64
	var worstBound float64
	for _, rn := range runs {
		res, bound := calibrate(t, rn.fx(), rn.r, rn.prompt, rn.decode)
		worstBound = max(worstBound, bound)
		var w [proof.NumEqs]float64
		n := 0
		for e := range res {
			for _, v := range res[e] {
				w[e] = max(w[e], v)
			}
			n = max(n, len(res[e]))
			worst[e] = max(worst[e], w[e])
			all[e] = append(all[e], res[e]...)
		}
		t.Logf("%-18s %5d cells: max q %.2g k %.2g v %.2g o %.2g gate %.2g up %.2g down %.2g; x1 %.2g x2 %.2g att %.2g residual %.2g",
			rn.name, n, w[proof.EqQ], w[proof.EqK], w[proof.EqV], w[proof.EqO], w[proof.EqGate], w[proof.EqUp], w[proof.EqDown],
			w[proof.EqX1], w[proof.EqX2], w[proof.EqAttention], w[proof.EqResidual])
	}
	var fr []float64
	for _, e := range []int{proof.EqQ, proof.EqK, proof.EqV, proof.EqO, proof.EqGate, proof.EqUp, proof.EqDown} {
		fr = append(fr, all[e]...)
	}
	slices.Sort(fr)
	pct := func(p float64) float64 { return fr[int(math.Min(float64(len(fr)-1), p*float64(len(fr))))] }
	t.Logf("Freivalds residuals over %d products: median %.2g, 99th %.2g, 99.99th %.2g, max %.2g; tolerance %.2g",
		len(fr), pct(0.5), pct(0.99), pct(0.9999), fr[len(fr)-1], proof.DefaultTolerances.Freivalds)
	t.Logf("evidence check of honest products: largest deviation / worst-case rounding bound %.3g (fails above 1)", worstBound)
	if worstBound > 0.1 {
		t.Errorf("an honest product reaches %.3g of the evidence bound", worstBound)
	}
	for _, e := range []int{proof.EqQ, proof.EqK, proof.EqV, proof.EqO, proof.EqGate, proof.EqUp, proof.EqDown} {
		if worst[e]*10 > proof.DefaultTolerances.Freivalds {
			t.Errorf("%s: honest residual %.3g is within a factor 10 of the tolerance", proof.EqName(e), worst[e])
		}
	}
	for _, e := range []int{proof.EqX1, proof.EqX2, proof.EqAttention, proof.EqResidual, proof.EqInput} {
		if worst[e] != 0 {
			t.Errorf("%s: honest recomputation differs by %.3g (expected bit-exact on the node's architecture)", proof.EqName(e), worst[e])
		}
	}
}
