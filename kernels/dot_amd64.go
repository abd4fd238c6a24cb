//go:build amd64 && !purego

package kernels

import "github.com/tessera-net/tessera/quant"

// Go side of the amd64 assembly kernels (AVX2 level; the AVX-512 ones
// are in dot_avx512_amd64.go). Each assembly function computes whole
// groups of rows (4 per step for one position; 2 or 1 rows × 4 positions
// for tiles); the helpers in dot_asm.go cut the work into such groups and
// handle the rows and positions left over.

//go:noescape
func q8_0TileAVX2(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, nb int)

func tileQ8_0AVX2(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
	tile4(y, ys, w, rb, nrows, 2, acts, rowsQ8_0AVX2, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
		q := [4]*int8{&g[0].q[0], &g[1].q[0], &g[2].q[0], &g[3].q[0]}
		if nrows == 1 {
			var one [8]float32
			q8_0TileAVX2(&one[0], 2, w, 0, 2, &q, &g[0].g4d[0], len(g[0].d))
			spread(y, ys, one[:], 2)
			return
		}
		q8_0TileAVX2(&y[0], ys, w, rb, nrows, &q, &g[0].g4d[0], len(g[0].d))
	})
}

//go:noescape
func q8_0RowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, nb int)

var dotQ8_0AVX2 = dotOne(rowsQ8_0AVX2)

func rowsQ8_0AVX2(y []float32, w []byte, rb int, a *actVec) {
	nb := len(a.d)
	forRows4(y, w, rb, func(y *float32, w *byte, rb, nrows int) float32 {
		var one [4]float32
		if y == nil {
			y = &one[0]
		}
		q8_0RowsAVX2(y, w, rb, nrows, &a.q[0], &a.d[0], nb)
		return one[0]
	})
}

//go:noescape
func q4_KRowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)

var dotQ4_KAVX2 = dotOne(rowsQ4_KAVX2)

var rowsQ4_KAVX2 = kRows(kQ4, isaAVX2)

