package model

import "github.com/tessera-net/tessera/kernels"

// The elementwise steps of a block, exported so that a verifier recomputes
// an opened cell with exactly the arithmetic Forward used (same float32
// operations in the same order) rather than with a copy that could drift.

// RMSNorm writes x / sqrt(mean(x²) + eps) · w into dst.
func RMSNorm(dst, x, w []float32, eps float32) { rmsNorm(dst, x, w, eps) }

// Attention computes causal multi-head attention of one query q over the
// first t positions of kCache and vCache (t × KVDim each) into out, with
// grouped-query sharing as c says. scores needs room for t values.
func Attention(out, q, kCache, vCache []float32, t int, c Config, scores []float32) {
	attention(out, q, kCache, vCache, t, c, scores)
}

// SwiGLU writes silu(gate) ⊙ up into dst (dst may be gate):
// g/(1 + e^−g)·up in float32, with kernels' exponential, which computes
// the same bits on every CPU (see kernels.SwiGLU).
func SwiGLU(dst, gate, up []float32) { kernels.SwiGLU(dst[:len(gate)], gate, up) }
