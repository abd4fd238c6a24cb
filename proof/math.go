package proof

import (
	"math"

	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
)

// elementwise are the steps of a block besides the matrix products, as the
// checks recompute them.
type elementwise struct {
	rmsNorm   func(dst, x, w []float32, eps float32)
	attention func(out, q, kCache, vCache []float32, t int, c model.Config)
	swiglu    func(dst, gate, up []float32)
	rope      func(c model.Config, freqs []float32, pos int) (cos, sin []float32)
}

// nodeOps are package model's own steps (model/ops.go): on the node's
// architecture an honest cell recomputes to the same bits. Audits use
// them; tolerances absorb what other architectures' fused multiply-adds
// and math libraries change.
var nodeOps = elementwise{
	rmsNorm: model.RMSNorm,
	attention: func(out, q, kCache, vCache []float32, t int, c model.Config) {
		model.Attention(out, q, kCache, vCache, t, c, make([]float32, t))
	},
	swiglu: model.SwiGLU,
	rope: func(c model.Config, freqs []float32, pos int) (cos, sin []float32) {
		return ropeTable(c, freqs, pos, math.Pow, math.Sincos)
	},
}

// canonOps compute the same float32 steps in the same order as package
// model, canonically (see detmath.go): the same bits on every machine.
// Evidence checks use them, so that every ledger reaches the same verdict.
// On amd64 without FMA they equal nodeOps bit for bit (TestCanonicalOps).
var canonOps = elementwise{
	rmsNorm:   canonRMSNorm,
	attention: canonAttention,
	swiglu:    canonSwiGLU,
	rope: func(c model.Config, freqs []float32, pos int) (cos, sin []float32) {
		return ropeTable(c, freqs, pos, canonPow, canonSincos)
	},
}

// ropeTable returns the cos and sin of every rotated pair at position pos,
// as model's ropeTables computes them, with the given pow and sincos.
func ropeTable(c model.Config, freqs []float32, pos int, pow func(x, y float64) float64, sincos func(float64) (float64, float64)) (cos, sin []float32) {
	half := c.RopeDim / 2
	cos, sin = make([]float32, half), make([]float32, half)
	thetaScale := float32(pow(c.RopeBase, -2.0/float64(c.RopeDim)))
	theta := float32(pos)
	for i := 0; i < half; i++ {
		t := theta
		if len(freqs) > 0 {
			t /= freqs[i]
		}
		t *= float32(c.RopeScale)
		s, co := sincos(float64(t))
		cos[i], sin[i] = float32(co), float32(s)
		theta *= thetaScale
	}
	return cos, sin
}

// canonRMSNorm is model.RMSNorm, canonically: x / sqrt(mean(x²) + eps) · w.
func canonRMSNorm(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(float64(v) * float64(v))
	}
	scale := float32(1 / math.Sqrt(float64(float32(ss/float64(len(x)))+eps)))
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

// canonAttention is model.Attention, canonically: causal multi-head
// attention of q over the first t positions of kCache and vCache.
func canonAttention(out, q, kCache, vCache []float32, t int, c model.Config) {
	hd := c.HeadDim
	kvDim := c.KVDim()
	group := c.Heads / c.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	scores := make([]float32, t)
	for h := 0; h < c.Heads; h++ {
		qh := q[h*hd : (h+1)*hd]
		kvOff := (h / group) * hd
		maxScore := float32(math.Inf(-1))
		for j := 0; j < t; j++ {
			kj := kCache[j*kvDim+kvOff : j*kvDim+kvOff+hd]
			var dot float32
			for d, qv := range qh {
				dot += float32(qv * kj[d])
			}
			s := dot * scale
			scores[j] = s
			if s > maxScore {
				maxScore = s
			}
		}
		var sum float64
		for j := range scores {
			e := kernels.Exp32(scores[j] - maxScore)
			scores[j] = e
			sum += float64(e)
		}
		inv := float32(1 / sum)
		oh := out[h*hd : (h+1)*hd]
		clear(oh)
		for j := 0; j < t; j++ {
			w := scores[j] * inv
			vj := vCache[j*kvDim+kvOff : j*kvDim+kvOff+hd]
			for d := range oh {
				oh[d] += float32(w * vj[d])
			}
		}
	}
}

// canonSwiGLU is model.SwiGLU, canonically: silu(gate) ⊙ up, with the
// kernels' exponential (itself canonical: float32 operations in a fixed
// order, each product rounded).
func canonSwiGLU(dst, gate, up []float32) {
	for i, g := range gate {
		dst[i] = g / (1 + kernels.Exp32(-g)) * up[i]
	}
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
			x[a] = float64(y0*co) + float64(y1*s)
			x[b] = float64(-y0*s) + float64(y1*co)
		}
	}
}

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
		p := float64(float64(r[i]) * v)
		lhs += p
		scale += math.Abs(p)
	}
	rhs := mk.RB[k]
	for j, s := range mk.S[k] {
		p := float64(float64(s) * a.x[j])
		rhs += p
		scale += math.Abs(p)
	}
	if mk.T != nil {
		for b, t := range mk.T[k] {
			if b < len(a.corr) {
				rhs += float64(float64(t) * a.corr[b])
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
