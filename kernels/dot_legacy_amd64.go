//go:build amd64 && !purego

package kernels

// Go side of the kernels of the legacy 32-value block types (Q4_0, Q4_1,
// Q5_0, Q5_1; legacy_amd64.s) for the AVX2, AVX-VNNI and AVX-512 VNNI
// levels, and of the VNNI ones of Q8_0 (which the same template makes).
// Every kernel has the same arguments: the last one, e, points to the
// activations' quant sums (Q8_0, Q4_0, Q5_0, whose weights are made
// unsigned by an offset) or to their s = d·Σq (Q4_1, Q5_1, whose blocks
// have a min).

// legacyQuant names a legacy block type.
type legacyQuant int

const (
	lQ4_0 legacyQuant = iota
	lQ4_1
	lQ5_0
	lQ5_1
	lQ8_0 // VNNI instruction sets only
)

// hasMin reports whether the type's blocks carry a min (Q8_1 activations).
func (t legacyQuant) hasMin() bool { return t == lQ4_1 || t == lQ5_1 }

// blockBytes is the size of one block of 32 values.
func (t legacyQuant) blockBytes() int {
	return [...]int{lQ4_0: 18, lQ4_1: 20, lQ5_0: 22, lQ5_1: 24, lQ8_0: 34}[t]
}

// x86ISA names how an amd64 kernel forms its byte products.
type x86ISA int

const (
	isaAVX2    x86ISA = iota // VPMADDUBSW + VPMADDWD
	isaAVXVNNI               // VEX VPDPBUSD (AVX-VNNI)
	isaVNNI                  // EVEX VPDPBUSD (AVX-512 VNNI + VL)
)

//go:noescape
func q4_0RowsAVX2(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *int32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q4_1RowsAVX2(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *float32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q5_0RowsAVX2(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *int32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q5_1RowsAVX2(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *float32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q4_0RowsAVXVNNI(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *int32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q4_1RowsAVXVNNI(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *float32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q5_0RowsAVXVNNI(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *int32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q5_1RowsAVXVNNI(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *float32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q4_0RowsVNNI(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *int32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q4_1RowsVNNI(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *float32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q5_0RowsVNNI(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *int32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q5_1RowsVNNI(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *float32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q8_0RowsAVXVNNI(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *int32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q8_0RowsVNNI(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *int32, nb int, blockStep, groupStep, acc int)

//go:noescape
func q8_0TileAVXVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *int32, nb int)

//go:noescape
func q4_0TileAVX2(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *int32, nb int)

//go:noescape
func q4_1TileAVX2(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *float32, nb int)

//go:noescape
func q5_0TileAVX2(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *int32, nb int)

//go:noescape
func q5_1TileAVX2(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *float32, nb int)

//go:noescape
func q4_0TileAVXVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *int32, nb int)

//go:noescape
func q4_1TileAVXVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *float32, nb int)

//go:noescape
func q5_0TileAVXVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *int32, nb int)

//go:noescape
func q5_1TileAVXVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *float32, nb int)

//go:noescape
func q4_1TileVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *float32, nb int)

//go:noescape
func q5_0TileVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *int32, nb int)

//go:noescape
func q5_1TileVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *float32, nb int)

//go:noescape
func q8_0Tile8AVXVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, t *int8, d16 *float32, e16 *int32, nb int)

//go:noescape
func q4_0Tile8AVXVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, t *int8, d16 *float32, e16 *int32, nb int)

//go:noescape
func q4_1Tile8AVXVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, t *int8, d16 *float32, e16 *float32, nb int)

//go:noescape
func q5_0Tile8AVXVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, t *int8, d16 *float32, e16 *int32, nb int)

//go:noescape
func q5_1Tile8AVXVNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, t *int8, d16 *float32, e16 *float32, nb int)

//go:noescape
func q4_1Tile8VNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, t *int8, d16 *float32, e16 *float32, nb int)

//go:noescape
func q5_0Tile8VNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, t *int8, d16 *float32, e16 *int32, nb int)

//go:noescape
func q5_1Tile8VNNI(y *float32, ystride int, w *byte, rowBytes, nrows int, t *int8, d16 *float32, e16 *float32, nb int)

