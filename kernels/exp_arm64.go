//go:build arm64 && !purego

package kernels

//go:noescape
func expShiftNEON(dst, src *float32, m float32, n4 int)

//go:noescape
func swiGLUNEON(dst, gate, up *float32, n4 int)

func init() {
	if !attnVector() {
		return
	}
	expShiftFast = func(dst, src []float32, m float32) int {
		n4 := len(dst) / 4
		if n4 > 0 {
			expShiftNEON(&dst[0], &src[0], m, n4)
		}
		return 4 * n4
	}
	swiGLUFast = func(dst, gate, up []float32) int {
		n4 := len(dst) / 4
		if n4 > 0 {
			swiGLUNEON(&dst[0], &gate[0], &up[0], n4)
		}
		return 4 * n4
	}
}
