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
func q4_KRowsSDOT(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q4_KRowsNEON(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)

func rowsQ8_0SDOT(y []float32, w []byte, rb int, a *actVec) {
	nb := len(a.d)
	forRows4(y, w, rb, func(y *float32, w *byte, rb, nrows int) float32 {
		var one [4]float32
		if y == nil {
			y = &one[0]
		}
		q8_0RowsSDOT(y, w, rb, nrows, &a.q[0], &a.d[0], nb)
		return one[0]
	})
}

func rowsQ8_0NEON(y []float32, w []byte, rb int, a *actVec) {
	nb := len(a.d)
	forRows4(y, w, rb, func(y *float32, w *byte, rb, nrows int) float32 {
		var one [4]float32
		if y == nil {
			y = &one[0]
		}
		q8_0RowsNEON(y, w, rb, nrows, &a.q[0], &a.d[0], nb)
		return one[0]
	})
}

func tileQ8_0SDOT(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
	tile4(y, ys, w, rb, nrows, 2, acts, rowsQ8_0SDOT, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
		q := [4]*int8{&g[0].q[0], &g[1].q[0], &g[2].q[0], &g[3].q[0]}
		if nrows == 1 {
			var one [8]float32
			q8_0TileSDOT(&one[0], 2, w, 0, 2, &q, &g[0].g4d[0], len(g[0].d))
			spread(y, ys, one[:], 2)
			return
		}
		q8_0TileSDOT(&y[0], ys, w, rb, nrows, &q, &g[0].g4d[0], len(g[0].d))
	})
}

func tileQ8_0NEON(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
	tile4(y, ys, w, rb, nrows, 2, acts, rowsQ8_0NEON, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
		q := [4]*int8{&g[0].q[0], &g[1].q[0], &g[2].q[0], &g[3].q[0]}
		if nrows == 1 {
			var one [8]float32
			q8_0TileNEON(&one[0], 2, w, 0, 2, &q, &g[0].g4d[0], len(g[0].d))
			spread(y, ys, one[:], 2)
			return
		}
		q8_0TileNEON(&y[0], ys, w, rb, nrows, &q, &g[0].g4d[0], len(g[0].d))
	})
}

// The Q4_K kernels compute one row per step; rows are contiguous, so one
// call covers them all.
func rowsQ4_KSDOT(y []float32, w []byte, rb int, a *actVec) {
	_ = w[len(y)*rb-1]
	q4_KRowsSDOT(&y[0], &w[0], len(y), &a.q[0], &a.d[0], &a.ks[0], len(a.d))
}

func rowsQ4_KNEON(y []float32, w []byte, rb int, a *actVec) {
	_ = w[len(y)*rb-1]
	q4_KRowsNEON(&y[0], &w[0], len(y), &a.q[0], &a.d[0], &a.ks[0], len(a.d))
}

//go:noescape
func q6_KRowsSDOT(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q6_KRowsNEON(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)

func rowsQ6_KSDOT(y []float32, w []byte, rb int, a *actVec) {
	_ = w[len(y)*rb-1]
	q6_KRowsSDOT(&y[0], &w[0], len(y), &a.q[0], &a.d[0], &a.ks[0], len(a.d))
}

func rowsQ6_KNEON(y []float32, w []byte, rb int, a *actVec) {
	_ = w[len(y)*rb-1]
	q6_KRowsNEON(&y[0], &w[0], len(y), &a.q[0], &a.d[0], &a.ks[0], len(a.d))
}