// legacyRowsAsm runs the rows kernel of type t for instruction set s
// (rowStep, blockStep and groupStep as the template's rows kernel
// documents: plain or interleaved rows). It is called directly (not through a func value) so that escape analysis
// sees the pointers do not escape and callers' result buffers stay on
// the stack.
func legacyRowsAsm(t legacyQuant, s x86ISA, y *float32, w *byte, rowStep, nrows int, a *actVec, nb, blockStep, groupStep, acc int) {
	q, d := &a.q[0], &a.d[0]
	if t.hasMin() {
		e := &a.s[0]
		switch {
		case t == lQ4_1 && s == isaAVX2:
			q4_1RowsAVX2(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
		case t == lQ4_1 && s == isaAVXVNNI:
			q4_1RowsAVXVNNI(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
		case t == lQ4_1:
			q4_1RowsVNNI(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
		case s == isaAVX2:
			q5_1RowsAVX2(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
		case s == isaAVXVNNI:
			q5_1RowsAVXVNNI(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
		default:
			q5_1RowsVNNI(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
		}
		return
	}
	e := &a.sum[0]
	switch {
	case t == lQ8_0 && s == isaAVXVNNI:
		q8_0RowsAVXVNNI(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
	case t == lQ8_0:
		q8_0RowsVNNI(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
	case t == lQ4_0 && s == isaAVX2:
		q4_0RowsAVX2(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
	case t == lQ4_0 && s == isaAVXVNNI:
		q4_0RowsAVXVNNI(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
	case t == lQ4_0:
		q4_0RowsVNNI(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
	case s == isaAVX2:
		q5_0RowsAVX2(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
	case s == isaAVXVNNI:
		q5_0RowsAVXVNNI(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
	default:
		q5_0RowsVNNI(y, w, rowStep, nrows, q, d, e, nb, blockStep, groupStep, acc)
	}
}

// legacyTileAsm runs the tile kernel of type t for instruction set s on
// the group of four positions g (prepTile, and prepTileS for types with
// a min, have set g[0]'s interleaved fields). Q4_0 and Q8_0 have no
// AVX-512 tile here: that level uses the sixteen-position ones.
func legacyTileAsm(t legacyQuant, s x86ISA, y *float32, ys int, w *byte, rb, nrows int, g []actVec) {
	q := [4]*int8{&g[0].q[0], &g[1].q[0], &g[2].q[0], &g[3].q[0]}
	a := &g[0]
	d4, nb := &a.g4d[0], len(a.d)
	if t.hasMin() {
		e4 := &a.g4m[0]
		switch {
		case t == lQ4_1 && s == isaAVX2:
			q4_1TileAVX2(y, ys, w, rb, nrows, &q, d4, e4, nb)
		case t == lQ4_1 && s == isaAVXVNNI:
			q4_1TileAVXVNNI(y, ys, w, rb, nrows, &q, d4, e4, nb)
		case t == lQ4_1:
			q4_1TileVNNI(y, ys, w, rb, nrows, &q, d4, e4, nb)
		case s == isaAVX2:
			q5_1TileAVX2(y, ys, w, rb, nrows, &q, d4, e4, nb)
		case s == isaAVXVNNI:
			q5_1TileAVXVNNI(y, ys, w, rb, nrows, &q, d4, e4, nb)
		default:
			q5_1TileVNNI(y, ys, w, rb, nrows, &q, d4, e4, nb)
		}
		return
	}
	e4 := &a.g4s[0]
	switch {
	case t == lQ8_0:
		q8_0TileAVXVNNI(y, ys, w, rb, nrows, &q, d4, e4, nb)
	case t == lQ4_0 && s == isaAVXVNNI:
		q4_0TileAVXVNNI(y, ys, w, rb, nrows, &q, d4, e4, nb)
	case t == lQ4_0:
		q4_0TileAVX2(y, ys, w, rb, nrows, &q, d4, e4, nb)
	case s == isaAVX2:
		q5_0TileAVX2(y, ys, w, rb, nrows, &q, d4, e4, nb)
	case s == isaAVXVNNI:
		q5_0TileAVXVNNI(y, ys, w, rb, nrows, &q, d4, e4, nb)
	default:
		q5_0TileVNNI(y, ys, w, rb, nrows, &q, d4, e4, nb)
	}
}

// legacyTile8Asm runs the 8-position tile of type t for instruction set s
// (isaAVXVNNI, or isaVNNI for Q4_1, Q5_0 and Q5_1) on the group of
// sixteen positions whose first is a (prepTile16, and prepTileS for
// types with a min, have set its fields): positions 0..7 to y0, 8..15 to
// y1.
func legacyTile8Asm(t legacyQuant, s x86ISA, y0, y1 *float32, ys int, w *byte, rb, nrows int, a *actVec) {
	nb := len(a.d)
	for h := 0; h < 2; h++ {
		y, tq, d := y0, &a.t16[32*h], &a.d16[8*h]
		if h == 1 {
			y = y1
		}
		if t.hasMin() {
			e := &a.m16[8*h]
			switch {
			case t == lQ4_1 && s == isaAVXVNNI:
				q4_1Tile8AVXVNNI(y, ys, w, rb, nrows, tq, d, e, nb)
			case t == lQ4_1:
				q4_1Tile8VNNI(y, ys, w, rb, nrows, tq, d, e, nb)
			case s == isaAVXVNNI:
				q5_1Tile8AVXVNNI(y, ys, w, rb, nrows, tq, d, e, nb)
			default:
				q5_1Tile8VNNI(y, ys, w, rb, nrows, tq, d, e, nb)
			}
			continue
		}
		e := &a.s16[8*h]
		switch {
		case t == lQ8_0:
			q8_0Tile8AVXVNNI(y, ys, w, rb, nrows, tq, d, e, nb)
		case t == lQ4_0:
			q4_0Tile8AVXVNNI(y, ys, w, rb, nrows, tq, d, e, nb)
		case s == isaAVXVNNI:
			q5_0Tile8AVXVNNI(y, ys, w, rb, nrows, tq, d, e, nb)
		default:
			q5_0Tile8VNNI(y, ys, w, rb, nrows, tq, d, e, nb)
		}
	}
}

// legacyTile8 is the prefill tile of type t for instruction set s with
// sixteen positions per step (two calls of eight), rows in groups of
// four (see tile16); positions left over go to rest.
func legacyTile8(t legacyQuant, s x86ISA, rest tileDot) tileDot {
	return func(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
		tile16(y, ys, w, rb, nrows, acts, rest, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
			if nrows == 1 {
				var one [64]float32
				legacyTile8Asm(t, s, &one[0], &one[32], 4, w, 0, 4, &g[0])
				spread(y, ys, one[:], 4)
				return
			}
			legacyTile8Asm(t, s, &y[0], &y[8*ys], ys, w, rb, nrows, &g[0])
		})
	}
}

// legacyRows is the rows kernel of type t for instruction set s: groups
// of four rows per assembly call.
func legacyRows(t legacyQuant, s x86ISA) rowsDot {
	return func(y []float32, w []byte, rb int, a *actVec) {
		nb := len(a.d)
		forRows4(y, w, rb, func(y *float32, w *byte, rb, nrows int) float32 {
			var one [4]float32
			if y == nil {
				y = &one[0]
			}
			legacyRowsAsm(t, s, y, w, rb, nrows, a, nb, t.blockBytes(), 4*rb, 0)
			return one[0]
		})
	}
}

// legacyRowsIL is legacyRows for rows interleaved by block in groups of
// four (layout.go): each group is one run of 4·blockBytes bytes per
// block. The rows after the last group are stored one after the other
// and computed one at a time. Only types without mins continue sums
// (acc): their sum is one chain per row.
func legacyRowsIL(t legacyQuant, s x86ISA) rowsILDot {
	if t.hasMin() {
		panic("kernels: interleaved rows of a type with mins")
	}
	return func(y []float32, w []byte, rb int, a *actVec, acc bool) {
		nb := len(a.d)
		forRowsIL(y, w, rb, t.blockBytes(), acc, func(y *float32, from float32, w *byte, rowStep, nrows, blockStep, groupStep int) float32 {
			one := [4]float32{from, from, from, from}
			if y == nil {
				y = &one[0]
			}
			legacyRowsAsm(t, s, y, w, rowStep, nrows, a, nb, blockStep, groupStep, accFlag(acc))
			return one[0]
		})
	}
}

// legacyTile is the prefill tile of type t for instruction set s (two
// rows × four positions), falling back to rows for what does not fill a
// tile.
func legacyTile(t legacyQuant, s x86ISA, rows rowsDot) tileDot {
	return func(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
		tile4(y, ys, w, rb, nrows, 2, acts, rows, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
			if nrows == 1 {
				var one [8]float32
				legacyTileAsm(t, s, &one[0], 2, w, 0, 2, g)
				spread(y, ys, one[:], 2)
				return
			}
			legacyTileAsm(t, s, &y[0], ys, w, rb, nrows, g)
		})
	}
}

// legacyKernel is the table entry of type t for instruction set s, named
// after the level. With VNNI, prefill uses the 8-position tiles (Q8_0 and
// Q4_0 have AVX-512 ones of sixteen positions, see avx512Kernels).
func legacyKernel(t legacyQuant, s x86ISA, name string) kernel {
	rows := legacyRows(t, s)
	k := kernel{act: actQ8_0, dot: dotOne(rows), rows: rows, tile: legacyTile(t, s, rows), name: name}
	if s != isaAVX2 {
		k.tile = legacyTile8(t, s, k.tile)
		k.prep = prepTile16
	}
	if t.hasMin() {
		k.act = actQ8_1
		k.prep = prepTileS
		if s != isaAVX2 {
			k.prep = func(acts []actVec) {
				prepTile16(acts)
				prepTileS(acts)
			}
		}
	}
	return k
}

// prepTileS sets g4m on the first position of each whole group of four
// in acts, and m16 on that of each group of sixteen (Q8_1 activations;
// see actVec).
func prepTileS(acts []actVec) {
	for _, step := range [2]int{4, 16} {
		for j := 0; j+step <= len(acts); j += step {
			g := acts[j : j+step]
			a := &g[0]
			nb := len(a.d)
			m := &a.g4m
			if step == 16 {
				m = &a.m16
			}
			*m = growF32(*m, step*nb)
			for i := range g {
				for b, v := range g[i].s[:nb] {
					(*m)[step*b+i] = v
				}
			}
		}
	}
}
