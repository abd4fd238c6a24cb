package kernels

import "fmt"

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
// (BENCHMARKS.md, "Which rows to interleave"): at 2048 and 4096 columns
// interleaved rows stream 10–20 points closer to the read probe than
// rows one after the other for Q8_0, Q4_K and Q4_0; at 8192 columns (a
// down projection) Q4_0 still gains ~10 points, Q8_0 streams the same
// either way and Q4_K loses ~10 points interleaved. Why wide rows stream
// worse is not understood: neither the prefetch distance nor the
// activation's size (column panels of 2048 values) changed it.

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
