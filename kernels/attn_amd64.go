//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func scoresTAVX2(dst, q, kt *float32, ld, nq, n8 int)

//go:noescape
func addRowsAVX2(dst, w, v *float32, ld, nw, n8 int)

func init() {
	if !cpu.X86.HasAVX2 || !attnVector() {
		return
	}
	scoresTFast = func(dst, q, kt []float32, ld int) int {
		n8 := len(dst) / 8
		if n8 > 0 {
			scoresTAVX2(&dst[0], &q[0], &kt[0], 4*ld, len(q), n8)
		}
		return 8 * n8
	}
	addRowsFast = func(dst, w, v []float32, ld int) int {
		n8 := len(dst) / 8
		if n8 > 0 {
			addRowsAVX2(&dst[0], &w[0], &v[0], 4*ld, len(w), n8)
		}
		return 8 * n8
	}
}
