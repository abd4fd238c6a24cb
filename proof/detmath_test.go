package proof

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tessera-net/tessera/model"
)

// ulps is the distance between a and b in units of the last place of b.
func ulps(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Abs(math.Nextafter(b, math.Inf(1))-b)
}

// TestCanonicalMathMatchesStd: the canonical functions are within a few
// ulps of the standard library's, and rounded to float32 (as package model
// rounds them) they agree with it on every sample, so an honest node's
// values are what the canonical checks expect.
func TestCanonicalMathMatchesStd(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 300000
	var worstExp, worstLog, worstSin float64
	f32Diff := 0
	for i := 0; i < n; i++ {
		x := rng.Float64()*1400 - 700
		worstExp = max(worstExp, ulps(canonExp(x), math.Exp(x)))
		// The arguments package model passes: float32 values, mostly small.
		g := float32(rng.NormFloat64() * 8)
		if float32(canonExp(float64(-g))) != float32(math.Exp(float64(-g))) {
			f32Diff++
		}
		y := math.Exp(rng.Float64()*1400 - 700)
		worstLog = max(worstLog, math.Abs(canonLog(y)-math.Log(y))/max(1, math.Abs(math.Log(y)))/0x1p-52)
		a := float64(float32(rng.Float64() * 200000))
		s1, c1 := canonSincos(a)
		s2, c2 := math.Sincos(a)
		worstSin = max(worstSin, math.Abs(s1-s2)/0x1p-52, math.Abs(c1-c2)/0x1p-52)
		if float32(s1) != float32(s2) || float32(c1) != float32(c2) {
			f32Diff++
		}
	}
	t.Logf("worst: exp %.2f ulp, log %.2f ulp, sincos %.2f ulp (absolute); float32 disagreements %d of %d", worstExp, worstLog, worstSin, f32Diff, 2*n)
	if worstExp > 4 || worstLog > 4 || worstSin > 4 {
		t.Errorf("canonical functions too far from the standard library: exp %.2f, log %.2f, sincos %.2f ulp", worstExp, worstLog, worstSin)
	}
	if f32Diff != 0 {
		t.Errorf("%d float32 results differ from the standard library's", f32Diff)
	}
	for _, base := range []float64{10000, 500000, 1e6, 5e6} {
		for d := 16; d <= 256; d += 16 {
			if a, b := float32(canonPow(base, -2/float64(d))), float32(math.Pow(base, -2/float64(d))); a != b {
				t.Errorf("pow(%g, -2/%d): %v, the standard library %v", base, d, a, b)
			}
		}
	}
	specials := []struct{ got, want float64 }{
		{canonExp(0), 1}, {canonExp(math.Inf(-1)), 0}, {canonExp(800), math.Inf(1)}, {canonExp(-800), 0},
		{canonLog(1), 0}, {canonLog(0), math.Inf(-1)}, {canonLog(math.Inf(1)), math.Inf(1)},
		{canonExp(-740), math.Exp(-740)},
		// math.Log(5e-324) is -709.09 on amd64 (its assembly mishandles
		// subnormals): one more reason to own the arithmetic.
		{canonLog(5e-324), -744.4400719213812},
	}
	for i, s := range specials {
		if s.got != s.want && ulps(s.got, s.want) > 4 {
			t.Errorf("special %d: %v, want %v", i, s.got, s.want)
		}
	}
	if !math.IsNaN(canonLog(-1)) || !math.IsNaN(canonExp(math.NaN())) {
		t.Error("NaN cases")
	}
	if s, c := canonSincos(1e9); !math.IsNaN(s) || !math.IsNaN(c) {
		t.Error("sincos beyond its range should be NaN")
	}
	if s, c := canonSincos(-2.5); ulps(s, math.Sin(-2.5)) > 4 || ulps(c, math.Cos(-2.5)) > 4 {
		t.Errorf("sincos(-2.5) = %v, %v", s, c)
	}
}

// TestCanonicalOps: the canonical elementwise steps equal package model's
// bit for bit where the compiler fuses nothing (amd64 below v3), and stay
// within float32 rounding of them elsewhere. A change to model's
// arithmetic that the canonical copies do not follow fails here.
func TestCanonicalOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	vec := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
		return v
	}
	cfg := model.Config{Dim: 256, Heads: 8, KVHeads: 2, HeadDim: 32, RopeDim: 32, RopeBase: 10000, RopeScale: 1, FF: 512}
	check := func(what string, a, b []float32) {
		t.Helper()
		if compilerFuses {
			if d := relDev(a, b); d > 1e-6 {
				t.Errorf("%s: canonical deviates by %.3g from model's", what, d)
			}
			return
		}
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%s differs at %d: canonical %v, model %v", what, i, a[i], b[i])
			}
		}
	}
	for k := 0; k < 50; k++ {
		x, w := vec(cfg.Dim, 3), vec(cfg.Dim, 1)
		a, b := make([]float32, cfg.Dim), make([]float32, cfg.Dim)
		canonOps.rmsNorm(a, x, w, 1e-5)
		nodeOps.rmsNorm(b, x, w, 1e-5)
		check("rmsNorm", a, b)

		g, u := vec(cfg.FF, 4), vec(cfg.FF, 2)
		a, b = make([]float32, cfg.FF), make([]float32, cfg.FF)
		canonOps.swiglu(a, g, u)
		nodeOps.swiglu(b, g, u)
		check("swiglu", a, b)

		pos := 1 + rng.IntN(40)
		q, kc, vc := vec(cfg.Heads*cfg.HeadDim, 2), vec(pos*cfg.KVDim(), 2), vec(pos*cfg.KVDim(), 1)
		a, b = make([]float32, len(q)), make([]float32, len(q))
		canonOps.attention(a, q, kc, vc, pos, cfg)
		nodeOps.attention(b, q, kc, vc, pos, cfg)
		check("attention", a, b)
	}
	for _, c := range []model.Config{cfg, {RopeDim: 128, RopeBase: 500000, RopeScale: 1}, {RopeDim: 64, RopeBase: 1e6, RopeScale: 0.25}} {
		for pos := 0; pos < 8192; pos += 7 {
			ca, sa := canonOps.rope(c, nil, pos)
			cb, sb := nodeOps.rope(c, nil, pos)
			check("rope cos", ca, cb)
			check("rope sin", sa, sb)
		}
	}
}
