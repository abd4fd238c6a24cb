package proof

import (
	"math"

	"github.com/tessera-net/tessera/model"
)

// The functions below recompute the elementwise parts of a llama block
// exactly as package model does (same float32 operations in the same
// order), so that on the node's architecture an honest cell recomputes to
// the same bits; tolerances absorb what another architecture's fused
// multiply-adds may change.

// rmsNorm, attention and swiglu are model's own steps (see model/ops.go).
func rmsNorm(dst, x, w []float32, eps float32) { model.RMSNorm(dst, x, w, eps) }

// ropeTable returns the cos and sin of every rotated pair at position pos,
// as model's ropeTables computes them.
func ropeTable(c model.Config, freqs []float32, pos int) (cos, sin []float32) {
	half := c.RopeDim / 2
	cos, sin = make([]float32, half), make([]float32, half)
	thetaScale := float32(math.Pow(c.RopeBase, -2.0/float64(c.RopeDim)))
	theta := float32(pos)
	for i := 0; i < half; i++ {
		t := theta
		if len(freqs) > 0 {
			t /= freqs[i]
		}
		t *= float32(c.RopeScale)
		s, co := math.Sincos(float64(t))
		cos[i], sin[i] = float32(co), float32(s)
		theta *= thetaScale
	}
	return cos, sin
}

// unrope inverts the rotation of v (heads × HeadDim) in float64: the
// projection before RoPE, up to the rounding of the forward rotation.
func unrope(dst []float64, v []float32, c model.Config, heads int, cos, sin []float32) {
	for i, x := range v {
		dst[i] = float64(x)
	}
	half := c.RopeDim / 2
	for h := 0; h < heads; h++ {
		x := dst[h*c.HeadDim : (h+1)*c.HeadDim]
		for i := 0; i < half; i++ {
			a, b := 2*i, 2*i+1
			if c.RopeNeox {
				a, b = i, i+half
			}
			co, s := float64(cos[i]), float64(sin[i])
			y0, y1 := x[a], x[b]
			x[a] = y0*co + y1*s
			x[b] = -y0*s + y1*co
		}
	}
}

func attention(out, q, kCache, vCache []float32, t int, c model.Config) {
	model.Attention(out, q, kCache, vCache, t, c, make([]float32, t))
}

func swiglu(dst, gate, up []float32) { model.SwiGLU(dst, gate, up) }

// relDev is max|got − want| / max|want|: the elementwise deviation of a
// recorded vector from its recomputation, relative to the recomputation's
// largest value. It is 0 when both are all zeros, +Inf when only want is.
func relDev(got, want []float32) float64 {
	var dev, ref float64
	for i, w := range want {
		dev = max(dev, math.Abs(float64(got[i])-float64(w)))
		ref = max(ref, math.Abs(float64(w)))
	}
	if dev == 0 {
		return 0
	}
	if ref == 0 {
		return math.Inf(1)
	}
	return dev / ref
}

// freivalds returns |r·y − (s·x̂ + r·b + t·corr)| / (Σ|r_i y_i| + Σ|s_j x̂_j|)
// for one rep of a matrix key: the residual of the random projection of
// y = W·x̂ + b, relative to the magnitude of the terms summed.
func freivalds(mk *MatKey, k int, a *activation, y []float64) float64 {
	r := mk.r[k]
	var lhs, scale float64
	for i, v := range y {
		p := float64(r[i]) * v
		lhs += p
		scale += math.Abs(p)
	}
	rhs := mk.RB[k]
	for j, s := range mk.S[k] {
		p := float64(s) * a.x[j]
		rhs += p
		scale += math.Abs(p)
	}
	if mk.T != nil {
		for b, t := range mk.T[k] {
			if b < len(a.corr) {
				rhs += float64(t) * a.corr[b]
			}
		}
	}
	diff := math.Abs(lhs - rhs)
	if diff == 0 {
		return 0
	}
	if scale == 0 {
		return math.Inf(1)
	}
	return diff / scale
}

func toF64(dst []float64, v []float32) []float64 {
	if cap(dst) < len(v) {
		dst = make([]float64, len(v))
	}
	dst = dst[:len(v)]
	for i, x := range v {
		dst[i] = float64(x)
	}
	return dst
}
