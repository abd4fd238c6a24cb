//go:build amd64 && !purego

package kernels

// Go side of the AVX-512 (VNNI) kernels; see dot_amd64.go.

// rowsQ8_0VNNI is the legacy template's (dot_legacy_amd64.go).
var rowsQ8_0VNNI = legacyRows(lQ8_0, isaVNNI)

var dotQ8_0VNNI = dotOne(rowsQ8_0VNNI)

//go:noescape
func q8_0Tile16VNNI(y *float32, ystride int, w *byte, rowStep, nrows int, t *int8, d16 *float32, s16 *int32, nb int, blockStep, groupFix, panelBlocks, panelJump int)

// tile16 computes nrows rows for every position of acts with f, which
// runs an assembly tile computing nrows rows (a multiple of 4) × the
// sixteen positions of g (prepTile16 has set g[0].t16...) into y
// (position p of row r at y[p*ys+r]). Rows left over after the groups of
// four are computed by repeating the last four rows (identical values); a
// matrix of fewer than four rows is passed row by row as nrows 1, which f
// computes four times over (rowBytes 0) into a scratch array of its own
// and spreads. Positions after the last whole group of sixteen go to rest.
func tile16(y []float32, ys int, w []byte, rb, nrows int, acts []actVec, rest tileDot,
	f func(y []float32, ys int, w *byte, rb, nrows int, g []actVec)) {
	n := len(acts)
	_ = w[nrows*rb-1]
	p := 0
	if ys < 1<<26 { // the scatter indices p*ys are int32
		for ; p+16 <= n; p += 16 {
			yp := y[p*ys:]
			_ = yp[15*ys+nrows-1]
			g := acts[p : p+16]
			if nrows >= 4 {
				full := nrows &^ 3
				f(yp, ys, &w[0], rb, full, g)
				if full < nrows {
					f(yp[nrows-4:], ys, &w[(nrows-4)*rb], rb, 4, g)
				}
				continue
			}
			for r := 0; r < nrows; r++ {
				f(yp[r:], ys, &w[r*rb], rb, 1, g)
			}
		}
	}
	if p < n {
		rest(y[p*ys:], ys, w, rb, nrows, acts[p:])
	}
}

func tileQ8_0VNNI(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
	tile16(y, ys, w, rb, nrows, acts, tileQ8_0AVX2, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
		a := &g[0]
		if nrows == 1 {
			var one [64]float32
			q8_0Tile16VNNI(&one[0], 4, w, 0, 4, &a.t16[0], &a.d16[0], &a.s16[0], len(a.d), 34, 0, len(a.d), 0)
			spread(y, ys, one[:], 4)
			return
		}
		q8_0Tile16VNNI(&y[0], ys, w, rb, nrows, &a.t16[0], &a.d16[0], &a.s16[0], len(a.d), 34, 0, len(a.d), 0)
	})
}

//go:noescape
func q4_0Tile16VNNI(y *float32, ystride int, w *byte, rowStep, nrows int, t *int8, d16 *float32, s16 *int32, nb int, blockStep, groupFix, panelBlocks, panelJump int)

func tileQ4_0VNNI(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
	tile16(y, ys, w, rb, nrows, acts, tileQ4_0AVX2, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
		a := &g[0]
		if nrows == 1 {
			var one [64]float32
			q4_0Tile16VNNI(&one[0], 4, w, 0, 4, &a.t16[0], &a.d16[0], &a.s16[0], len(a.d), 18, 0, len(a.d), 0)
			spread(y, ys, one[:], 4)
			return
		}
		q4_0Tile16VNNI(&y[0], ys, w, rb, nrows, &a.t16[0], &a.d16[0], &a.s16[0], len(a.d), 18, 0, len(a.d), 0)
	})
}

// The 32-value block types whose rows Weights.Add interleaves by block
// at this level (layout.go): their rows kernels are the legacy
// template's, which take the steps of either layout.
var (
	rowsQ8_0VNNIIL = legacyRowsIL(lQ8_0, isaVNNI)
	rowsQ4_0VNNIIL = legacyRowsIL(lQ4_0, isaVNNI)
)

func tilePanelsQ8_0VNNI(y []float32, ys int, data []byte, rows, prb, np, r0, r1 int, acts []actVec) int {
	return tile16Panels(lQ8_0, y, ys, data, rows, prb, np, r0, r1, acts)
}

