package proof_test

import (
	"testing"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/quant"
)

// cellData builds the check input of cell (layer, pos) from honest traces.
func cellData(t testing.TB, fx *fixture, r model.Range, calls []call, ci, layer, pos int) *proof.CellData {
	t.Helper()
	cl := calls[ci]
	tc, err := proof.CommitTrace(cl.trace)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cl.trace.Cell(layer, pos)
	if err != nil {
		t.Fatal(err)
	}
	op, err := proof.Open(tc, uint64(ci), proof.CellRef{Step: uint64(ci), Layer: layer, Pos: pos, Mask: proof.MaskAll}, proof.CellVectors(c))
	if err != nil {
		t.Fatal(err)
	}
	dim, kvd := fx.cfg.Dim, fx.cfg.KVDim()
	d := &proof.CellData{Step: uint64(ci), Layer: layer, Pos: pos, Cell: op, DType: proof.DTypeF32}
	if layer+1 < r.Last {
		nc, _ := cl.trace.Cell(layer+1, pos)
		d.NextH = nc.H
	} else {
		d.OutRow = cl.out[(pos-cl.start)*dim : (pos-cl.start+1)*dim]
	}
	if layer == r.First {
		d.InRow = cl.in[(pos-cl.start)*dim : (pos-cl.start+1)*dim]
	}
	for j := 0; j <= pos; j++ {
		for _, c2 := range calls {
			if j >= c2.start && j < c2.start+c2.n {
				cj, _ := c2.trace.Cell(layer, j)
				d.K = append(d.K, cj.K...)
				d.V = append(d.V, cj.V...)
			}
		}
	}
	if len(d.K) != (pos+1)*kvd {
		t.Fatalf("gathered %d keys", len(d.K)/kvd)
	}
	return d
}

func TestHonestCellsPass(t *testing.T) {
	cases := []struct {
		name string
		fx   func(t testing.TB) *fixture
	}{
		{"kjv-q8_0", func(t testing.TB) *fixture { return kjv(t, "kjv-tiny-q8_0.gguf") }},
		{"kjv-f32", func(t testing.TB) *fixture { return kjv(t, "kjv-tiny-f32.gguf") }},
	}
	for _, typ := range []quant.Type{quant.F16, quant.BF16, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1, quant.Q8_0, quant.Q4_K, quant.Q5_K, quant.Q6_K} {
		typ := typ
		cases = append(cases, struct {
			name string
			fx   func(t testing.TB) *fixture
		}{"synth-" + typ.String(), func(t testing.TB) *fixture { return synthetic(t, "llama", typ) }})
	}
	cases = append(cases, struct {
		name string
		fx   func(t testing.TB) *fixture
	}{"synth-qwen2-q8_0", func(t testing.TB) *fixture { return synthetic(t, "qwen2", quant.Q8_0) }})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := tc.fx(t)
			r := model.Range{First: 1, Last: 3}
			calls := runTraced(t, fx, r, []int{1, 40, 77, 120, 5}, 4)
			var worst proof.Residuals
			for ci, cl := range calls {
				for layer := r.First; layer < r.Last; layer++ {
					for pos := cl.start; pos < cl.start+cl.n; pos++ {
						d := cellData(t, fx, r, calls, ci, layer, pos)
						res, fail, err := proof.CheckCell(fx.vk, proof.DefaultTolerances, d)
						if err != nil {
							t.Fatal(err)
						}
						if fail != nil {
							t.Fatalf("honest cell fails: %v", fail)
						}
						for i, v := range res {
							worst[i] = max(worst[i], v)
						}
					}
				}
			}
			t.Logf("worst residuals: %v", worst)
		})
	}
}
