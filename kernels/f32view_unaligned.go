//go:build amd64 || arm64

package kernels

import "unsafe"

// f32view returns the first n float32 values of b viewed in place. On
// amd64 and arm64 (little-endian, unaligned loads allowed) this is valid
// for any alignment of b; checkptr permits unaligned pointers to
// pointer-free types.
func f32view(b []byte, n int) []float32 {
	if n == 0 {
		return nil
	}
	_ = b[4*n-1]
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}
