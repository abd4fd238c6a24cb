//go:build amd64 && !purego

package kernels

import (
	"math"

	"github.com/tessera-net/tessera/quant"
)

// Prefill tiles of the float weight types (float_tile_amd64.s): the
// assembly computes the whole runs of eight of two rows × four positions
// per step; the columns after the last whole 8 are added here, in order,
// as the rows kernels and the generic dots do.

// floatTileAVX2's kind argument: the weights' type.
const (
	tileKindF32 = iota
	tileKindF16
	tileKindBF16
)

//go:noescape
func floatTileAVX2(y *float32, ystride int, w *byte, rowBytes, nrows int, x *[4]*float32, n8, kind int)

var (
	tileF32AVX2  = floatTile(quant.F32, rowsF32AVX2)
	tileF16AVX2  = floatTile(quant.F16, rowsF16AVX2)
	tileBF16AVX2 = floatTile(quant.BF16, rowsBF16AVX2)
)

// floatTile is the tile of float type t (F32, F16 or BF16); positions
// left over after the groups of four, and rows of fewer than eight
// columns, go through rows. The assembly is called directly (not through
// a func value) so that the one-row scratch array and the pointers stay
// on the stack.
func floatTile(t quant.Type, rows rowsDot) tileDot {
	kind := tileKindBF16
	switch t {
	case quant.F32:
		kind = tileKindF32
	case quant.F16:
		kind = tileKindF16
	}
	return func(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
		cols := len(acts[0].f)
		n8 := cols / 8
		if n8 == 0 {
			for p := range acts {
				rows(y[p*ys:p*ys+nrows], w, rb, &acts[p])
			}
			return
		}
		tile4(y, ys, w, rb, nrows, 2, acts, rows, func(y []float32, ys int, w *byte, rb, nrows int, g []actVec) {
			x := [4]*float32{&g[0].f[0], &g[1].f[0], &g[2].f[0], &g[3].f[0]}
			yp, yrb, ynrows, yys := &y[0], rb, nrows, ys
			var one [8]float32
			if nrows == 1 {
				yp, yrb, ynrows, yys = &one[0], 0, 2, 2
			}
			floatTileAVX2(yp, yys, w, yrb, ynrows, &x, n8, kind)
			if nrows == 1 {
				spread(y, ys, one[:], 2)
			}
		})
		if 8*n8 == cols {
			return
		}
		// The positions tile4 gave to rows have their tails already.
		for p := range len(acts) &^ 3 {
			floatTail(t, y[p*ys:p*ys+nrows], w, rb, acts[p].f, 8*n8)
		}
	}
}

// floatTail adds columns from.. of each row of float type t times x to
// y, column by column, as the generic dots add their scalar tail.
func floatTail(t quant.Type, y []float32, w []byte, rb int, x []float32, from int) {
	for i := from; i < len(x); i++ {
		for r := range y {
			y[r] += float32(floatAt(t, w[r*rb:], i) * x[i])
		}
	}
}

// floatAt returns weight i of a row of float type t.
func floatAt(t quant.Type, w []byte, i int) float32 {
	switch t {
	case quant.F32:
		return math.Float32frombits(le32(w[4*i:]))
	case quant.F16:
		return f16tab[le16(w[2*i:])]
	}
	return bf16ToFP32(le16(w[2*i:]))
}
