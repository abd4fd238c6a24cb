package proof_test

import (
	"encoding/gob"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/quant"
)

// tracedCall is one honest forward call as a node on another machine
// computed it: inputs, outputs, and every cell's vectors.
type tracedCall struct {
	Start, N int
	In, Out  []float32
	Cells    map[[2]int][proof.NumVecs][]float32 // (layer, position)
}

// TestCrossArchAudit: an auditor on this machine checks every cell of
// honest traces that a node computed on another architecture (package
// model's float32 code is fused differently there, and math.Exp differs),
// and raises no false alarm, with margin. With TESSERA_XARCH_WRITE=DIR it
// writes this machine's traces into DIR instead; with TESSERA_XARCH=DIR it
// checks the traces found there (CI writes them on arm64 under qemu and
// checks them on amd64). Otherwise it is skipped.
func TestCrossArchAudit(t *testing.T) {
	dir, write := os.Getenv("TESSERA_XARCH"), false
	if w := os.Getenv("TESSERA_XARCH_WRITE"); w != "" {
		dir, write = w, true
	}
	if dir == "" {
		t.Skip("set TESSERA_XARCH_WRITE=DIR on one machine, then TESSERA_XARCH=DIR on another")
	}
	fixtures := map[string]*fixture{
		"kjv-q8_0": kjv(t, "kjv-tiny-q8_0.gguf"), "f32": synthetic(t, "llama", quant.F32), "f16": synthetic(t, "llama", quant.F16),
		"q8_0": synthetic(t, "llama", quant.Q8_0), "q4_k": synthetic(t, "llama", quant.Q4_K), "q6_k": synthetic(t, "llama", quant.Q6_K),
	}
	for name, fx := range fixtures {
		r := model.Range{First: 0, Last: fx.cfg.Layers}
		path := filepath.Join(dir, name+".traces")
		if write {
			writeTraces(t, path, fx, r)
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var calls []tracedCall
		err = gob.NewDecoder(f).Decode(&calls)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var worst proof.Residuals
		cells := 0
		for ci, c := range calls {
			for l := r.First; l < r.Last; l++ {
				for p := c.Start; p < c.Start+c.N; p++ {
					d := foreignCell(fx, r, calls, ci, l, p)
					res, fail, err := proof.CheckCell(fx.vk, proof.DefaultTolerances, d)
					if err != nil {
						t.Fatal(err)
					}
					if fail != nil {
						t.Errorf("%s: false alarm on an honest foreign cell: %v", name, fail)
					}
					for e := range res {
						worst[e] = max(worst[e], res[e])
					}
					cells++
				}
			}
		}
		t.Logf("%s: %d cells from another machine checked on %s; worst attention %.2g (tolerance %.0g), worst Freivalds %.2g (tolerance %.0g)",
			name, cells, runtime.GOARCH, worst[proof.EqAttention], proof.DefaultTolerances.Attention,
			max(worst[proof.EqQ], worst[proof.EqK], worst[proof.EqV], worst[proof.EqO], worst[proof.EqGate], worst[proof.EqUp], worst[proof.EqDown]), proof.DefaultTolerances.Freivalds)
		if worst[proof.EqAttention] > proof.DefaultTolerances.Attention/4 || worst[proof.EqDown] > proof.DefaultTolerances.Freivalds/4 {
			t.Errorf("%s: honest foreign cells come within 4× of the tolerances: %v", name, worst)
		}
	}
}

func writeTraces(t *testing.T, path string, fx *fixture, r model.Range) {
	t.Helper()
	var out []tracedCall
	for _, c := range runTraced(t, fx, r, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 40) {
		x := tracedCall{Start: c.start, N: c.n, In: c.in, Out: c.out, Cells: map[[2]int][proof.NumVecs][]float32{}}
		for l := r.First; l < r.Last; l++ {
			for p := c.start; p < c.start+c.n; p++ {
				cell, err := c.trace.Cell(l, p)
				if err != nil {
					t.Fatal(err)
				}
				v := proof.CellVectors(cell)
				for k := range v {
					v[k] = append([]float32(nil), v[k]...)
				}
				x.Cells[[2]int{l, p}] = v
			}
		}
		out = append(out, x)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := gob.NewEncoder(f).Encode(out); err != nil {
		t.Fatal(err)
	}
}

// foreignCell is the CellData of cell (layer, pos) of call ci.
func foreignCell(fx *fixture, r model.Range, calls []tracedCall, ci, layer, pos int) *proof.CellData {
	c := calls[ci]
	dim := fx.cfg.Dim
	d := &proof.CellData{Step: uint64(ci), Layer: layer, Pos: pos, DType: proof.DTypeF32,
		Cell: &proof.CellOpening{Step: uint64(ci), Layer: layer, Pos: pos, Mask: proof.MaskAll, Vecs: c.Cells[[2]int{layer, pos}]}}
	if layer+1 < r.Last {
		d.NextH = c.Cells[[2]int{layer + 1, pos}][proof.VecH]
	} else {
		d.OutRow = c.Out[(pos-c.Start)*dim : (pos-c.Start+1)*dim]
	}
	if layer == r.First {
		d.InRow = c.In[(pos-c.Start)*dim : (pos-c.Start+1)*dim]
	}
	for j := 0; j <= pos; j++ {
		for _, c2 := range calls {
			if j >= c2.Start && j < c2.Start+c2.N {
				kv := c2.Cells[[2]int{layer, j}]
				d.K = append(d.K, kv[proof.VecK]...)
				d.V = append(d.V, kv[proof.VecV]...)
			}
		}
	}
	return d
}
