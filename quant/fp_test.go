package quant

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestFP16Known(t *testing.T) {
	tests := []struct {
		name string
		h    uint16
		f    float32
	}{
		{"one", 0x3c00, 1},
		{"minus two", 0xc000, -2},
		{"zero", 0x0000, 0},
		{"half", 0x3800, 0.5},
		{"max", 0x7bff, 65504},
		{"min normal", 0x0400, 0x1p-14},
		{"smallest subnormal", 0x0001, 0x1p-24},
		{"largest subnormal", 0x03ff, 0x3ffp-24},
		{"neg smallest subnormal", 0x8001, -0x1p-24},
		{"one third", 0x3555, 0x1.554p-2},
		{"+inf", 0x7c00, float32(math.Inf(1))},
		{"-inf", 0xfc00, float32(math.Inf(-1))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FP16ToFP32(tc.h); got != tc.f {
				t.Errorf("FP16ToFP32(%#04x) = %v, want %v", tc.h, got, tc.f)
			}
			if got := FP32ToFP16(tc.f); got != tc.h {
				t.Errorf("FP32ToFP16(%v) = %#04x, want %#04x", tc.f, got, tc.h)
			}
		})
	}
	negZero := float32(math.Copysign(0, -1))
	if got := FP32ToFP16(negZero); got != 0x8000 {
		t.Errorf("FP32ToFP16(-0) = %#04x, want 0x8000", got)
	}
	if got := FP16ToFP32(0x8000); math.Float32bits(got) != 0x80000000 {
		t.Errorf("FP16ToFP32(0x8000) = %v, want -0", got)
	}
	for _, h := range []uint16{0x7e00, 0x7c01, 0xfe00, 0x7fff} {
		if f := FP16ToFP32(h); !math.IsNaN(float64(f)) {
			t.Errorf("FP16ToFP32(%#04x) = %v, want NaN", h, f)
		}
	}
	if h := FP32ToFP16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("FP32ToFP16(NaN) = %#04x, want a NaN", h)
	}
}

func TestFP32ToFP16Rounding(t *testing.T) {
	tests := []struct {
		name string
		f    float32
		h    uint16
	}{
		{"tie to even down", 1 + 0x1p-11, 0x3c00},
		{"tie to even up", 1 + 3*0x1p-11, 0x3c02},
		{"above tie", 1 + 0x1p-11 + 0x1p-20, 0x3c01},
		{"just below max+half ulp", 65519.99, 0x7bff},
		{"max+half ulp ties to inf", 65520, 0x7c00},
		{"overflow", 1e6, 0x7c00},
		{"negative overflow", -1e6, 0xfc00},
		{"half smallest subnormal ties to zero", 0x1p-25, 0x0000},
		{"above half smallest subnormal", 0x1.000002p-25, 0x0001},
		{"1.5 smallest subnormal ties to even", 0x3p-25, 0x0002},
		{"subnormal to normal carry", 0x7ffp-25, 0x0400},
		{"tiny", 1e-10, 0x0000},
		{"negative tiny", -1e-10, 0x8000},
		{"float32 subnormal", 0x1p-140, 0x0000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FP32ToFP16(tc.f); got != tc.h {
				t.Errorf("FP32ToFP16(%v) = %#04x, want %#04x", tc.f, got, tc.h)
			}
		})
	}
}

// TestFP16Exhaustive round-trips every half bit pattern through float32.
func TestFP16Exhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := FP16ToFP32(h)
		isNaN := h&0x7c00 == 0x7c00 && h&0x3ff != 0
		if isNaN {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("FP16ToFP32(%#04x) = %v, want NaN", h, f)
			}
			// Quiet NaNs come back unchanged; signalling ones are quietened.
			if got, want := FP32ToFP16(f), h|0x0200; got != want {
				t.Fatalf("NaN %#04x round-tripped to %#04x, want %#04x", h, got, want)
			}
			continue
		}
		if got := FP32ToFP16(f); got != h {
			t.Fatalf("FP32ToFP16(FP16ToFP32(%#04x)) = %#04x (via %v)", h, got, f)
		}
		// Independent check of the value: sign * mant * 2^exp.
		exp, mant := int(h>>10&0x1f), int(h&0x3ff)
		var want float64
		switch {
		case exp == 0x1f:
			want = math.Inf(1)
		case exp == 0:
			want = math.Ldexp(float64(mant), -24)
		default:
			want = math.Ldexp(float64(mant|0x400), exp-25)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if float64(f) != want {
			t.Fatalf("FP16ToFP32(%#04x) = %v, want %v", h, f, want)
		}
	}
}