//go:noescape
func q4_KTileAVX2(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

var tileQ4_KAVX2 = kTile(kQ4, isaAVX2, rowsQ4_KAVX2)

//go:noescape
func q6_KRowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q6_KTileAVX2(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

var dotQ6_KAVX2 = dotOne(rowsQ6_KAVX2)

var rowsQ6_KAVX2 = kRows(kQ6, isaAVX2)

var tileQ6_KAVX2 = kTile(kQ6, isaAVX2, rowsQ6_KAVX2)

//go:noescape
func q5_KRowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q5_KTileAVX2(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

var dotQ5_KAVX2 = dotOne(rowsQ5_KAVX2)

var rowsQ5_KAVX2 = kRows(kQ5, isaAVX2)

var tileQ5_KAVX2 = kTile(kQ5, isaAVX2, rowsQ5_KAVX2)

// The Q4_0 kernels are legacy ones (dot_legacy_amd64.go); the avx512
// level's sixteen-position tile falls back to tileQ4_0AVX2.
var (
	rowsQ4_0AVX2 = legacyRows(lQ4_0, isaAVX2)
	tileQ4_0AVX2 = legacyTile(lQ4_0, isaAVX2, rowsQ4_0AVX2)
)

//go:noescape
func f32RowsAVX2(y *float32, w *byte, rowBytes, nrows int, x *float32, n8 int)

//go:noescape
func f16RowsAVX2(y *float32, w *byte, rowBytes, nrows int, x *float32, n8 int)

var dotF32AVX2 = dotOne(rowsF32AVX2)

// rowsF32AVX2 runs the assembly over the whole 8-column runs, then adds
// the remaining columns of each row in order, as dotF32Bytes does.
func rowsF32AVX2(y []float32, w []byte, rb int, a *actVec) {
	x := a.f
	n8 := len(x) / 8
	if n8 > 0 {
		forRows4(y, w, rb, func(y *float32, w *byte, rb, nrows int) float32 {
			var one [4]float32
			if y == nil {
				y = &one[0]
			}
			f32RowsAVX2(y, w, rb, nrows, &x[0], n8)
			return one[0]
		})
	} else {
		clear(y)
	}
	floatTail(quant.F32, y, w, rb, x, 8*n8)
}

var dotF16AVX2 = dotOne(rowsF16AVX2)

func rowsF16AVX2(y []float32, w []byte, rb int, a *actVec) {
	x := a.f
	n8 := len(x) / 8
	if n8 > 0 {
		forRows4(y, w, rb, func(y *float32, w *byte, rb, nrows int) float32 {
			var one [4]float32
			if y == nil {
				y = &one[0]
			}
			f16RowsAVX2(y, w, rb, nrows, &x[0], n8)
			return one[0]
		})
	} else {
		clear(y)
	}
	floatTail(quant.F16, y, w, rb, x, 8*n8)
}

//go:noescape
func quantQ8_0AVX2(x *float32, q *int8, d *float32, sum *int32, nb int)

//go:noescape
func quantQ8_KAVX2(x *float32, q *int8, d *float32, bsums *int32, nb int)

// quantQ8_0AVX2Act is quantQ8_0(a, x, false) in assembly.
func quantQ8_0AVX2Act(a *actVec, x []float32) {
	nb := len(x) / 32
	a.d = growF32(a.d, nb)
	a.sum = growI32(a.sum, nb)
	if nb > 0 {
		_, _ = a.q[32*nb-1], x[32*nb-1]
		quantQ8_0AVX2(&x[0], &a.q[0], &a.d[0], &a.sum[0], nb)
	}
}

// quantQ8_KAVX2Act is quantQ8_K(a, x) in assembly.
func quantQ8_KAVX2Act(a *actVec, x []float32) {
	nb := len(x) / 256
	a.d = growF32(a.d, nb)
	a.sum = growI32(a.sum, 16*nb)
	if nb > 0 {
		_, _ = a.q[256*nb-1], x[256*nb-1]
		quantQ8_KAVX2(&x[0], &a.q[0], &a.d[0], &a.sum[0], nb)
	}
}

//go:noescape
func bf16RowsAVX2(y *float32, w *byte, rowBytes, nrows int, x *float32, n8 int)

var dotBF16AVX2 = dotOne(rowsBF16AVX2)

func rowsBF16AVX2(y []float32, w []byte, rb int, a *actVec) {
	x := a.f
	n8 := len(x) / 8
	if n8 > 0 {
		forRows4(y, w, rb, func(y *float32, w *byte, rb, nrows int) float32 {
			var one [4]float32
			if y == nil {
				y = &one[0]
			}
			bf16RowsAVX2(y, w, rb, nrows, &x[0], n8)
			return one[0]
		})
	} else {
		clear(y)
	}
	floatTail(quant.BF16, y, w, rb, x, 8*n8)
}

// kQuant names the K-quant kernels, which share one calling convention.
type kQuant int

const (
	kQ4 kQuant = iota
	kQ5
	kQ6
)

//go:noescape
func q4_KRowsAVXVNNI(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q4_KTileAVXVNNI(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

//go:noescape
func q5_KRowsAVXVNNI(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q5_KTileAVXVNNI(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

//go:noescape
func q6_KRowsAVXVNNI(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)

//go:noescape
func q6_KTileAVXVNNI(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)

// The avxvnni level's K-quant kernels: the AVX2 ones with VPDPWSSD
// (q4_k_amd64.s, q6_k_amd64.s).
var (
	rowsQ6_KAVXVNNI = kRows(kQ6, isaAVXVNNI)
	tileQ6_KAVXVNNI = kTile(kQ6, isaAVXVNNI, rowsQ6_KAVXVNNI)
	rowsQ4_KAVXVNNI = kRows(kQ4, isaAVXVNNI)
	tileQ4_KAVXVNNI = kTile(kQ4, isaAVXVNNI, rowsQ4_KAVXVNNI)
	// tile8Q4_KAVXVNNI does prefill in groups of sixteen positions.
	tile8Q4_KAVXVNNI = kTile8(tileQ4_KAVXVNNI)
	rowsQ5_KAVXVNNI  = kRows(kQ5, isaAVXVNNI)
	tileQ5_KAVXVNNI  = kTile(kQ5, isaAVXVNNI, rowsQ5_KAVXVNNI)
)

//go:noescape
func q4_KTile8AVXVNNI(y *float32, ystride int, w *byte, nrows int, t *int8, d16 *float32, k16 *int16, nb int)

// kTile8 is the avxvnni level's Q4_K prefill: sixteen positions per step
// (prepTile16 has laid them out) in two calls of eight, each position in
// a lane (q4_k_avxvnni_amd64.s); positions left over go to rest.
func kTile8(rest tileDot) tileDot {
	return func(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
		n := len(acts)
		_ = w[nrows*rb-1]
		p := 0
		for ; p+16 <= n; p += 16 {
			yp := y[p*ys:]
			_ = yp[15*ys+nrows-1]
			a := &acts[p]
			nb := len(a.d)
			q4_KTile8AVXVNNI(&yp[0], ys, &w[0], nrows, &a.t16[0], &a.d16[0], &a.k16[0], nb)
			q4_KTile8AVXVNNI(&yp[8*ys], ys, &w[0], nrows, &a.t16[32], &a.d16[8], &a.k16[16], nb)
		}
		if p < n {
			rest(y[p*ys:], ys, w, rb, nrows, acts[p:])
		}
	}
}

// kRows is the row kernel of K-quant t for instruction set s (isaAVX2 or
// isaAVXVNNI): groups of up to four rows per
// assembly call. The assembly functions are called directly (not through a
// func value) so that the one-row result buffer stays on the stack.
func kRows(t kQuant, s x86ISA) func(y []float32, w []byte, rb int, a *actVec) {
	return func(y []float32, w []byte, rb int, a *actVec) {
		nb := len(a.d)
		forRows4(y, w, rb, func(y *float32, w *byte, rb, nrows int) float32 {
			var one [4]float32
			if y == nil {
				y = &one[0]
			}
			switch {
			case t == kQ4 && s == isaAVXVNNI:
				q4_KRowsAVXVNNI(y, w, rb, nrows, &a.q[0], &a.d[0], &a.ks[0], nb)
			case t == kQ5 && s == isaAVXVNNI:
				q5_KRowsAVXVNNI(y, w, rb, nrows, &a.q[0], &a.d[0], &a.ks[0], nb)
			case t == kQ4:
				q4_KRowsAVX2(y, w, rb, nrows, &a.q[0], &a.d[0], &a.ks[0], nb)
			case t == kQ5:
				q5_KRowsAVX2(y, w, rb, nrows, &a.q[0], &a.d[0], &a.ks[0], nb)
			case t == kQ6 && s == isaAVXVNNI:
				q6_KRowsAVXVNNI(y, w, rb, nrows, &a.q[0], &a.d[0], &a.ks[0], nb)
			case t == kQ6:
				q6_KRowsAVX2(y, w, rb, nrows, &a.q[0], &a.d[0], &a.ks[0], nb)
			}
			return one[0]
		})
	}
}

// kTile is the prefill tile kernel of K-quant t (rows × 4 positions) for
// instruction set s, falling back to rows for what does not fill a tile.
func kTile(t kQuant, s x86ISA, rows func(y []float32, w []byte, rb int, a *actVec)) func(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
	return func(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
		tile4(y, ys, w, rb, nrows, 1, acts, rows, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
			q := [4]*int8{&g[0].q[0], &g[1].q[0], &g[2].q[0], &g[3].q[0]}
			switch {
			case t == kQ4 && s == isaAVXVNNI:
				q4_KTileAVXVNNI(&y[0], ys, w, nrows, &q, &g[0].g4d[0], &g[0].g4k[0], len(g[0].d))
			case t == kQ5 && s == isaAVXVNNI:
				q5_KTileAVXVNNI(&y[0], ys, w, nrows, &q, &g[0].g4d[0], &g[0].g4k[0], len(g[0].d))
			case t == kQ4:
				q4_KTileAVX2(&y[0], ys, w, nrows, &q, &g[0].g4d[0], &g[0].g4k[0], len(g[0].d))
			case t == kQ5:
				q5_KTileAVX2(&y[0], ys, w, nrows, &q, &g[0].g4d[0], &g[0].g4k[0], len(g[0].d))
			case t == kQ6 && s == isaAVXVNNI:
				q6_KTileAVXVNNI(&y[0], ys, w, nrows, &q, &g[0].g4d[0], &g[0].g4k[0], len(g[0].d))
			case t == kQ6:
				q6_KTileAVX2(&y[0], ys, w, nrows, &q, &g[0].g4d[0], &g[0].g4k[0], len(g[0].d))
			}
		})
	}
}
