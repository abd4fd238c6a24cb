package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// expInputs covers the whole range of exp32, its clamps, signed zeros,
// infinities and NaN.
func expInputs(rng *rand.Rand, n int) []float32 {
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 88.7, 88.73, 89, 200, -87.3, -100, -103.9, -104, -150,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, -1e-30, 0.34657, -0.34657}
	v := append([]float32(nil), special...)
	for len(v) < n {
		switch rng.IntN(3) {
		case 0:
			v = append(v, float32(rng.Float64()*220-115))
		case 1:
			v = append(v, float32(rng.NormFloat64()*4))
		default:
			v = append(v, float32(rng.NormFloat64()*1e-3))
		}
	}
	return v
}

func sameOrNaN(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// exp32 is within 1 unit in the last place of the correctly rounded e^x
// (2 for subnormal results), exact at 0, and saturates to +Inf and 0.
func TestExp32Accuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, x := range expInputs(rng, 200000) {
		got := exp32(x)
		want := float32(math.Exp(float64(x)))
		switch {
		case x != x:
			if got == got {
				t.Fatalf("exp32(NaN) = %v", got)
			}
			continue
		case want == 0 || math.IsInf(float64(want), 1):
			if got != want {
				t.Fatalf("exp32(%v) = %v, want %v", x, got, want)
			}
			continue
		}
		d := int64(math.Float32bits(got)) - int64(math.Float32bits(want))
		limit := int64(1)
		if want < 0x1p-126 {
			limit = 2
		}
		if d > limit || d < -limit {
			t.Fatalf("exp32(%v) = %v, e^x = %v: %d units in the last place apart", x, got, math.Exp(float64(x)), d)
		}
	}
	if exp32(0) != 1 {
		t.Errorf("exp32(0) = %v", exp32(0))
	}
}

// The vector forms give the Go code's bits, for every length (vector
// body and tail).
func TestExpShiftAndSwiGLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 64, 1000} {
		x := expInputs(rng, n+20)[20-min(n, 20):][:n]
		up := expInputs(rng, n+20)[:n]
		m := float32(rng.NormFloat64() * 3)
		got := make([]float32, n)
		ExpShift(got, x, m)
		for i := range got {
			if want := exp32(x[i] - m); !sameOrNaN(got[i], want) {
				t.Fatalf("ExpShift length %d, [%d] = exp(%v-%v): got %v, want %v", n, i, x[i], m, got[i], want)
			}
		}
		SwiGLU(got, x, up)
		for i := range got {
			g := x[i]
			if want := g / (1 + exp32(-g)) * up[i]; !sameOrNaN(got[i], want) {
				t.Fatalf("SwiGLU length %d, [%d] (gate %v, up %v): got %v, want %v", n, i, g, up[i], got[i], want)
			}
		}
		// In place.
		in := append([]float32(nil), x...)
		SwiGLU(in, in, up)
		for i := range in {
			if !sameOrNaN(in[i], got[i]) {
				t.Fatalf("SwiGLU in place differs at %d", i)
			}
		}
	}
}

func BenchmarkSwiGLU(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := expInputs(rng, 8192)
	u := expInputs(rng, 8192)
	d := make([]float32, 8192)
	b.SetBytes(4 * 8192)
	for b.Loop() {
		SwiGLU(d, g, u)
	}
}
