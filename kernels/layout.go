package kernels

import (
	"fmt"

	"github.com/tessera-net/tessera/quant"
)

// Interleaved rows. A kernel that computes four rows at a time reads four
// streams when the rows are stored one after the other; from memory that
// runs well below the read bandwidth (BENCHMARKS.md, "Q4_K decode rows,
// AVX-512" and "Interleaved Q8_0 and Q4_0 rows"). Weights.Add therefore
// stores a matrix up to a width (kernel.ilMaxCols), for a kernel that asks
// for it (kernel.ilUnit), in groups of four rows whose blocks of ilUnit
// bytes alternate: row 0's first unit, row 1's, row 2's, row 3's, then
// row 0's second unit, and so on, so that a group is one sequential run.
// The rows after the last whole group (Rows mod 4) stay as they are. The
// layout is the same size; a matrix carries it (Matrix.il) so that every
// reader can tell, and kernels without an interleaved form get the rows
// de-interleaved per chunk (pool.work).

// ilGroup is the number of rows interleaved together: the multi-row
// kernels' group, whose multiples the pool's chunks are, so that a chunk
// of an interleaved matrix is interleaved in itself.
const ilGroup = rowGroup

// Interleaved reports whether m's rows are stored interleaved in groups of
// four (see Weights.Add) rather than one after the other. Pool products
// read either layout; code that reads m.Data directly must not assume row
// r is at r*RowBytes when it is.
func (m Matrix) Interleaved() bool { return m.il != 0 }

// RowRange returns the matrix of rows [first, first+n) of m, sharing its
// memory and keeping its layout: it is how to take a part of a joined
// matrix (Weights.Add) without losing an interleaved layout, which
// NewMatrix on a slice of Data would. For an interleaved m, first must be
// a multiple of four and the range must end on a multiple of four or at
// m's last row (else the range would cut a group).
func (m Matrix) RowRange(first, n int) (Matrix, error) {
	rb, _ := m.check()
	if first < 0 || n <= 0 || first+n > m.Rows {
		return Matrix{}, fmt.Errorf("kernels: rows [%d, %d) outside a %d-row matrix", first, first+n, m.Rows)
	}
	if m.panel != 0 {
		if first == 0 && n == m.Rows {
			return m, nil
		}
		return Matrix{}, fmt.Errorf("kernels: rows [%d, %d) of a %d-row matrix stored in column panels", first, first+n, m.Rows)
	}
	if m.il != 0 && (first%ilGroup != 0 || ((first+n)%ilGroup != 0 && first+n != m.Rows)) {
		return Matrix{}, fmt.Errorf("kernels: rows [%d, %d) cut a group of four interleaved rows", first, first+n)
	}
	part := m
	part.Rows = n
	part.Data = m.Data[first*rb : (first+n)*rb : (first+n)*rb]
	return part, nil
}

// How wide a matrix Weights.Add interleaves is set per kernel
// (kernel.ilMaxCols), from BenchmarkMatVecDRAM on the reference VM
// (BENCHMARKS.md, "Wide rows"): at 2048 and 4096 columns interleaved rows
// stream 10–20 points closer to the read probe than rows one after the
// other for Q8_0, Q4_K and Q4_0; at 8192 columns (a down projection) Q4_0
// still gains ~10 points, Q8_0 streams the same either way and Q4_K
// loses ~10 points interleaved. Wider single matrices may be stored in
// column panels instead (below).

// interleave4 rewrites the rows of w (rows of rb bytes) in place into the
// interleaved layout with units of unit bytes; scratch must hold 4*rb
// bytes.
func interleave4(w []byte, rb, unit, rows int, scratch []byte) {
	g := ilGroup * rb
	for off := 0; off+g <= rows*rb; off += g {
		copy(scratch[:g], w[off:off+g])
		deOrInterleave(w[off:off+g], scratch[:g], rb, unit, true)
	}
}

// deinterleave4 writes to dst the rows of src (rows of rb bytes, stored
// interleaved with units of unit bytes) one after the other.
func deinterleave4(dst, src []byte, rb, unit, rows int) {
	g := ilGroup * rb
	full := rows / ilGroup * g
	for off := 0; off < full; off += g {
		deOrInterleave(dst[off:off+g], src[off:off+g], rb, unit, false)
	}
	copy(dst[full:rows*rb], src[full:rows*rb])
}

