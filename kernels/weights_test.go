package kernels

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/quant"
)

// TestWeightsJoin checks that a joined matrix computes, for every
// position, exactly the outputs of its parts one after the other, for
// MatVec and MatMul, and that its rows are the parts' bytes (in either
// layout).
func TestWeightsJoin(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := NewPool(2)
	defer p.Close()
	for _, typ := range []quant.Type{quant.Q8_0, quant.Q4_K, quant.F16} {
		cols := 256
		parts := []Matrix{}
		for _, rows := range []int{13, 4, 7} {
			m, err := NewMatrix(typ, rows, cols, randBlocks(rng, typ, rows, cols))
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, m)
		}
		lens := []int{len(parts[0].Data), len(parts[1].Data), len(parts[2].Data)}
		w := NewWeights(WeightsSize(lens...) + WeightsSize(lens[1]))
		joined, err := w.Add(parts...)
		if err != nil {
			t.Fatal(err)
		}
		alone, err := w.Add(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		aloneRows := alone.Data
		if alone.Interleaved() { // four rows: one group (layout.go)
			aloneRows = make([]byte, len(alone.Data))
			rb, _ := typ.RowBytes(cols)
			deinterleave4(aloneRows, alone.Data, rb, alone.il, alone.Rows)
		}
		if joined.Rows != 24 || string(aloneRows) != string(parts[1].Data) ||
			string(joined.Data[len(parts[0].Data):len(parts[0].Data)+len(parts[1].Data)]) != string(parts[1].Data) {
			t.Fatalf("%v: joined %d rows; data not the parts' bytes in order", typ, joined.Rows)
		}
		if _, err := w.Add(parts[0]); err == nil || !strings.Contains(err.Error(), "full") {
			t.Errorf("%v: adding past the size: err %v, want full", typ, err)
		}
		const n = 5
		x := randValues(rng, n*cols)
		got := make([]float32, n*joined.Rows)
		p.MatMul(got, joined, x, n)
		for pos := 0; pos < n; pos++ {
			off := 0
			for i, m := range parts {
				want := make([]float32, m.Rows)
				p.MatVec(want, m, x[pos*cols:(pos+1)*cols])
				for r := range want {
					if g := got[pos*joined.Rows+off+r]; !sameBits(g, want[r]) {
						t.Fatalf("%v position %d part %d row %d: joined %v, alone %v", typ, pos, i, r, g, want[r])
					}
				}
				off += m.Rows
			}
		}
	}
	q8, _ := NewMatrix(quant.Q8_0, 2, 64, make([]byte, 2*68))
	q8b, _ := NewMatrix(quant.Q8_0, 2, 32, make([]byte, 2*34))
	f16, _ := NewMatrix(quant.F16, 2, 64, make([]byte, 2*128))
	w := NewWeights(1 << 10)
	for _, bad := range [][]Matrix{nil, {q8, f16}, {q8, q8b}} {
		if _, err := w.Add(bad...); err == nil {
			t.Errorf("Add of %d matrices of different types or widths succeeded", len(bad))
		}
	}
}
