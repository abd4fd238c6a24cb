//go:build !amd64 && !arm64

package kernels

// f32view reports that weights cannot be viewed in place on this
// architecture (it may be big-endian or trap on unaligned loads); callers
// fall back to encoding/binary.
func f32view(b []byte, n int) []float32 { return nil }
