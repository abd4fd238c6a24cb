//go:build arm64 && !purego

package kernels

// Go side of the arm64 float kernels (float_arm64.s): the assembly
// computes whole rows, the columns after the last run of eight included,
// so the wrappers only group rows and positions (forRows4, tile4).

//go:noescape
func f32RowsNEON(y *float32, w *byte, rowBytes, nrows int, x *float32, n int)

//go:noescape
func f16RowsNEON(y *float32, w *byte, rowBytes, nrows int, x *float32, n int)

//go:noescape
func bf16RowsNEON(y *float32, w *byte, rowBytes, nrows int, x *float32, n int)

//go:noescape
func f32TileNEON(y *float32, ystride int, w *byte, rowBytes, nrows int, x *[4]*float32, n int)

//go:noescape
func f16TileNEON(y *float32, ystride int, w *byte, rowBytes, nrows int, x *[4]*float32, n int)

//go:noescape
func bf16TileNEON(y *float32, ystride int, w *byte, rowBytes, nrows int, x *[4]*float32, n int)

// fKind names the weight type of a float kernel.
type fKind int

const (
	fF32 fKind = iota
	fF16
	fBF16
)

// fRows is the row kernel of float type t: four rows per step. The
// assembly is called directly (not through a func value) so that the
// one-row result buffer stays on the stack.
func fRows(t fKind) rowsDot {
	return func(y []float32, w []byte, rb int, a *actVec) {
		x, n := &a.f[0], len(a.f)
		forRows4(y, w, rb, func(y *float32, w *byte, rb, nrows int) float32 {
			var one [4]float32
			if y == nil {
				y = &one[0]
			}
			switch t {
			case fF32:
				f32RowsNEON(y, w, rb, nrows, x, n)
			case fF16:
				f16RowsNEON(y, w, rb, nrows, x, n)
			case fBF16:
				bf16RowsNEON(y, w, rb, nrows, x, n)
			}
			return one[0]
		})
	}
}

var (
	rowsF32NEON  = fRows(fF32)
	rowsF16NEON  = fRows(fF16)
	rowsBF16NEON = fRows(fBF16)
)

// fTile is the prefill tile of float type t: two rows × four positions
// per step, each run of eight weights loaded and converted once for the
// four positions.
func fTile(t fKind, rows rowsDot) tileDot {
	return func(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
		tile4(y, ys, w, rb, nrows, 2, acts, rows, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
			n := len(g[0].f)
			x := [4]*float32{&g[0].f[0], &g[1].f[0], &g[2].f[0], &g[3].f[0]}
			_, _, _ = g[1].f[n-1], g[2].f[n-1], g[3].f[n-1]
			var one [8]float32
			yp, ys1, rb1, nr := &one[0], 2, 0, 2
			if nrows > 1 {
				yp, ys1, rb1, nr = &y[0], ys, rb, nrows
			}
			switch t {
			case fF32:
				f32TileNEON(yp, ys1, w, rb1, nr, &x, n)
			case fF16:
				f16TileNEON(yp, ys1, w, rb1, nr, &x, n)
			case fBF16:
				bf16TileNEON(yp, ys1, w, rb1, nr, &x, n)
			}
			if nrows == 1 {
				spread(y, ys, one[:], 2)
			}
		})
	}
}

var (
	tileF32NEON  = fTile(fF32, rowsF32NEON)
	tileF16NEON  = fTile(fF16, rowsF16NEON)
	tileBF16NEON = fTile(fBF16, rowsBF16NEON)
)
