package quant

import "math"

// FP16ToFP32 converts an IEEE 754 binary16 value, given as its bits, to
// float32. The conversion is exact for every input: subnormal halves become
// normal float32 values, infinities stay infinite and NaNs keep their sign
// and payload.
func FP16ToFP32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: mant * 2^-24. Shift the leading one into the implicit-bit
	// position, lowering the exponent for each shift.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// FP32ToFP16 converts f to IEEE 754 binary16 bits, rounding to nearest with
// ties to even, as the F16C instruction vcvtps2ph (used by ggml on x86) does.
// Magnitudes that round above 65504 become infinity, tiny values become
// subnormal halves or signed zero, and NaNs stay NaN (quietened, keeping the
// top payload bits).
func FP32ToFP16(f float32) uint16 {
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
	he := exp - 127 + 15 // biased half exponent
	switch {
	case he >= 0x1f:
		return sign | 0x7c00
	case he <= 0:
		// Subnormal result (or zero). With m the 24-bit significand, the
		// value is m * 2^(exp-150); in units of the smallest half
		// subnormal, 2^-24, that is m * 2^(he-14), i.e. m >> (14-he).
		if he < -10 {
			return sign // below half of the smallest subnormal
		}
		return sign | uint16(shiftRoundEven(mant|0x800000, uint(14-he)))
	}
	// Normal: dropping 13 mantissa bits; a carry out of the mantissa bumps
	// the exponent, and out of exponent 30 gives infinity, as it should.
	return sign | uint16(shiftRoundEven(uint32(he)<<23|mant, 13))
}

// shiftRoundEven returns v >> s rounded to nearest, ties to even.
func shiftRoundEven(v uint32, s uint) uint32 {
	q := v >> s
	r := v & (1<<s - 1)
	half := uint32(1) << (s - 1)
	if r > half || (r == half && q&1 == 1) {
		q++
	}
	return q
}

// BF16ToFP32 converts a bfloat16 value, given as its bits, to float32. This
// is exact: bfloat16 is the top half of a float32.
func BF16ToFP32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// FP32ToBF16 converts f to bfloat16 bits, rounding to nearest with ties to
// even, bit for bit like ggml_compute_fp32_to_bf16: NaNs are quietened (bit
// 6 of the result set), subnormals are rounded, not flushed, and values that
// round past the largest bfloat16 become infinity.
func FP32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + ((b >> 16) & 1)) >> 16)
}
