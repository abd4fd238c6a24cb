package quant

import (
	"encoding/binary"
	"math"
)

// The 32-value block types. All multi-byte fields are little-endian; "f16"
// is an IEEE binary16 scale. Value j of a block (0 <= j < 32):
//
//	Q4_0 {d f16; qs[16]}           q = j<16 ? qs[j]&15 : qs[j-16]>>4;  x = (q-8)*d
//	Q4_1 {d, m f16; qs[16]}        q as Q4_0;                          x = q*d + m
//	Q5_0 {d f16; qh u32; qs[16]}   q = nibble as Q4_0 | (qh>>j&1)<<4;  x = (q-16)*d
//	Q5_1 {d, m f16; qh u32; qs[16]} q as Q5_0;                         x = q*d + m
//	Q8_0 {d f16; qs[32] int8}      x = qs[j]*d
//	Q8_1 {d, s f16; qs[32] int8}   x = qs[j]*d; s = d*sum(qs), used by dot kernels
//
// So the low nibbles of qs hold values 0..15 and the high nibbles 16..31,
// and bit j of qh is the fifth bit of value j.

func dequantQ4_0(y []float32, b []byte) {
	d := getHalf(b[0:])
	qs := b[2:18]
	for j := 0; j < 16; j++ {
		y[j] = float32(int(qs[j]&0xf)-8) * d
		y[j+16] = float32(int(qs[j]>>4)-8) * d
	}
}

func dequantQ4_1(y []float32, b []byte) {
	d, m := getHalf(b[0:]), getHalf(b[2:])
	qs := b[4:20]
	for j := 0; j < 16; j++ {
		y[j] = float32(float32(qs[j]&0xf)*d) + m
		y[j+16] = float32(float32(qs[j]>>4)*d) + m
	}
}

func dequantQ5_0(y []float32, b []byte) {
	d := getHalf(b[0:])
	qh := binary.LittleEndian.Uint32(b[2:])
	qs := b[6:22]
	for j := 0; j < 16; j++ {
		lo := int(qs[j]&0xf) | int(qh>>j&1)<<4
		hi := int(qs[j]>>4) | int(qh>>(j+16)&1)<<4
		y[j] = float32(lo-16) * d
		y[j+16] = float32(hi-16) * d
	}
}

func dequantQ5_1(y []float32, b []byte) {
	d, m := getHalf(b[0:]), getHalf(b[2:])
	qh := binary.LittleEndian.Uint32(b[4:])
	qs := b[8:24]
	for j := 0; j < 16; j++ {
		lo := int(qs[j]&0xf) | int(qh>>j&1)<<4
		hi := int(qs[j]>>4) | int(qh>>(j+16)&1)<<4
		y[j] = float32(float32(lo)*d) + m
		y[j+16] = float32(float32(hi)*d) + m
	}
}

func dequantQ8_0(y []float32, b []byte) {
	d := getHalf(b[0:])
	for j, q := range b[2:34] {
		y[j] = float32(int8(q)) * d
	}
}

func dequantQ8_1(y []float32, b []byte) {
	d := getHalf(b[0:])
	for j, q := range b[4:36] {
		y[j] = float32(int8(q)) * d
	}
}

// absMaxSigned returns the largest magnitude in x and the (signed) value
// that has it, the first one on ties, as ggml's quantizers pick it.
func absMaxSigned(x []float32) (amax, max float32) {
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, max = a, v
		}
	}
	return amax, max
}

func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	return lo, hi
}

// inverse returns 1/d, or 0 for d == 0, like ggml's "d ? 1.0f/d : 0.0f".
// It also returns 0 where 1/d overflows (d a tiny float32 subnormal), a
// case that is undefined behaviour in ggml; such blocks get a float16 scale
// of 0 and decode to zeros either way.
func inverse(d float32) float32 {
	if d == 0 {
		return 0
	}
	id := 1 / d
	if math.IsInf(float64(id), 0) {
		return 0
	}
	return id
}

// quantizeQ4_0 follows quantize_row_q4_0_ref: d = -max/8 where max is the
// value of largest magnitude (so it maps to q=0, i.e. -8), q =
// min(15, trunc(x/d + 8.5)). It reports false if d overflows float16.
// The explicit float32 conversions keep the product from being fused with
// the following addition, so results match ggml's separately rounded ops.
func quantizeQ4_0(b []byte, x []float32) bool {
	_, mx := absMaxSigned(x)
	d := mx / -8
	id := inverse(d)
	dh := FP32ToFP16(d)
	putHalf(b[0:], dh)
	for j := 0; j < 16; j++ {
		q0 := clampInt(int(float32(x[j]*id)+8.5), 0, 15)
		q1 := clampInt(int(float32(x[j+16]*id)+8.5), 0, 15)
		b[2+j] = byte(q0) | byte(q1)<<4
	}
	return halfOK(dh)
}

