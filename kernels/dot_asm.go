//go:build (amd64 || arm64) && !purego

package kernels

// Helpers shared by the assembly kernels of every architecture.
//
// Every assembly kernel keeps, per row and position, the arithmetic of
// the generic Go dot: each block's integer sum is exact (so the order in
// which SIMD lanes add it up does not matter), converted to float32 and
// combined with the scales in the same float32 operations, in block
// order. The rows (and positions) of a group sit in separate lanes of one
// float vector, so that order is kept for each of them, and a row's
// result does not depend on which group, call or thread computed it.

// forRows4 computes len(y) rows with f, which runs an assembly kernel
// computing nrows rows (a multiple of 4) of w at y. Rows left over after
// the whole groups are computed by repeating the last four rows (the
// overlap recomputes identical values). With fewer than four rows in all,
// forRows4 calls f(nil, row, 0, 4) for each row: f then computes the row
// four times over (rowBytes 0) into a scratch array declared in f — so
// that it stays on the stack, as the assembly's pointers do not escape —
// and returns the value.
func forRows4(y []float32, w []byte, rb int, f func(y *float32, w *byte, rb, nrows int) float32) {
	n := len(y)
	_ = w[n*rb-1]
	if n >= 4 {
		full := n &^ 3
		f(&y[0], &w[0], rb, full)
		if full < n {
			f(&y[n-4], &w[(n-4)*rb], rb, 4)
		}
		return
	}
	for i := range y {
		y[i] = f(nil, &w[i*rb], 0, 4)
	}
}

// forRowsIL is forRows4 for rows stored interleaved in groups of four
// with units of unit bytes (layout.go): f runs an assembly rows kernel
// over nrows rows (a multiple of 4), row r of a group starting rowStep
// bytes after row r-1, each row's units unitStep bytes apart and groups
// groupStep bytes apart, continuing from y's values if acc. The rows
// after the last whole group are stored one after the other; for each,
// forRowsIL calls f(nil, y[r], row, 0, 4, unit, 0), which computes it
// four times over into a scratch array of its own, starting from from if
// acc, and returns the value (see forRows4).
func forRowsIL(y []float32, w []byte, rb, unit int, acc bool, f func(y *float32, from float32, w *byte, rowStep, nrows, unitStep, groupStep int) float32) {
	n := len(y)
	_ = w[n*rb-1]
	full := n &^ (ilGroup - 1)
	if full > 0 {
		f(&y[0], 0, &w[0], unit, full, ilGroup*unit, ilGroup*rb)
	}
	for r := full; r < n; r++ {
		y[r] = f(nil, y[r], &w[r*rb], 0, 4, unit, 0)
	}
}

// accFlag is the acc argument of the assembly rows kernels.
func accFlag(acc bool) int {
	if acc {
		return 1
	}
	return 0
}

// dotOne computes one row with a rows kernel (the dot entry of a table;
// Pool calls use rows).
func dotOne(rows rowsDot) rowDot {
	return func(w []byte, a *actVec) float32 {
		var y [1]float32
		rows(y[:], w, len(w), a)
		return y[0]
	}
}

// tile4 computes nrows rows for every position of acts with f, which runs
// an assembly tile computing nrows rows × the four positions of g into y
// (position p of row r at y[p*ys+r]), in steps of step rows (1 or 2).
// Positions go in whole groups of four (prepTile has set g[0].g4d and
// g4k); with step 2, an odd last row is computed by repeating the last two
// rows, and a matrix of one row is passed as nrows 1: f then computes the
// row twice over (rowBytes 0) into a scratch array of its own and spreads
// it with spread. Positions left over after the groups of four go through
// rows.
func tile4(y []float32, ys int, w []byte, rb, nrows, step int, acts []actVec, rows rowsDot,
	f func(y []float32, ys int, w *byte, rb, nrows int, g []actVec)) {
	n := len(acts)
	_ = w[nrows*rb-1]
	p := 0
	for ; p+4 <= n; p += 4 {
		yp := y[p*ys:]
		_ = yp[3*ys+nrows-1]
		g := acts[p : p+4]
		switch {
		case step == 1 || nrows%2 == 0 || nrows == 1:
			f(yp, ys, &w[0], rb, nrows, g)
		default:
			f(yp, ys, &w[0], rb, nrows-1, g)
			f(yp[nrows-2:], ys, &w[(nrows-2)*rb], rb, 2, g)
		}
	}
	for ; p < n; p++ {
		rows(y[p*ys:p*ys+nrows], w, rb, &acts[p])
	}
}

// spread copies the scratch results of a single row computed as several
// copies (step lanes per position) to y[p*ys].
func spread(y []float32, ys int, v []float32, step int) {
	for p := 0; p < len(v)/step; p++ {
		y[p*ys] = v[p*step]
	}
}
