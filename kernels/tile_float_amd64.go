//go:build amd64 && !purego

package kernels

import (
	"math"

	"github.com/tessera-net/tessera/quant"
)

// Prefill tiles of the float weight types (float_tile_amd64.s): the
// assembly computes the whole runs of eight of two rows × six positions
// per step; the columns after the last whole 8 are added here, in order,
// as the rows kernels and the generic dots do.

// floatTileAVX2's kind argument: the weights' type.
const (
	tileKindF32 = iota
	tileKindF16
	tileKindBF16
)

//go:noescape
func floatTileAVX2(y *[6]*float32, w *byte, rowBytes, nrows int, x *[6]*float32, n8, kind int)

var (
	tileF32AVX2  = floatTile(quant.F32, rowsF32AVX2)
	tileF16AVX2  = floatTile(quant.F16, rowsF16AVX2)
	tileBF16AVX2 = floatTile(quant.BF16, rowsBF16AVX2)
)

// floatTile is the tile of float type t (F32, F16 or BF16). Positions go
// six at a time; a last group of fewer repeats its last position (the
// repeats recompute and store the same values). An odd last row is
// computed by repeating the last two rows, and a matrix of one row as
// that row twice over (rowBytes 0) into a scratch array. Rows of fewer
// than eight columns go through rows.
func floatTile(t quant.Type, rows rowsDot) tileDot {
	kind := tileKindBF16
	switch t {
	case quant.F32:
		kind = tileKindF32
	case quant.F16:
		kind = tileKindF16
	}
	return func(y []float32, ys int, w []byte, rb, nrows int, acts []actVec) {
		n := len(acts)
		cols := len(acts[0].f)
		n8 := cols / 8
		if n8 == 0 {
			for p := range acts {
				rows(y[p*ys:p*ys+nrows], w, rb, &acts[p])
			}
			return
		}
		_ = w[nrows*rb-1]
		_ = y[(n-1)*ys+nrows-1]
		for p := 0; p < n; p += 6 {
			var yp, x [6]*float32
			for i := range yp {
				j := min(p+i, n-1)
				yp[i] = &y[j*ys]
				x[i] = &acts[j].f[0]
				_ = acts[j].f[cols-1]
			}
			switch {
			case nrows == 1:
				var one [12]float32
				var op [6]*float32
				for i := range op {
					op[i] = &one[2*i]
				}
				floatTileAVX2(&op, &w[0], 0, 2, &x, n8, kind)
				for i := 0; i < 6 && p+i < n; i++ {
					y[(p+i)*ys] = one[2*i]
				}
			case nrows%2 == 0:
				floatTileAVX2(&yp, &w[0], rb, nrows, &x, n8, kind)
			default:
				floatTileAVX2(&yp, &w[0], rb, nrows-1, &x, n8, kind)
				for i := range yp {
					yp[i] = &y[min(p+i, n-1)*ys+nrows-2]
				}
				floatTileAVX2(&yp, &w[(nrows-2)*rb], rb, 2, &x, n8, kind)
			}
		}
		if 8*n8 == cols {
			return
		}
		for p := range acts {
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
