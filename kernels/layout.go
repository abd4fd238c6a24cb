package kernels

import (
	"encoding/binary"
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

// ilQ4KLanes is the Matrix.il of Q4_K rows stored for a kernel that keeps
// sixteen rows in the 32-bit lanes of its registers (the AVX-512 one):
// per super-block, a group's sixteen rows are one 2304-byte run,
//
//	[0, 2048)     dword k (k < 8) of 32-byte nibble chunk j (j < 4) of row
//	              r at (4k+j)·64 + 4r: the kernel reads the run in order
//	[2048, 2240)  the twelve scale bytes, byte i of row r at 2048 + 16i + r
//	[2240, 2304)  the sixteen d, then the sixteen dmin (f16)
//
// so that every load feeds all sixteen rows and the scales unpack as
// whole vectors. The rows after the last whole group stay as they are.
// BENCHMARKS.md, "Q4_K rows in register lanes".
const ilQ4KLanes = -16

// ilRows is the number of rows interleaved together in layout il.
func ilRows(il int) int {
	if il == ilQ4KLanes {
		return 16
	}
	return ilGroup
}

// Interleaved reports whether m's rows are stored interleaved in groups
// (of four, or of sixteen for Q4_K in lanes: see Weights.Add) rather than
// one after the other. Pool products read either layout; code that reads
// m.Data directly must not assume row r is at r*RowBytes when it is.
func (m Matrix) Interleaved() bool { return m.il != 0 }

// RowRange returns the matrix of rows [first, first+n) of m, sharing its
// memory and keeping its layout: it is how to take a part of a joined
// matrix (Weights.Add) without losing an interleaved layout, which
// NewMatrix on a slice of Data would. For an interleaved m, first must be
// a multiple of its group of rows (four, or sixteen for ilQ4KLanes) and
// the range must end on one or at m's last row (else the range would cut
// a group).
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
	if g := ilRows(m.il); m.il != 0 && (first%g != 0 || ((first+n)%g != 0 && first+n != m.Rows)) {
		return Matrix{}, fmt.Errorf("kernels: rows [%d, %d) cut a group of %d interleaved rows", first, first+n, g)
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
// interleaved layout unit (units of unit bytes, or ilQ4KLanes); scratch
// must hold ilRows(unit)*rb bytes.
func interleave4(w []byte, rb, unit, rows int, scratch []byte) {
	g := ilRows(unit) * rb
	for off := 0; off+g <= rows*rb; off += g {
		copy(scratch[:g], w[off:off+g])
		deOrInterleave(w[off:off+g], scratch[:g], rb, unit, true)
	}
}

// deinterleave4 writes to dst the rows of src (rows of rb bytes, stored
// in the interleaved layout unit) one after the other.
func deinterleave4(dst, src []byte, rb, unit, rows int) {
	g := ilRows(unit) * rb
	full := rows / ilRows(unit) * g
	for off := 0; off < full; off += g {
		deOrInterleave(dst[off:off+g], src[off:off+g], rb, unit, false)
	}
	copy(dst[full:rows*rb], src[full:rows*rb])
}

// deOrInterleave converts one group of rows between the layouts: from
// rows one after the other in src to interleaved in dst (in true), or
// back.
func deOrInterleave(dst, src []byte, rb, unit int, in bool) {
	if unit == ilQ4KLanes {
		deOrLanesQ4K(dst, src, rb, in)
		return
	}
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

// deOrLanesQ4K is deOrInterleave for ilQ4KLanes: one group of sixteen
// Q4_K rows of rb bytes. It moves whole words where the layout keeps
// them: loading a model converts every Q4_K matrix.
func deOrLanesQ4K(dst, src []byte, rb int, in bool) {
	le := binary.LittleEndian
	for b := 0; b < rb/144; b++ {
		for r := range 16 {
			var run *[2304]byte
			var blk *[144]byte
			if in {
				run, blk = (*[2304]byte)(dst[b*2304:]), (*[144]byte)(src[r*rb+b*144:])
			} else {
				run, blk = (*[2304]byte)(src[b*2304:]), (*[144]byte)(dst[r*rb+b*144:])
			}
			d, dmin := (*[2]byte)(run[2240+2*r:]), (*[2]byte)(run[2272+2*r:])
			if in {
				*d, *dmin = [2]byte(blk[0:2]), [2]byte(blk[2:4])
				for i := range 12 {
					run[2048+16*i+r] = blk[4+i]
				}
				for j := range 4 {
					for k := range 8 {
						le.PutUint32(run[(4*k+j)*64+4*r:], le.Uint32(blk[16+32*j+4*k:]))
					}
				}
				continue
			}
			copy(blk[0:2], d[:])
			copy(blk[2:4], dmin[:])
			for i := range 12 {
				blk[4+i] = run[2048+16*i+r]
			}
			for j := range 4 {
				for k := range 8 {
					le.PutUint32(blk[16+32*j+4*k:], le.Uint32(run[(4*k+j)*64+4*r:]))
				}
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
