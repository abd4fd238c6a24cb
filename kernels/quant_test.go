package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// specialValues returns n activations mixing normal values with zeros of
// both signs, subnormals, huge values, infinities and random bit patterns,
// and blocks that are all zero, all one value, or at rounding ties.
//
// NaN inputs are left out: when a product has two NaN operands with
// different payloads, which payload survives depends on the operand order
// the compiler picks (Go does not specify it), so neither version is
// "the" answer. A model whose activations are NaN has failed anyway.
func specialValues(rng *rand.Rand, n int) []float32 {
	x := randValues(rng, n)
	specials := []float32{0, float32(math.Copysign(0, -1)), 1e-40, -1e-42, 3e38, -3e38,
		float32(math.Inf(1)), float32(math.Inf(-1)), 65504, 65520, 1e-8}
	for i := range x {
		switch rng.IntN(40) {
		case 0:
			x[i] = specials[rng.IntN(len(specials))]
		case 1:
			if v := math.Float32frombits(rng.Uint32()); v == v {
				x[i] = v
			}
		}
	}
	for b := 0; b+32 <= n; b += 32 {
		switch rng.IntN(10) {
		case 0:
			clear(x[b : b+32])
		case 1:
			v := x[b]
			for i := b; i < b+32; i++ {
				x[i] = v
			}
		case 2: // ties: values that quantize to k+0.5 exactly
			for i := b; i < b+32; i++ {
				x[i] = float32(rng.IntN(255)-127) + 0.5
			}
			x[b] = 127
		}
	}
	return x
}

// TestQuantizeFast checks the assembly activation quantizers (where this
// CPU has them) against the Go ones, bit for bit, on normal and special
// inputs.
func TestQuantizeFast(t *testing.T) {
	if quantQ8_0Fast == nil && quantQ8_KFast == nil {
		t.Skip("no assembly quantizers on this CPU")
	}
	rng := rand.New(rand.NewPCG(17, 18))
	for it := 0; it < 300; it++ {
		n := 256 * (1 + rng.IntN(8))
		x := specialValues(rng, n)
		if it%3 == 0 {
			x = randValues(rng, n)
		}
		var want, got actVec
		want.q, got.q = make([]int8, n), make([]int8, n)
		if quantQ8_0Fast != nil {
			quantQ8_0(&want, x, false)
			quantQ8_0Fast(&got, x)
			compareAct(t, "q8_0", &want, &got)
		}
		if quantQ8_KFast != nil {
			quantQ8_K(&want, x)
			quantQ8_KFast(&got, x)
			compareAct(t, "q8_k", &want, &got)
		}
	}
}

func compareAct(t *testing.T, name string, want, got *actVec) {
	t.Helper()
	for i := range want.q {
		if want.q[i] != got.q[i] {
			t.Fatalf("%s: q[%d] = %d, want %d", name, i, got.q[i], want.q[i])
		}
	}
	for i := range want.d {
		if math.Float32bits(want.d[i]) != math.Float32bits(got.d[i]) {
			t.Fatalf("%s: d[%d] = %g (%#x), want %g (%#x)", name, i, got.d[i], math.Float32bits(got.d[i]), want.d[i], math.Float32bits(want.d[i]))
		}
	}
	for i := range want.sum {
		if want.sum[i] != got.sum[i] {
			t.Fatalf("%s: sum[%d] = %d, want %d", name, i, got.sum[i], want.sum[i])
		}
	}
}