func tilePanelsQ4_0VNNI(y []float32, ys int, data []byte, rows, prb, np, r0, r1 int, acts []actVec) int {
	return tile16Panels(lQ4_0, y, ys, data, rows, prb, np, r0, r1, acts)
}

func tileQ8_0VNNIIL(y []float32, ys int, w []byte, rb, nrows int, acts []actVec, plain []byte) {
	tile16IL(lQ8_0, tileQ8_0AVX2, y, ys, w, rb, nrows, acts, plain)
}

func tileQ4_0VNNIIL(y []float32, ys int, w []byte, rb, nrows int, acts []actVec, plain []byte) {
	tile16IL(lQ4_0, tileQ4_0AVX2, y, ys, w, rb, nrows, acts, plain)
}

// tile16AsmPanels runs the 16-position tile of t (Q8_0 or Q4_0; steps
// as q8_0Tile16VNNI documents) for rows whose blocks lie in runs of
// panelBlocks blocks, panelJump bytes apart after each run (column
// panels, layout.go; panelBlocks = len(a.d) for whole rows). It is
// called directly (not through a func value) so that callers' result
// buffers stay on the stack.
func tile16AsmPanels(t legacyQuant, y *float32, ys int, w *byte, rowStep, nrows int, a *actVec, blockStep, groupFix, panelBlocks, panelJump int) {
	if t == lQ8_0 {
		q8_0Tile16VNNI(y, ys, w, rowStep, nrows, &a.t16[0], &a.d16[0], &a.s16[0], len(a.d), blockStep, groupFix, panelBlocks, panelJump)
		return
	}
	q4_0Tile16VNNI(y, ys, w, rowStep, nrows, &a.t16[0], &a.d16[0], &a.s16[0], len(a.d), blockStep, groupFix, panelBlocks, panelJump)
}

// tile16Panels computes the positions of acts in whole groups of sixteen
// for rows [r0, r1) of a matrix of rows rows stored in np column panels
// (layout.go; data holds all of them, each an interleaved matrix of rows
// of prb bytes), whole rows at a time: the tile runs through a row's
// blocks panel after panel, so its sums never leave the registers. It
// returns how many positions it computed; the rest need plain rows.
func tile16Panels(t legacyQuant, y []float32, ys int, data []byte, rows, prb, np, r0, r1 int, acts []actVec) int {
	bb := t.blockBytes()
	n := len(acts)
	nbp := prb / bb
	stride := rows * prb // from a panel to the next
	_ = data[np*stride-1]
	nrows := r1 - r0
	// Rows before the last whole group are interleaved (r0 starts one).
	full := max(min(r1, rows&^(ilGroup-1))-r0, 0)
	if ys >= 1<<26 { // the scatter indices p*ys are int32
		return 0
	}
	p := 0
	for ; p+16 <= n; p += 16 {
		yp := y[p*ys:]
		_ = yp[15*ys+nrows-1]
		a := &acts[p]
		if full > 0 {
			// A group's run in a panel is nbp·4·bb bytes.
			tile16AsmPanels(t, &yp[0], ys, &data[r0*prb], bb, full, a, ilGroup*bb, ilGroup*(prb-bb), nbp, stride-nbp*ilGroup*bb)
		}
		for r := r0 + full; r < r1; r++ {
			// Stored as they are: a row's run in a panel is prb bytes.
			var one [64]float32
			tile16AsmPanels(t, &one[0], 4, &data[r*prb], 0, 4, a, bb, 0, nbp, stride-prb)
			spread(yp[r-r0:], ys, one[:], 4)
		}
	}
	return p
}

// tile16IL is the prefill tile of t (Q8_0 or Q4_0) for rows interleaved
// by block in groups of four (layout.go): the 16-position tile computes
// the whole groups and, one at a time (four times over, into a scratch
// array), the rows after the last group, which are stored one after the
// other. Positions after the last group of sixteen go to rest with the
// rows de-interleaved into plain.
func tile16IL(t legacyQuant, rest tileDot, y []float32, ys int, w []byte, rb, nrows int, acts []actVec, plain []byte) {
	// One panel holding the whole rows.
	p := tile16Panels(t, y, ys, w, nrows, rb, 1, 0, nrows, acts)
	if p < len(acts) {
		plain = plain[:nrows*rb]
		deinterleave4(plain, w, rb, t.blockBytes(), nrows)
		rest(y[p*ys:], ys, plain, rb, nrows, acts[p:])
	}
}