// deOrInterleave converts one group of four rows between the layouts:
// from rows one after the other in src to interleaved in dst (in true),
// or back.
func deOrInterleave(dst, src []byte, rb, unit int, in bool) {
	for k := 0; k < rb; k += unit {
		for r := range ilGroup {
			plain := r*rb + k
			il := ilGroup*k + r*unit
			if in {
				copy(dst[il:il+unit], src[plain:plain+unit])
			} else {
				copy(dst[plain:plain+unit], src[il:il+unit])
			}
		}
	}
}

// Column panels. A kernel's rows stream worse from memory the wider the
// matrix, and its pass over the activation's quants for each group of
// four rows is why: the same kernel reading one block's quants over and
// over streams 512×8192 Q8_0 rows at ~90 % of the read probe instead of
// ~68 % (BENCHMARKS.md, "Wide rows"; presumably the quants and the
// weights compete for the L1 cache). Weights.Add therefore stores a
// single matrix wider than the kernel's ilMaxCols, for a kernel that
// asks for it (kernel.panelCols), as column panels: the first panel's
// columns of every row as one interleaved rows×panel matrix, then the
// next panel's, and so on. Decode runs each chunk of rows panel by panel
// (a long chunk: panelChunkBytes), each row's sum continuing from the
// previous panel's (rowsILDot's acc); the prefill tile runs through a
// row's panels in turn (tilePanels). Either adds the same block products
// in the same order as one pass over the whole row: the bits do not
// change.

// panelWidth returns the columns per panel for a matrix of type t and
// cols columns read by a kernel with panels of up to max columns, or 0 to
// keep whole rows: panels are all the same width, a whole number of
// blocks, at most max and more than max/2 columns wide.
func panelWidth(t quant.Type, cols, max int) int {
	bs := t.BlockSize()
	if max <= 0 || cols <= max || bs <= 0 || cols%bs != 0 {
		return 0
	}
	nb := cols / bs
	for k := (cols + max - 1) / max; cols/k > max/2; k++ {
		if nb%k == 0 {
			return cols / k
		}
	}
	return 0
}

// ilOffset is where byte k of row r lies in a matrix of rows rows of rb
// bytes stored interleaved with units of unit bytes.
func ilOffset(r, k, rows, rb, unit int) int {
	if r >= rows&^(ilGroup-1) {
		return r*rb + k
	}
	return r/ilGroup*ilGroup*rb + ilGroup*(k/unit*unit) + r%ilGroup*unit + k%unit
}

// toPanels writes the rows of plain (rows of np·prb bytes, one after the
// other) to dst as np panels of rows×prb bytes, each interleaved with
// units of unit bytes.
func toPanels(dst, plain []byte, rows, prb, np, unit int) {
	rb := np * prb
	for p := range np {
		panel := dst[p*rows*prb : (p+1)*rows*prb]
		for r := range rows {
			src := plain[r*rb+p*prb : r*rb+(p+1)*prb]
			for k := 0; k < prb; k += unit {
				o := ilOffset(r, k, rows, prb, unit)
				copy(panel[o:o+unit], src[k:k+unit])
			}
		}
	}
}

// fromPanels writes rows [r0, r1) of a matrix stored by toPanels (data,
// rows rows in all) to dst, one after the other.
func fromPanels(dst, data []byte, rows, prb, np, unit, r0, r1 int) {
	rb := np * prb
	for p := range np {
		panel := data[p*rows*prb : (p+1)*rows*prb]
		for r := r0; r < r1; r++ {
			out := dst[(r-r0)*rb+p*prb : (r-r0)*rb+(p+1)*prb]
			for k := 0; k < prb; k += unit {
				o := ilOffset(r, k, rows, prb, unit)
				copy(out[k:k+unit], panel[o:o+unit])
			}
		}
	}
}

// panelGeometry returns the number of panels of m and their row bytes
// (np 0 if m is not stored in panels).
func (m *Matrix) panelGeometry() (np, prb int) {
	if m.panel == 0 {
		return 0, 0
	}
	prb, _ = m.Type.RowBytes(m.panel)
	return m.Cols / m.panel, prb
}