// nearestHalf finds the correctly rounded half for f by brute force over
// the finite halves of f's sign, comparing exact distances (ties to even),
// or infinity per IEEE's overflow rule.
func nearestHalf(f float32) uint16 {
	x := new(big.Float).SetFloat64(float64(f))
	sign := uint16(0)
	if f < 0 {
		sign = 0x8000
		x.Neg(x)
	}
	// Overflow: at or beyond 65504 + half an ulp (2^15 * (2 - 2^-11)).
	if x.Cmp(big.NewFloat(65520)) >= 0 {
		return sign | 0x7c00
	}
	best := uint16(0)
	var bestDist *big.Float
	for h := uint16(0); h < 0x7c00; h++ {
		d := new(big.Float).Sub(x, new(big.Float).SetFloat64(float64(FP16ToFP32(h))))
		d.Abs(d)
		if bestDist == nil || d.Cmp(bestDist) < 0 || (d.Cmp(bestDist) == 0 && h&1 == 0) {
			best, bestDist = h, d
		}
	}
	return sign | best
}

func TestFP32ToFP16AgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	cases := []float32{0x1.0021p0, 0x1.ffffp15, 0x1.8p-24, 0x1.7p-20, 3.14159}
	for i := 0; i < 60; i++ {
		// Random magnitudes across the whole half range, subnormals included.
		cases = append(cases, float32(math.Ldexp(r.Float64()+0.5, r.IntN(44)-28))*float32(1-2*r.IntN(2)))
	}
	for _, f := range cases {
		if got, want := FP32ToFP16(f), nearestHalf(f); got != want {
			t.Errorf("FP32ToFP16(%v) = %#04x, want %#04x", f, got, want)
		}
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		name string
		f    float32
		h    uint16
	}{
		{"one", 1, 0x3f80},
		{"minus two", -2, 0xc000},
		{"zero", 0, 0x0000},
		{"pi", math.Pi, 0x4049},
		{"tie to even down", math.Float32frombits(0x3f808000), 0x3f80},
		{"tie to even up", math.Float32frombits(0x3f818000), 0x3f82},
		{"above tie", math.Float32frombits(0x3f808001), 0x3f81},
		{"max float32 rounds to inf", math.MaxFloat32, 0x7f80},
		{"+inf", float32(math.Inf(1)), 0x7f80},
		{"-inf", float32(math.Inf(-1)), 0xff80},
		{"subnormal rounded not flushed", math.Float32frombits(0x00018000), 0x0002},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FP32ToBF16(tc.f); got != tc.h {
				t.Errorf("FP32ToBF16(%v) = %#04x, want %#04x", tc.f, got, tc.h)
			}
		})
	}
	if got := FP32ToBF16(math.Float32frombits(0x7f800001)); got != 0x7fc0 {
		t.Errorf("FP32ToBF16(signalling NaN) = %#04x, want quiet 0x7fc0", got)
	}
	if got := BF16ToFP32(0xc000); got != -2 {
		t.Errorf("BF16ToFP32(0xc000) = %v, want -2", got)
	}
	// Exhaustive: every bfloat16 converts exactly and back, NaNs quietened.
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := BF16ToFP32(h)
		want := h
		if h&0x7f80 == 0x7f80 && h&0x7f != 0 {
			want = h | 0x40
		}
		if got := FP32ToBF16(f); got != want {
			t.Fatalf("FP32ToBF16(BF16ToFP32(%#04x)) = %#04x, want %#04x", h, got, want)
		}
		if math.Float32bits(f) != uint32(h)<<16 {
			t.Fatalf("BF16ToFP32(%#04x) has bits %#08x", h, math.Float32bits(f))
		}
	}
}
