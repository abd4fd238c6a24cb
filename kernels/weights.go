package kernels

import "fmt"

// Weight memory. Decoding streams every weight once per token, and how
// that memory is backed decides how close to the read bandwidth the
// stream runs: with 4 KiB pages (a memory-mapped model file) every 4 KiB
// costs a TLB miss and the hardware prefetchers stop at each page
// boundary, which on the project's reference VM halves the rate of a plain
// read loop. Weights copied into memory backed by huge pages, in the order
// a forward pass reads them, stream at nearly the rate of the read probe.

// Weights is memory holding weight matrices in the order they are
// computed. Build one with NewWeights, sized for everything it will hold,
// then add matrices with Add; the matrices it returns stay valid as long
// as they are referenced (the memory is ordinary Go memory).
type Weights struct {
	buf  []byte
	used int
}

// weightAlign is the alignment of each matrix in a Weights (a cache
// line, so that a matrix's first row does not share one with another's
// last).
const weightAlign = 64

// NewWeights returns room for matrices totalling size bytes (each padded
// to a cache line). Where the operating system offers huge pages (Linux
// transparent huge pages in "always" or "madvise" mode) the memory is
// backed by them.
func NewWeights(size int) *Weights {
	if size < 0 {
		size = 0
	}
	return &Weights{buf: allocWeights(size)}
}

// WeightsSize is the size NewWeights needs to hold matrices of these data
// lengths.
func WeightsSize(lens ...int) int {
	n := 0
	for _, l := range lens {
		n += (l + weightAlign - 1) &^ (weightAlign - 1)
	}
	return n
}

// Memory returns the bytes of the matrices added so far, in the order
// they were added (each padded to a cache line): the memory a pass through
// all of them streams, for a read probe over the same bytes
// (NewReadProbeOver). The matrices are views of it; it must not be written.
func (w *Weights) Memory() []byte { return w.buf[:w.used:w.used] }

// Add copies the rows of ms, one matrix after the other, into w and
// returns them as one matrix: a product with it computes the products of
// all of ms in one pass (y holds their outputs one after the other, per
// position), which is bit-identical to computing each on its own. All of
// ms must have the same type and number of columns. Pass a single matrix
// to copy it alone.
//
// If the selected kernels read the type faster with rows interleaved in
// groups of four (layout.go), the copy is stored so, provided each of ms
// but the last has a multiple of four rows: then each part is a whole
// number of groups, and RowRange returns it with the layout (results are
// the same bits in either layout), and provided rows are at most the
// kernel's ilMaxCols wide. A single matrix wider than that is stored in
// interleaved column panels instead (layout.go) if the kernel reads
// those and the width splits into equal panels; RowRange then returns it
// only whole.
func (w *Weights) Add(ms ...Matrix) (Matrix, error) {
	if len(ms) == 0 {
		return Matrix{}, fmt.Errorf("kernels: no matrices to add")
	}
	t, cols := ms[0].Type, ms[0].Cols
	rows, size := 0, 0
	unit, panel := 0, 0
	if k := active.get(t); k != nil && k.rowsIL != nil {
		switch {
		case cols <= k.ilMaxCols:
			unit = k.ilUnit
		case len(ms) == 1:
			if panel = panelWidth(t, cols, k.panelCols); panel != 0 {
				unit = k.ilUnit
			}
		}
	}
	for i, m := range ms {
		if m.Type != t || m.Cols != cols {
			return Matrix{}, fmt.Errorf("kernels: cannot join a %v matrix of %d columns with a %v one of %d", t, cols, m.Type, m.Cols)
		}
		rb, _ := m.check()
		rows += m.Rows
		size += m.Rows * rb
		if i < len(ms)-1 && m.Rows%ilRows(unit) != 0 {
			unit = 0
		}
	}
	padded := (size + weightAlign - 1) &^ (weightAlign - 1)
	if w.used+padded > len(w.buf) {
		return Matrix{}, fmt.Errorf("kernels: weights memory of %d bytes is full (%d used, %d more needed)", len(w.buf), w.used, padded)
	}
	dst := w.buf[w.used : w.used+size : w.used+size]
	off := 0
	rb, _ := ms[0].check()
	for _, m := range ms {
		n := m.Rows * rb
		if np, prb := m.panelGeometry(); np != 0 {
			fromPanels(dst[off:off+n], m.Data, m.Rows, prb, np, m.il, 0, m.Rows)
		} else if m.il != 0 {
			deinterleave4(dst[off:off+n], m.Data, rb, m.il, m.Rows)
		} else {
			copy(dst[off:off+n], m.Data)
		}
		off += n
	}
	collapseWeights(dst)
	w.used += padded
	joined, err := NewMatrix(t, rows, cols, dst)
	if err != nil || unit == 0 || rows < ilRows(unit) {
		return joined, err
	}
	if panel != 0 {
		joined.il, joined.panel = unit, panel
		np, prb := joined.panelGeometry()
		toPanels(dst, append([]byte(nil), dst...), rows, prb, np, unit)
		return joined, nil
	}
	interleave4(dst, rb, unit, rows, make([]byte, ilRows(unit)*rb))
	joined.il = unit
	return joined, nil
}
