package kernels

import "math"

// f16tab maps every IEEE binary16 bit pattern to its exact float32 value.
// It is built once at start-up (256 KiB) and used for f16 weights, block
// scales and f16-rounded activations.
var f16tab [1 << 16]float32

func init() {
	for i := range f16tab {
		f16tab[i] = fp16ToFP32(uint16(i))
	}
}

// fp16ToFP32 converts binary16 bits to float32 exactly (subnormals, signed
// zeros, infinities and NaN payloads included).
func fp16ToFP32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: mant * 2^-24 is exact in float32.
	v := float32(mant) * (1.0 / (1 << 24))
	return math.Float32frombits(sign | math.Float32bits(v))
}

// fp32ToFP16 rounds f to binary16 bits, to nearest with ties to even, as
// the F16C instruction vcvtps2ph that ggml uses on x86 does. NaNs stay NaN
// (quietened, keeping the top payload bits).
func fp32ToFP16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13)
	}
	he := exp - 127 + 15
	switch {
	case he >= 0x1f:
		return sign | 0x7c00
	case he <= 0:
		if he < -10 {
			return sign
		}
		return sign | uint16(shiftRoundEven(mant|0x800000, uint(14-he)))
	}
	// A carry out of the mantissa bumps the exponent (and 30 -> infinity).
	return sign | uint16(shiftRoundEven(uint32(he)<<23|mant, 13))
}

func shiftRoundEven(v uint32, s uint) uint32 {
	q := v >> s
	r := v & (1<<s - 1)
	half := uint32(1) << (s - 1)
	if r > half || (r == half && q&1 == 1) {
		q++
	}
	return q
}

// bf16ToFP32 converts bfloat16 bits to float32 (exact).
func bf16ToFP32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// fp32ToBF16 rounds f to bfloat16 bits like ggml_compute_fp32_to_bf16:
// ties to even, NaNs quietened.
func fp32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + ((b >> 16) & 1)) >> 16)
}

// roundEven rounds f to the nearest integer, ties to even, for |f| < 2^22,
// exactly as ggml's nearest_int and the x86 _mm256_round_ps(v,
// _MM_ROUND_NEAREST) do: adding 1.5*2^23 leaves the integer in the low
// mantissa bits.
//
// Callers pass a product as float32(x*y): without the explicit conversion
// Go may fuse x*y + 1.5*2^23 into one FMA (arm64, GOAMD64=v3), which rounds
// x*y to an integer directly instead of first to float32 and so changes
// some quants from one machine to another.
func roundEven(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x7fffff) - 0x400000
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }

// roundF16 rounds f to the nearest float16 value (ties to even) and returns
// it as float32: f16tab[fp32ToFP16(f)], with a fast path for the normal
// float16 range.
func roundF16(f float32) float32 {
	b := math.Float32bits(f)
	// Exponents 113..141 stay normal after rounding (142 may overflow).
	if e := b >> 23 & 0xff; e-113 < 141-113+1 {
		return math.Float32frombits((b + 0xfff + (b>>13)&1) &^ 0x1fff)
	}
	return f16tab[fp32ToFP16(f)]
}
