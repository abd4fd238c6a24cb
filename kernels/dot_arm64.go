//go:build arm64 && !purego

package kernels

// Go side of the arm64 assembly kernels (neon_arm64.s); see dot_asm.go.

//go:noescape
func q8_0RowsSDOT(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, nb int)

//go:noescape
func q8_0RowsNEON(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, nb int)

//go:noescape
func q8_0TileSDOT(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, nb int)

//go:noescape
func q8_0TileNEON(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, nb int)

//go:noescape
func q4_0RowsSDOT(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, nb int)

//go:noescape
func q4_0RowsNEON(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, nb int)

//go:noescape
func q4_0TileSDOT(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, nb int)

//go:noescape
func q4_0TileNEON(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, nb int)

// bQuant names the kernels of the 32-value block types (Q8_0, Q4_0) of
// one level, which share one calling convention.
type bQuant int

const (
	bQ8SDOT bQuant = iota
	bQ8NEON
	bQ4SDOT
	bQ4NEON
)

// bRows is the row kernel of block type t: four rows per step. The
// assembly is called directly (not through a func value) so that the
// one-row result buffer stays on the stack.
func bRows(t bQuant) rowsDot {
	return func(y []float32, w []byte, rb int, a *actVec) {
		nb := len(a.d)
		forRows4(y, w, rb, func(y *float32, w *byte, rb, nrows int) float32 {
			var one [4]float32
			if y == nil {
				y = &one[0]
			}
			q, d := &a.q[0], &a.d[0]
			switch t {
			case bQ8SDOT:
				q8_0RowsSDOT(y, w, rb, nrows, q, d, nb)
			case bQ8NEON:
				q8_0RowsNEON(y, w, rb, nrows, q, d, nb)
			case bQ4SDOT:
				q4_0RowsSDOT(y, w, rb, nrows, q, d, nb)
			case bQ4NEON:
				q4_0RowsNEON(y, w, rb, nrows, q, d, nb)
			}
			return one[0]
		})
	}
}

var (
	rowsQ8_0SDOT = bRows(bQ8SDOT)
	rowsQ8_0NEON = bRows(bQ8NEON)
	rowsQ4_0SDOT = bRows(bQ4SDOT)
	rowsQ4_0NEON = bRows(bQ4NEON)
)

// bTile is the prefill tile of block type t: two rows × four positions
// per step.
func bTile(t bQuant, rows rowsDot) tileDot {
	return func(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
		tile4(y, ys, w, rb, nrows, 2, acts, rows, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
			q := [4]*int8{&g[0].q[0], &g[1].q[0], &g[2].q[0], &g[3].q[0]}
			var one [8]float32
			yp, ys1, rb1, n := &one[0], 2, 0, 2
			if nrows > 1 {
				yp, ys1, rb1, n = &y[0], ys, rb, nrows
			}
			d4, nb := &g[0].g4d[0], len(g[0].d)
			switch t {
			case bQ8SDOT:
				q8_0TileSDOT(yp, ys1, w, rb1, n, &q, d4, nb)
			case bQ8NEON:
				q8_0TileNEON(yp, ys1, w, rb1, n, &q, d4, nb)
			case bQ4SDOT:
				q4_0TileSDOT(yp, ys1, w, rb1, n, &q, d4, nb)
			case bQ4NEON:
				q4_0TileNEON(yp, ys1, w, rb1, n, &q, d4, nb)
			}
			if nrows == 1 {
				spread(y, ys, one[:], 2)
			}
		})
	}
}

var (
	tileQ8_0SDOT = bTile(bQ8SDOT, rowsQ8_0SDOT)
	tileQ8_0NEON = bTile(bQ8NEON, rowsQ8_0NEON)
	tileQ4_0SDOT = bTile(bQ4SDOT, rowsQ4_0SDOT)
	tileQ4_0NEON = bTile(bQ4NEON, rowsQ4_0NEON)
)

//go:noescape
func q4_KRowsSDOT(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q4_KRowsNEON(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q5_KRowsSDOT(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q5_KRowsNEON(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q6_KRowsSDOT(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q6_KRowsNEON(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)

// kQuant names the K-quant kernels of one level, which share one calling
// convention.
type kQuant int

const (
	kQ4SDOT kQuant = iota
	kQ4NEON
	kQ5SDOT
	kQ5NEON
	kQ6SDOT
	kQ6NEON
)

// kRows is the row kernel of K-quant t. The K-quant kernels compute one
// row per step; rows are contiguous, so one call covers them all. The
// assembly is called directly (not through a func value) so that its
// arguments need not escape.
func kRows(t kQuant) rowsDot {
	return func(y []float32, w []byte, rb int, a *actVec) {
		_ = w[len(y)*rb-1]
		yp, wp, n, q, d, ks, nb := &y[0], &w[0], len(y), &a.q[0], &a.d[0], &a.ks[0], len(a.d)
		switch t {
		case kQ4SDOT:
			q4_KRowsSDOT(yp, wp, n, q, d, ks, nb)
		case kQ4NEON:
			q4_KRowsNEON(yp, wp, n, q, d, ks, nb)
		case kQ5SDOT:
			q5_KRowsSDOT(yp, wp, n, q, d, ks, nb)
		case kQ5NEON:
			q5_KRowsNEON(yp, wp, n, q, d, ks, nb)
		case kQ6SDOT:
			q6_KRowsSDOT(yp, wp, n, q, d, ks, nb)
		case kQ6NEON:
			q6_KRowsNEON(yp, wp, n, q, d, ks, nb)
		}
	}
}

//go:noescape
func q4_KTileSDOT(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

//go:noescape
func q4_KTileNEON(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

//go:noescape
func q5_KTileSDOT(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

//go:noescape
func q5_KTileNEON(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

//go:noescape
func q6_KTileSDOT(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

//go:noescape
func q6_KTileNEON(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

// kTile is the prefill tile of K-quant t: one row × four positions per
// step, each super-block's weights unpacked once for the four; positions
// that do not fill a group of four go through rows.
func kTile(t kQuant, rows rowsDot) tileDot {
	return func(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
		tile4(y, ys, w, rb, nrows, 1, acts, rows, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
			q := [4]*int8{&g[0].q[0], &g[1].q[0], &g[2].q[0], &g[3].q[0]}
			yp, d4, k4, nb := &y[0], &g[0].g4d[0], &g[0].g4k[0], len(g[0].d)
			switch t {
			case kQ4SDOT:
				q4_KTileSDOT(yp, ys, w, nrows, &q, d4, k4, nb)
			case kQ4NEON:
				q4_KTileNEON(yp, ys, w, nrows, &q, d4, k4, nb)
			case kQ5SDOT:
				q5_KTileSDOT(yp, ys, w, nrows, &q, d4, k4, nb)
			case kQ5NEON:
				q5_KTileNEON(yp, ys, w, nrows, &q, d4, k4, nb)
			case kQ6SDOT:
				q6_KTileSDOT(yp, ys, w, nrows, &q, d4, k4, nb)
			case kQ6NEON:
				q6_KTileNEON(yp, ys, w, nrows, &q, d4, k4, nb)
			}
		})
	}
}
