package kernels

import "math"

// The exponential of the model's SwiGLU and softmax, in float32 with a
// fixed sequence of rounded operations, so that vector code computes the
// same bits on every CPU (math.Exp is free to differ between
// architectures in the last place, and is slow). Accuracy is within 2
// units in the last place over the whole range.
//
// Method: n = round(x·log2 e) by adding and subtracting 1.5·2²³; r = x −
// n·ln2 in two steps (ln2Hi has few enough bits that n·ln2Hi is exact);
// e^r by its Taylor series to degree 7 (|r| ≤ 0.35, so the truncation is
// below 2⁻²⁷ relative), in Horner form; then times 2^n, as two factors so
// that each is a normal float32 and results that are subnormal round once,
// as IEEE multiplication does. x is first clamped to [−104, 89], beyond
// which e^x is 0 or +Inf in float32; NaN stays NaN.

const (
	expLo    = -104
	expHi    = 89
	expLog2e = 1.44269504088896341
	expMagic = 12582912 // 1.5·2²³
	expLn2Hi = 0.693359375
	expLn2Lo = -2.12194440e-4
)

// expTaylor holds 1/7!, 1/6!, …, 1/1!, 1/0! as float32.
var expTaylor = [8]float32{1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 1.0 / 2, 1, 1}

// exp32 is e^x as defined above. Each product is converted to float32
// before it is added so that the compiler cannot fuse them.
func exp32(x float32) float32 {
	if x < expLo {
		x = expLo
	}
	if x > expHi {
		x = expHi
	}
	t := float32(x*expLog2e) + expMagic
	n := int32(math.Float32bits(t) - math.Float32bits(expMagic))
	nf := t - expMagic
	r := x - float32(nf*expLn2Hi)
	r -= float32(nf * expLn2Lo)
	p := expTaylor[0]
	for _, c := range expTaylor[1:] {
		p = float32(p*r) + c
	}
	n1 := n >> 1
	n2 := n - n1
	s1 := math.Float32frombits(uint32(n1+127) << 23)
	s2 := math.Float32frombits(uint32(n2+127) << 23)
	return float32(p*s1) * s2
}

// Exp32 is e^x exactly as ExpShift and SwiGLU compute it, one value at a
// time: checkers that recompute a model step (package proof) use it to
// reach the same bits as the vector code on any machine.
func Exp32(x float32) float32 { return exp32(x) }

// ExpShift sets dst[i] = e^(src[i] − m) for every i (the subtraction in
// float32, then the exponential described above): softmax's
// exponentials. dst may be src.
func ExpShift(dst, src []float32, m float32) {
	src = src[:len(dst)]
	n := expShiftFast(dst, src, m)
	for i := n; i < len(dst); i++ {
		dst[i] = exp32(src[i] - m)
	}
}

// SwiGLU sets dst[i] = g/(1 + e^−g)·up[i] with g = gate[i] (silu(gate) ⊙
// up, the gated feed-forward's activation) in float32, with the
// exponential above. dst may be gate or up.
func SwiGLU(dst, gate, up []float32) {
	gate, up = gate[:len(dst)], up[:len(dst)]
	n := swiGLUFast(dst, gate, up)
	for i := n; i < len(dst); i++ {
		g := gate[i]
		dst[i] = g / (1 + exp32(-g)) * up[i]
	}
}

// expShiftFast and swiGLUFast compute a leading part of the outputs with
// vector code where there is some (exp_*.go) and return how many.
var (
	expShiftFast = func(dst, src []float32, m float32) int { return 0 }
	swiGLUFast   = func(dst, gate, up []float32) int { return 0 }
)
