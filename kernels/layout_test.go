package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tessera-net/tessera/quant"
)

// interleavedCopy returns m copied into the interleaved layout with units
// of unit bytes, whatever the active level.
func interleavedCopy(m Matrix, unit int) Matrix {
	rb, _ := m.check()
	data := append([]byte(nil), m.Data...)
	interleave4(data, rb, unit, m.Rows, make([]byte, ilRows(unit)*rb))
	m.Data, m.il = data, unit
	return m
}

// panelledCopy returns m copied into column panels of width cols, each
// interleaved with units of unit bytes, whatever the active level.
func panelledCopy(m Matrix, cols, unit int) Matrix {
	rb, _ := m.check()
	m.il, m.panel = unit, cols
	np, prb := m.panelGeometry()
	data := make([]byte, len(m.Data[:m.Rows*rb]))
	toPanels(data, m.Data, m.Rows, prb, np, unit)
	m.Data = data
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

// TestLayoutsMatchPlain checks, at every level this CPU runs, that a
// product with a matrix stored interleaved or in column panels gives the
// generic kernels' bits, for MatVec and MatMul (positions in groups of
// sixteen and left over), on one to three threads, with row counts that
// leave partial groups and chunks of every size. A level's interleaved
// kernels read their type's layouts in place, carrying each row's sum
// from panel to panel; the other levels (and every level for Q6_K)
// gather plain rows per chunk.
func TestLayoutsMatchPlain(t *testing.T) {
	pools := splitPools(t, 1, 2, 3)
	rng := rand.New(rand.NewPCG(13, 14))
	interleaved := func(unit int) func(Matrix) Matrix {
		return func(m Matrix) Matrix { return interleavedCopy(m, unit) }
	}
	panels := func(cols, unit int) func(Matrix) Matrix {
		return func(m Matrix) Matrix { return panelledCopy(m, cols, unit) }
	}
	for _, tc := range []struct {
		typ    quant.Type
		cols   int
		layout string
		copy   func(Matrix) Matrix
	}{
		{quant.Q4_K, 512, "interleaved", interleaved(144)},
		{quant.Q4_K, 512, "in lanes of sixteen rows", interleaved(ilQ4KLanes)},
		{quant.Q4_K, 2304, "in lanes of sixteen rows", interleaved(ilQ4KLanes)},
		{quant.Q8_0, 512, "interleaved", interleaved(34)},
		{quant.Q4_0, 512, "interleaved", interleaved(18)},
		{quant.Q6_K, 512, "interleaved", interleaved(210)},
		{quant.Q8_0, 1024, "in panels of 256", panels(256, 34)},
		{quant.Q8_0, 480, "in panels of 160", panels(160, 34)},
		{quant.Q4_0, 1024, "in panels of 512", panels(512, 18)},
		{quant.Q4_K, 1024, "in panels of 512", panels(512, 144)},
	} {
		for _, rows := range []int{1, 3, 4, 7, 12, 37, 1030} {
			m, err := NewMatrix(tc.typ, rows, tc.cols, levelMatrix(rng, tc.typ, rows, tc.cols))
			if err != nil {
				t.Fatal(err)
			}
			laid := tc.copy(m)
			x := levelActs(rng, 37, tc.cols)
			for _, n := range []int{1, 2, 5, 16, 37} {
				what := fmt.Sprintf("%v %d×%d %s", tc.typ, rows, tc.cols, tc.layout)
				checkEveryLevel(t, pools, what, laid, x, n, genericProduct(tc.typ, m.Data, rows, tc.cols, x, n))
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
	for _, l := range append([]*level{findLevel("generic")}, testLevels(t)...) {
		useLevel(l.name)
		// Parts of two groups, one group and two groups less a row, in
		// the groups of the level's layout.
		g := ilRows(active.get(typ).ilUnit)
		parts := []Matrix{mk(2 * g), mk(g), mk(2*g - 1)}
		w := NewWeights(8 << 20)
		joined, err := w.Add(parts...)
		if err != nil {
			t.Fatal(err)
		}
		wantIL := active.get(typ).rowsIL != nil
		if joined.Interleaved() != wantIL {
			t.Errorf("%s: joined Interleaved %v, want %v", l.name, joined.Interleaved(), wantIL)
		}
		if k := active.get(typ); k.rowsIL != nil {
			// Up to ilMaxCols columns whole rows, interleaved; wider, a
			// single matrix in panels if the kernel reads them, and a
			// joined one never.
			for _, c := range []int{k.ilMaxCols, k.ilMaxCols + 256, 2 * k.ilMaxCols} {
				one, err := w.Add(mkCols(2*g, c))
				if err != nil {
					t.Fatal(err)
				}
				two, err := w.Add(mkCols(g, c), mkCols(g, c))
				if err != nil {
					t.Fatal(err)
				}
				panel := 0
				if c > k.ilMaxCols {
					panel = panelWidth(typ, c, k.panelCols)
				}
				if want := c <= k.ilMaxCols || panel != 0; one.Interleaved() != want || one.panel != panel {
					t.Errorf("%s: a matrix of %d columns (widest interleaved %d): Interleaved %v, panel %d, want %v, %d",
						l.name, c, k.ilMaxCols, one.Interleaved(), one.panel, want, panel)
				}
				if want := c <= k.ilMaxCols; two.Interleaved() != want || two.panel != 0 {
					t.Errorf("%s: two joined matrices of %d columns: Interleaved %v, panel %d, want %v, 0",
						l.name, c, two.Interleaved(), two.panel, want)
				}
			}
		}
		odd, err := w.Add(parts[2], parts[0])
		if err != nil {
			t.Fatal(err)
		}
		if odd.Interleaved() {
			t.Errorf("%s: parts of %d then %d rows were interleaved (the second part would cut a group)", l.name, 2*g-1, 2*g)
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
			for _, bad := range [][2]int{{g / 2, g}, {g, g / 2}, {2 * g, g + 1}, {-g, g}, {4 * g, 2 * g}} {
				if _, err := joined.RowRange(bad[0], bad[1]); err == nil {
					t.Errorf("%s: RowRange(%d, %d) of %d interleaved rows succeeded", l.name, bad[0], bad[1], 5*g-1)
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

// TestPanelWidth checks the choice of column panels: equal panels of
// whole blocks, at most the kernel's width and more than half of it, or
// none.
func TestPanelWidth(t *testing.T) {
	for _, tc := range []struct {
		typ             quant.Type
		cols, max, want int
	}{
		{quant.Q8_0, 8192, 2048, 2048},
		{quant.Q8_0, 14336, 2048, 2048},
		{quant.Q8_0, 4352, 2048, 1088},
		{quant.Q8_0, 11008, 2048, 1376},
		{quant.Q8_0, 2048, 2048, 0}, // not wider than a panel
		{quant.Q8_0, 8192, 0, 0},    // the kernel reads no panels
		{quant.Q4_K, 8192, 2048, 2048},
		{quant.Q4_K, 5632, 2048, 0},  // 22 super-blocks: 2816 or 512 columns
		{quant.Q4_K, 11008, 2048, 0}, // 43 super-blocks: prime
		{quant.Q4_0, 6144, 2048, 2048},
	} {
		if got := panelWidth(tc.typ, tc.cols, tc.max); got != tc.want {
			t.Errorf("panelWidth(%v, %d, %d) = %d, want %d", tc.typ, tc.cols, tc.max, got, tc.want)
		}
	}
}

// TestPanelsRoundTrip checks the panel layout: every row range read back
// from panels gives the rows as they were, and the first panel of a
// matrix of four rows or more is interleaved.
func TestPanelsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, rows := range []int{1, 3, 4, 9, 12} {
		m, err := NewMatrix(quant.Q8_0, rows, 256, randBlocks(rng, quant.Q8_0, rows, 256))
		if err != nil {
			t.Fatal(err)
		}
		pm := panelledCopy(m, 64, 34) // four panels of two blocks
		rb := 8 * 34
		for r0 := range rows {
			for r1 := r0 + 1; r1 <= rows; r1++ {
				got := make([]byte, (r1-r0)*rb)
				fromPanels(got, pm.Data, rows, 68, 4, 34, r0, r1)
				if !bytes.Equal(got, m.Data[r0*rb:r1*rb]) {
					t.Fatalf("%d rows: rows [%d, %d) read back from panels differ", rows, r0, r1)
				}
			}
		}
		// Panel 0 starts with row 0's first block, then row 1's.
		if !bytes.Equal(pm.Data[:34], m.Data[:34]) || (rows >= 4 && !bytes.Equal(pm.Data[34:68], m.Data[rb:rb+34])) {
			t.Errorf("%d rows: panel 0 is not row 0's first block, then row 1's", rows)
		}
	}
}

// TestWeightsPanels checks a matrix stored in panels by Weights.Add: its
// products, RowRange (whole only), and copying it under a level without
// the layout, which gives the plain rows.
func TestWeightsPanels(t *testing.T) {
	defer useLevel("")
	k := active.get(quant.Q8_0)
	if k.panelCols == 0 {
		t.Skipf("level %s stores no Q8_0 panels", k.name)
	}
	rng := rand.New(rand.NewPCG(25, 26))
	rows, cols := 9, k.ilMaxCols*2
	m, err := NewMatrix(quant.Q8_0, rows, cols, randBlocks(rng, quant.Q8_0, rows, cols))
	if err != nil {
		t.Fatal(err)
	}
	w := NewWeights(WeightsSize(len(m.Data)))
	pm, err := w.Add(m)
	if err != nil {
		t.Fatal(err)
	}
	if pm.panel == 0 || !pm.Interleaved() {
		t.Fatalf("a %d×%d Q8_0 matrix was not stored in panels", rows, cols)
	}
	if bytes.Equal(pm.Data, m.Data) {
		t.Errorf("panels hold the rows as they were")
	}
	if whole, err := pm.RowRange(0, rows); err != nil || whole.panel != pm.panel {
		t.Errorf("RowRange(0, %d) of a panelled matrix: %v", rows, err)
	}
	for _, bad := range [][2]int{{0, 4}, {4, 5}, {0, rows + 1}} {
		if _, err := pm.RowRange(bad[0], bad[1]); err == nil {
			t.Errorf("RowRange(%d, %d) of a panelled matrix succeeded", bad[0], bad[1])
		}
	}
	p := NewPool(2)
	defer p.Close()
	x := randValues(rng, 17*cols)
	want := genericProduct(quant.Q8_0, m.Data, rows, cols, x, 17)
	got := make([]float32, len(want))
	p.MatMul(got, pm, x, 17)
	for i := range want {
		if !sameBits(got[i], want[i]) {
			t.Fatalf("y[%d] = %g, generic %g", i, got[i], want[i])
		}
	}
	useLevel("generic")
	plain, err := NewWeights(WeightsSize(len(m.Data))).Add(pm)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Interleaved() || !bytes.Equal(plain.Data, m.Data) {
		t.Errorf("copying a panelled matrix under generic did not give the plain rows")
	}
}

// checkEveryLevel checks that MatMul of m (in any layout) with the first
// n positions of x gives want, the generic kernels' bits, at every level
// this CPU runs and on each of pools. y starts as NaNs, so that a kernel
// reading y where it should not (a first column panel) fails.
func checkEveryLevel(t *testing.T, pools []*Pool, what string, m Matrix, x []float32, n int, want []float32) {
	t.Helper()
	defer useLevel("")
	for _, l := range append([]*level{findLevel("generic")}, testLevels(t)...) {
		useLevel(l.name)
		for _, p := range pools {
			y := make([]float32, n*m.Rows)
			for i := range y {
				y[i] = float32(math.NaN())
			}
			p.MatMul(y, m, x, n)
			for i := range y {
				if !sameBits(y[i], want[i]) {
					t.Fatalf("%s, %s, %d positions, %d threads: y[%d] = %g, generic %g", what, l.name, n, p.Threads(), i, y[i], want[i])
				}
			}
		}
	}
}