// quantizeQ4_1 follows quantize_row_q4_1_ref: m = min, d = (max-min)/15,
// q = min(15, trunc((x-m)/d + 0.5)).
func quantizeQ4_1(b []byte, x []float32) bool {
	lo, hi := minMax(x)
	d := (hi - lo) / 15
	id := inverse(d)
	dh, mh := FP32ToFP16(d), FP32ToFP16(lo)
	putHalf(b[0:], dh)
	putHalf(b[2:], mh)
	for j := 0; j < 16; j++ {
		q0 := clampInt(int(float32((x[j]-lo)*id)+0.5), 0, 15)
		q1 := clampInt(int(float32((x[j+16]-lo)*id)+0.5), 0, 15)
		b[4+j] = byte(q0) | byte(q1)<<4
	}
	return halfOK(dh) && halfOK(mh)
}

// quantizeQ5_0 follows quantize_row_q5_0_ref: d = -max/16,
// q = min(31, trunc(x/d + 16.5)).
func quantizeQ5_0(b []byte, x []float32) bool {
	_, mx := absMaxSigned(x)
	d := mx / -16
	id := inverse(d)
	dh := FP32ToFP16(d)
	putHalf(b[0:], dh)
	var qh uint32
	for j := 0; j < 16; j++ {
		q0 := clampInt(int(float32(x[j]*id)+16.5), 0, 31)
		q1 := clampInt(int(float32(x[j+16]*id)+16.5), 0, 31)
		b[6+j] = byte(q0&0xf) | byte(q1&0xf)<<4
		qh |= uint32(q0>>4) << j
		qh |= uint32(q1>>4) << (j + 16)
	}
	binary.LittleEndian.PutUint32(b[2:], qh)
	return halfOK(dh)
}

// quantizeQ5_1 follows quantize_row_q5_1_ref: m = min, d = (max-min)/31,
// q = trunc((x-m)/d + 0.5) (clamped to 31, which ggml never exceeds).
func quantizeQ5_1(b []byte, x []float32) bool {
	lo, hi := minMax(x)
	d := (hi - lo) / 31
	id := inverse(d)
	dh, mh := FP32ToFP16(d), FP32ToFP16(lo)
	putHalf(b[0:], dh)
	putHalf(b[2:], mh)
	var qh uint32
	for j := 0; j < 16; j++ {
		q0 := clampInt(int(float32((x[j]-lo)*id)+0.5), 0, 31)
		q1 := clampInt(int(float32((x[j+16]-lo)*id)+0.5), 0, 31)
		b[8+j] = byte(q0&0xf) | byte(q1&0xf)<<4
		qh |= uint32(q0>>4) << j
		qh |= uint32(q1>>4) << (j + 16)
	}
	binary.LittleEndian.PutUint32(b[4:], qh)
	return halfOK(dh) && halfOK(mh)
}

// roundHalfAway rounds like C's roundf: to nearest, ties away from zero.
func roundHalfAway(f float32) int { return int(math.Round(float64(f))) }

// quantizeQ8_0 follows quantize_row_q8_0_ref: d = amax/127,
// q = roundf(x/d) (computed as x * (1/d)).
func quantizeQ8_0(b []byte, x []float32) bool {
	amax, _ := absMaxSigned(x)
	d := amax / 127
	id := inverse(d)
	dh := FP32ToFP16(d)
	putHalf(b[0:], dh)
	for j, v := range x {
		b[2+j] = byte(int8(clampInt(roundHalfAway(v*id), -127, 127)))
	}
	return halfOK(dh)
}

// quantizeQ8_1 follows quantize_row_q8_1_ref: as Q8_0, plus
// s = f16(float32(sum(qs)) * d) with the unrounded float32 d.
func quantizeQ8_1(b []byte, x []float32) bool {
	amax, _ := absMaxSigned(x)
	d := amax / 127
	id := inverse(d)
	dh := FP32ToFP16(d)
	putHalf(b[0:], dh)
	sum := 0
	for j, v := range x {
		q := clampInt(roundHalfAway(v*id), -127, 127)
		b[4+j] = byte(int8(q))
		sum += q
	}
	sh := FP32ToFP16(float32(sum) * d)
	putHalf(b[2:], sh)
	return halfOK(dh) && halfOK(sh)
}
