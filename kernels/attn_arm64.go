//go:build arm64 && !purego

package kernels

//go:noescape
func scoresTNEON(dst, q, kt *float32, ld, nq, n4 int)

//go:noescape
func addRowsNEON(dst, w, v *float32, ld, nw, n4 int)

func init() {
	if !attnVector() {
		return
	}
	scoresTFast = func(dst, q, kt []float32, ld int) int {
		n4 := len(dst) / 4
		if n4 > 0 {
			scoresTNEON(&dst[0], &q[0], &kt[0], 4*ld, len(q), n4)
		}
		return 4 * n4
	}
	addRowsFast = func(dst, w, v []float32, ld int) int {
		n4 := len(dst) / 4
		if n4 > 0 {
			addRowsNEON(&dst[0], &w[0], &v[0], 4*ld, len(w), n4)
		}
		return 4 * n4
	}
}