//go:noescape
func q4_KTile16VNNI(y *float32, ystride int, w *byte, nrows int, t *int8, d16 *float32, k16 *int16, nb int)

func tileQ4_KVNNI(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
	if p := tilesQ4_K16(y, ys, w, rb, nrows, acts); p < len(acts) {
		tileQ4_KAVX2(y[p*ys:], ys, w, rb, nrows, acts[p:])
	}
}

// tilesQ4_K16 computes nrows rows of w, stored one after the other, for
// the whole groups of sixteen positions of acts, and returns how many
// positions it computed.
func tilesQ4_K16(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) int {
	n := len(acts)
	_ = w[nrows*rb-1]
	p := 0
	if ys >= 1<<26 { // the scatter indices p*ys are int32
		return 0
	}
	for ; p+16 <= n; p += 16 {
		yp := y[p*ys:]
		_ = yp[15*ys+nrows-1]
		a := &acts[p]
		q4_KTile16VNNI(&yp[0], ys, &w[0], nrows, &a.t16[0], &a.d16[0], &a.k16[0], len(a.d))
	}
	return p
}

//go:noescape
func q4_KRowsVNNI(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)

var dotQ4_KVNNI = dotOne(rowsQ4_KVNNI)

func rowsQ4_KVNNI(y []float32, w []byte, rb int, a *actVec) {
	nb := len(a.d)
	forRows4(y, w, rb, func(y *float32, w *byte, rb, nrows int) float32 {
		var one [4]float32
		if y == nil {
			y = &one[0]
		}
		q4_KRowsVNNI(y, w, nrows, &a.qz[0], &a.d[0], &a.ks[0], nb)
		return one[0]
	})
}

//go:noescape
func q4_KLanesVNNI(y *float32, w *byte, ngroups int, q *int8, d *float32, ks *int16, nb int)

// rowsQ4_KLanesVNNI is rowsQ4_KVNNI for rows stored in the ilQ4KLanes
// layout (layout.go): whole groups of sixteen by q4_KLanesVNNI, the rows
// after them (stored one after the other) by the four-row kernel. The
// layout is never stored in column panels, so acc is never set.
func rowsQ4_KLanesVNNI(y []float32, w []byte, rb int, a *actVec, acc bool) {
	if acc {
		panic("kernels: Q4_K rows in lanes are not stored in column panels")
	}
	n := len(y)
	full := n &^ 15
	if full > 0 {
		_ = w[full*rb-1]
		_ = a.ks[16]
		q4_KLanesVNNI(&y[0], &w[0], full/16, &a.q[0], &a.d[0], &a.ks[16], len(a.d))
	}
	if full < n {
		rowsQ4_KVNNI(y[full:], w[full*rb:n*rb], rb, a)
	}
}

//go:noescape
func q6_KTile16VNNI(y *float32, ystride int, w *byte, nrows int, t *int8, d16 *float32, k16 *int16, nb int)

func tileQ6_KVNNI(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
	n := len(acts)
	_ = w[nrows*rb-1]
	p := 0
	if ys < 1<<26 { // the scatter indices p*ys are int32
		for ; p+16 <= n; p += 16 {
			yp := y[p*ys:]
			_ = yp[15*ys+nrows-1]
			a := &acts[p]
			q6_KTile16VNNI(&yp[0], ys, &w[0], nrows, &a.t16[0], &a.d16[0], &a.k16[0], len(a.d))
		}
	}
	if p < n {
		tileQ6_KAVX2(y[p*ys:], ys, w, rb, nrows, acts[p:])
	}
}

//go:noescape
func q5_KTile16VNNI(y *float32, ystride int, w *byte, nrows int, t *int8, d16 *float32, k16 *int16, nb int)

func tileQ5_KVNNI(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
	n := len(acts)
	_ = w[nrows*rb-1]
	p := 0
	if ys < 1<<26 { // the scatter indices p*ys are int32
		for ; p+16 <= n; p += 16 {
			yp := y[p*ys:]
			_ = yp[15*ys+nrows-1]
			a := &acts[p]
			q5_KTile16VNNI(&yp[0], ys, &w[0], nrows, &a.t16[0], &a.d16[0], &a.k16[0], len(a.d))
		}
	}
	if p < n {
		tileQ5_KAVX2(y[p*ys:], ys, w, rb, nrows, acts[p:])
	}
}

var rowsQ4_0VNNI = legacyRows(lQ4_0, isaVNNI)
