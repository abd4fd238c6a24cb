package proof_test

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
)

// perturbed returns a copy of d whose Down (and so the layer's output) is
// moved by delta scaled to relative L2 norm eps of the layer's output.
func perturbed(d *proof.CellData, dir []float64, eps float64) *proof.CellData {
	c := *d.Cell
	h, o, down := c.Vecs[proof.VecH], c.Vecs[proof.VecO], append([]float32(nil), c.Vecs[proof.VecDown]...)
	var on, dn float64
	for i := range down {
		v := float64((h[i] + o[i]) + down[i])
		on += v * v
		dn += dir[i] * dir[i]
	}
	scale := eps * math.Sqrt(on/dn)
	out := make([]float32, len(down))
	for i := range down {
		down[i] += float32(dir[i] * scale)
		out[i] = (h[i] + o[i]) + down[i]
	}
	c.Vecs[proof.VecDown] = down
	e := *d
	e.Cell = &c
	e.NextH, e.OutRow = nil, out
	return &e
}

// detection measures, for each eps, the fraction of trials in which a
// consistent perturbation of a last-layer cell's Down is caught when the
// cell is audited: keys × dirs trials (fresh secret r per key), of
// Gaussian directions, or of single-element ones with sparse.
func detection(t *testing.T, keys, dirs int, eps []float64, sparse bool) (flagged, provable []float64) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	r := model.Range{First: 4, Last: 6}
	calls := runTraced(t, fx, r, []int{1, 40, 77, 120, 5, 9}, 4)
	var cells []*proof.CellData
	for ci, cl := range calls {
		for p := cl.start; p < cl.start+cl.n; p++ {
			cells = append(cells, cellData(t, fx, r, calls, ci, 5, p))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	caught := make([]int, len(eps))
	proven := make([]int, len(eps))
	w, err := proof.NewWeights(fx.file, fx.commit, testPool)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < keys; k++ {
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], uint64(k))
		seed = sha256.Sum256(seed[:])
		vk, err := proof.GenerateVK(fx.file, fx.commit, model.Range{First: 5, Last: 6}, seed, proof.VKOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < dirs; j++ {
			d := cells[rng.IntN(len(cells))]
			dir := make([]float64, fx.cfg.Dim)
			if sparse {
				dir[rng.IntN(len(dir))] = 1 - 2*float64(rng.IntN(2))
			} else {
				for i := range dir {
					dir[i] = rng.NormFloat64()
				}
			}
			for e, x := range eps {
				_, f, err := proof.CheckCell(vk, proof.DefaultTolerances, perturbed(d, dir, x))
				if err != nil {
					t.Fatal(err)
				}
				if f != nil {
					caught[e]++
					if _, g, err := proof.CheckCellWeights(w, proof.DefaultTolerances, perturbed(d, dir, x)); err == nil && g != nil {
						proven[e]++
					}
				}
			}
		}
	}
	flagged, provable = make([]float64, len(eps)), make([]float64, len(eps))
	for e := range eps {
		flagged[e] = float64(caught[e]) / float64(keys*dirs)
		provable[e] = float64(proven[e]) / float64(keys*dirs)
	}
	return flagged, provable
}

// TestPerturbationDetected: a perturbation of 1e-3 of one layer's output,
// recorded consistently in the trace, is caught on every audit, with
// evidence the weights confirm.
func TestPerturbationDetected(t *testing.T) {
	got, proven := detection(t, 3, 60, []float64{1e-3}, false)
	if got[0] != 1 || proven[0] != 1 {
		t.Fatalf("caught %.3f (provably %.3f) of perturbations of relative size 1e-3", got[0], proven[0])
	}
}

// TestFiguresSensitivity sweeps the perturbation size
// (TESSERA_PROOF_FIGURES=1).
func TestFiguresSensitivity(t *testing.T) {
	figures(t)
	eps := []float64{1e-6, 3e-6, 1e-5, 1.5e-5, 2e-5, 3e-5, 5e-5, 1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 1e-3}
	for _, sparse := range []bool{false, true} {
		got, proven := detection(t, 40, 250, eps, sparse)
		for i, e := range eps {
			t.Logf("sparse=%v relative L2 %.0e of the layer output: caught %.4f, provable %.4f of %d", sparse, e, got[i], proven[i], 40*250)
		}
	}
}
