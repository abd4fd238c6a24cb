package kernels

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/tessera-net/tessera/quant"
)

// interleavedCopy returns m copied into the interleaved layout with units
// of unit bytes, whatever the active level.
func interleavedCopy(m Matrix, unit int) Matrix {
	rb, _ := m.check()
	data := append([]byte(nil), m.Data...)
	interleave4(data, rb, unit, m.Rows, make([]byte, ilGroup*rb))
	m.Data, m.il = data, unit
	return m
}

// TestInterleaveRoundTrip checks the layout itself: interleaving moves
// bytes (for four rows or more), keeps the rows after the last group in
// place, and de-interleaving restores every byte.
func TestInterleaveRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, rows := range []int{1, 3, 4, 5, 8, 11} {
		m, err := NewMatrix(quant.Q4_K, rows, 512, randBlocks(rng, quant.Q4_K, rows, 512))
		if err != nil {
			t.Fatal(err)
		}
		il := interleavedCopy(m, 144)
		full := rows / 4 * 4 * 288
		if rows >= 4 && bytes.Equal(il.Data[:full], m.Data[:full]) {
			t.Errorf("%d rows: interleaving changed nothing", rows)
		}
		if !bytes.Equal(il.Data[full:], m.Data[full:]) {
			t.Errorf("%d rows: the rows after the last group moved", rows)
		}
		if rows >= 4 && !bytes.Equal(il.Data[144:288], m.Data[288:432]) {
			t.Errorf("%d rows: the second unit of a group is not row 1's first super-block", rows)
		}
		back := make([]byte, len(m.Data))
		deinterleave4(back, il.Data, 288, 144, rows)
		if !bytes.Equal(back, m.Data) {
			t.Errorf("%d rows: de-interleaving does not restore the rows", rows)
		}
	}
}

// TestInterleavedMatchesPlain checks, at every level this CPU runs, that a
// product with an interleaved matrix (read in place by a level's
// interleaved kernel, or de-interleaved per chunk by the others) gives
// the generic kernels' bits, for MatVec and MatMul, on one to three
// threads, with row counts that leave partial groups and chunks of every
// size. The Q6_K case is only ever de-interleaved.
func TestInterleavedMatchesPlain(t *testing.T) {
	pools := splitPools(t, 1, 2, 3)
	defer useLevel("")
	rng := rand.New(rand.NewPCG(13, 14))
	for _, tc := range []struct {
		typ  quant.Type
		unit int
	}{{quant.Q4_K, 144}, {quant.Q8_0, 34}, {quant.Q4_0, 18}, {quant.Q6_K, 210}} {
		for _, rows := range []int{1, 3, 4, 7, 12, 37, 1030} {
			cols := 512
			m, err := NewMatrix(tc.typ, rows, cols, levelMatrix(rng, tc.typ, rows, cols))
			if err != nil {
				t.Fatal(err)
			}
			il := interleavedCopy(m, tc.unit)
			x := levelActs(rng, 33, cols)
			for _, n := range []int{1, 2, 5, 33} {
				want := genericProduct(tc.typ, m.Data, rows, cols, x, n)
				for _, l := range append([]*level{findLevel("generic")}, testLevels(t)...) {
					useLevel(l.name)
					for _, p := range pools {
						y := make([]float32, n*rows)
						p.MatMul(y, il, x, n)
						for i := range y {
							if !sameBits(y[i], want[i]) {
								t.Fatalf("%v %s %d×%d interleaved, %d positions, %d threads: y[%d] = %g, generic %g",
									tc.typ, l.name, rows, cols, n, p.Threads(), i, y[i], want[i])
							}
						}
					}
					useLevel("")
				}
			}
		}
	}
}

// TestWeightsInterleave checks when Weights.Add interleaves (only for a
// level with an interleaved kernel, only if each part but the last is
// whole groups, and only up to the kernel's ilMaxCols columns), that
// RowRange views of the parts compute each part's products, that
// RowRange refuses ranges that cut a group, and that adding an
// interleaved matrix under a level without the layout copies plain rows.
func TestWeightsInterleave(t *testing.T) {
	for _, typ := range []quant.Type{quant.Q4_K, quant.Q8_0, quant.Q4_0} {
		t.Run(typ.String(), func(t *testing.T) { testWeightsInterleave(t, typ) })
	}
}

func testWeightsInterleave(t *testing.T, typ quant.Type) {
	defer useLevel("")
	rng := rand.New(rand.NewPCG(15, 16))
	p := NewPool(2)
	defer p.Close()
	const cols = 256
	mkCols := func(rows, cols int) Matrix {
		m, err := NewMatrix(typ, rows, cols, randBlocks(rng, typ, rows, cols))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	mk := func(rows int) Matrix { return mkCols(rows, cols) }
	parts := []Matrix{mk(8), mk(4), mk(7)}
	for _, l := range append([]*level{findLevel("generic")}, testLevels(t)...) {
		useLevel(l.name)
		w := NewWeights(1 << 19)
		joined, err := w.Add(parts...)
		if err != nil {
			t.Fatal(err)
		}
		wantIL := active.get(typ).rowsIL != nil
		if joined.Interleaved() != wantIL {
			t.Errorf("%s: joined Interleaved %v, want %v", l.name, joined.Interleaved(), wantIL)
		}
		if k := active.get(typ); k.rowsIL != nil {
			for _, c := range []int{k.ilMaxCols, k.ilMaxCols + 256} {
				m, err := w.Add(mkCols(8, c))
				if err != nil {
					t.Fatal(err)
				}
				if want := c <= k.ilMaxCols; m.Interleaved() != want {
					t.Errorf("%s: a matrix of %d columns (widest interleaved %d): Interleaved %v, want %v", l.name, c, k.ilMaxCols, m.Interleaved(), want)
				}
			}
		}
		odd, err := w.Add(parts[2], parts[0])
		if err != nil {
			t.Fatal(err)
		}
		if odd.Interleaved() {
			t.Errorf("%s: parts of 7 then 8 rows were interleaved (the second part would cut a group)", l.name)
		}
		x := randValues(rng, 3*cols)
		first := 0
		for i, part := range parts {
			view, err := joined.RowRange(first, part.Rows)
			if err != nil {
				t.Fatalf("%s: part %d: %v", l.name, i, err)
			}
			first += part.Rows
			if view.Interleaved() != joined.Interleaved() {
				t.Errorf("%s: part %d lost the layout", l.name, i)
			}
			got := make([]float32, 3*part.Rows)
			p.MatMul(got, view, x, 3)
			want := genericProduct(typ, part.Data, part.Rows, cols, x, 3)
			for r := range want {
				if !sameBits(got[r], want[r]) {
					t.Fatalf("%s: part %d y[%d] = %g, generic %g", l.name, i, r, got[r], want[r])
				}
			}
		}
		if joined.Interleaved() {
			for _, bad := range [][2]int{{2, 4}, {4, 2}, {8, 5}, {-4, 4}, {16, 8}} {
				if _, err := joined.RowRange(bad[0], bad[1]); err == nil {
					t.Errorf("%s: RowRange(%d, %d) of 19 interleaved rows succeeded", l.name, bad[0], bad[1])
				}
			}
			useLevel("generic")
			w2 := NewWeights(1 << 16)
			plain, err := w2.Add(joined)
			if err != nil {
				t.Fatal(err)
			}
			var cat []byte
			for _, part := range parts {
				cat = append(cat, part.Data...)
			}
			if plain.Interleaved() || !bytes.Equal(plain.Data, cat) {
				t.Errorf("copying an interleaved matrix under generic did not give the plain rows")
			}
		}
		useLevel("")
	}
}
