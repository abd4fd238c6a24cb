package proof

import (
	"math"

	"github.com/tessera-net/tessera/quant"
)

// The kernels (package kernels) multiply a weight matrix W not with the
// activation x itself but with x̂, x converted into the format ggml pairs
// with W's type: quantized to int8 per block for quantized weights (Q8_0
// for q4_0/q5_0/q8_0, Q8_1 for q4_1/q5_1, Q8_K for the k-quants), rounded
// to f16 or bf16 for f16/bf16 weights, unchanged for f32. The product they
// return is W·x̂ up to float32 accumulation rounding. A verifier that
// converts x exactly as the kernels do therefore compares r·y with s·x̂
// and sees only that rounding, which makes the Freivalds tolerance tiny.
//
// The routines below mirror kernels/act.go (quantQ8_0, quantQ8_K,
// roundF16, fp32ToBF16) operation for operation; TestActMatchesKernels
// checks that W·x̂ computed here agrees with the kernels for every type.

// actOf is the activation format of weight type t.
type actFormat uint8

const (
	actF32 actFormat = iota
	actF16
	actBF16
	actQ8_0
	actQ8_1
	actQ8_K
)

func actOf(t quant.Type) actFormat {
	switch t {
	case quant.F16:
		return actF16
	case quant.BF16:
		return actBF16
	case quant.Q4_0, quant.Q5_0, quant.Q8_0:
		return actQ8_0
	case quant.Q4_1, quant.Q5_1:
		return actQ8_1
	case quant.Q4_K, quant.Q5_K, quant.Q6_K:
		return actQ8_K
	}
	return actF32
}

// activation is x̂ for one product: the values (exact, in float64) and, for
// Q8_1, the per-block correction s_b − d_b·Σq_b that the kernels add
// through the f16-rounded block sum (see MatKey.T).
type activation struct {
	x    []float64
	corr []float64
}

// roundEven32 is kernels.roundEven: nearest integer, ties to even, for
// |f| < 2^22.
func roundEven32(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x7fffff) - 0x400000
}

func f16Round(v float32) float32 { return quant.FP16ToFP32(quant.FP32ToFP16(v)) }

func (a *activation) compute(x []float32, f actFormat) {
	n := len(x)
	if cap(a.x) < n {
		a.x = make([]float64, n)
	}
	a.x = a.x[:n]
	a.corr = a.corr[:0]
	switch f {
	case actF32:
		for i, v := range x {
			a.x[i] = float64(v)
		}
	case actF16:
		for i, v := range x {
			a.x[i] = float64(f16Round(v))
		}
	case actBF16:
		for i, v := range x {
			a.x[i] = float64(quant.BF16ToFP32(quant.FP32ToBF16(v)))
		}
	case actQ8_0, actQ8_1:
		for b := 0; b+32 <= n; b += 32 {
			xb := x[b : b+32]
			var mb uint32
			for _, v := range xb {
				mb = max(mb, math.Float32bits(v)&0x7fffffff)
			}
			amax := math.Float32frombits(mb)
			d := amax / 127
			var id float32
			if amax != 0 {
				id = 127 / amax
			}
			dh := float64(f16Round(d))
			var sum int32
			for j, v := range xb {
				q := roundEven32(float32(v * id))
				sum += q
				a.x[b+j] = dh * float64(q)
			}
			if f == actQ8_1 {
				s := float64(f16Round(d * float32(sum)))
				a.corr = append(a.corr, s-float64(dh*float64(sum)))
			}
		}
	case actQ8_K:
		for b := 0; b+256 <= n; b += 256 {
			xb := x[b : b+256]
			var mb uint32
			for _, v := range xb {
				mb = max(mb, math.Float32bits(v)&0x7fffffff)
			}
			if mb == 0 {
				clear(a.x[b : b+256])
				continue
			}
			var mx float32
			for _, v := range xb {
				if math.Float32bits(v)&0x7fffffff == mb {
					mx = v
					break
				}
			}
			iscale := -127 / mx
			d := float64(1 / iscale)
			for j, v := range xb {
				q := min(127, roundEven32(float32(iscale*v)))
				a.x[b+j] = d * float64(q)
			}
		}
	}
}
