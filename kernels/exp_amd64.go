//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func expShiftAVX2(dst, src *float32, m float32, n8 int)

//go:noescape
func swiGLUAVX2(dst, gate, up *float32, n8 int)

func init() {
	if !cpu.X86.HasAVX2 || !attnVector() {
		return
	}
	expShiftFast = func(dst, src []float32, m float32) int {
		n8 := len(dst) / 8
		if n8 > 0 {
			expShiftAVX2(&dst[0], &src[0], m, n8)
		}
		return 8 * n8
	}
	swiGLUFast = func(dst, gate, up []float32) int {
		n8 := len(dst) / 8
		if n8 > 0 {
			swiGLUAVX2(&dst[0], &gate[0], &up[0], n8)
		}
		return 8 * n8
	}
}
