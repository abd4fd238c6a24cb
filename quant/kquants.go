package quant

import (
	"encoding/binary"
	"math"
)

// The K-quants: super-blocks of QKK = 256 values. Byte layouts (offsets in
// bytes, little-endian, f16 = IEEE binary16):
//
//	Q4_K (144): d f16 @0, dmin f16 @2, scales[12] @4, qs[128] @16
//	Q5_K (176): d f16 @0, dmin f16 @2, scales[12] @4, qh[32] @16, qs[128] @48
//	Q6_K (210): ql[128] @0, qh[64] @128, scales[16] int8 @192, d f16 @208
//	Q8_K (292): d float32 @0, qs[256] int8 @4, bsums[16] int16 @260
//
// Q4_K and Q5_K: eight sub-blocks of 32 values, each with a 6-bit scale sc
// and 6-bit min m packed into scales[12] (see UnpackScaleMinK4). Value i
// lies in sub-block j = i/32; it uses byte qs[32*(j/2) + i%32], low nibble
// for even j and high nibble for odd j; for Q5_K bit j of qh[i%32] is its
// fifth bit. x = d*sc*q - dmin*m.
//
// Q6_K: sixteen sub-blocks of 16 values with int8 scales. Value i lies in
// half h = i/128 and, within it, quarter r = (i%128)/32 at l = i%32. Its low
// four bits are in ql[64*h + l + 32*(r%2)], low nibble for r < 2 and high
// nibble for r >= 2; its top two bits are bits 2r..2r+1 of qh[32*h + l].
// x = d*scales[i/16]*(q-32).
//
// Q8_K: x = d*qs[i]; bsums[k] is the sum of qs[16k..16k+15], which dot
// kernels use to apply the K-quant mins.

// UnpackScaleMinK4 returns the 6-bit scale and min of sub-block j (0..7)
// from the 12-byte scales field of a Q4_K or Q5_K block (ggml's
// get_scale_min_k4). Sub-blocks 0..3 keep scale and min in the low six bits
// of bytes j and j+4; sub-blocks 4..7 keep their low four bits in the two
// nibbles of byte j+4 and their top two bits in the top two bits of bytes
// j-4 (scale) and j (min).
func UnpackScaleMinK4(j int, scales []byte) (sc, m uint8) {
	if j < 4 {
		return scales[j] & 63, scales[j+4] & 63
	}
	sc = scales[j+4]&0xf | (scales[j-4]>>6)<<4
	m = scales[j+4]>>4 | (scales[j]>>6)<<4
	return sc, m
}

// PackScaleMinK4 writes eight 6-bit scales and mins (values above 63 are
// truncated to their low six bits) into the 12-byte scales field dst of a
// Q4_K or Q5_K block; it is the inverse of UnpackScaleMinK4.
func PackScaleMinK4(dst []byte, sc, m *[8]uint8) {
	_ = dst[11]
	for j := 0; j < 4; j++ {
		dst[j] = sc[j]&63 | (sc[j+4]>>4&3)<<6
		dst[j+4] = m[j]&63 | (m[j+4]>>4&3)<<6
		dst[j+8] = sc[j+4]&0xf | (m[j+4]&0xf)<<4
	}
}

func dequantQ4_K(y []float32, b []byte) {
	d, dmin := getHalf(b[0:]), getHalf(b[2:])
	scales := b[4:16]
	qs := b[16:144]
	for j := 0; j < 8; j++ {
		sc, m := UnpackScaleMinK4(j, scales)
		ds, dm := float32(d*float32(sc)), float32(dmin*float32(m)) // rounded: no fused multiply-add, the same bits everywhere
		q := qs[32*(j/2) : 32*(j/2)+32]
		shift := 4 * uint(j%2)
		for l := 0; l < 32; l++ {
			y[32*j+l] = float32(ds*float32(q[l]>>shift&0xf)) - dm
		}
	}
}

func dequantQ5_K(y []float32, b []byte) {
	d, dmin := getHalf(b[0:]), getHalf(b[2:])
	scales := b[4:16]
	qh := b[16:48]
	qs := b[48:176]
	for j := 0; j < 8; j++ {
		sc, m := UnpackScaleMinK4(j, scales)
		ds, dm := float32(d*float32(sc)), float32(dmin*float32(m)) // rounded: no fused multiply-add, the same bits everywhere
		q := qs[32*(j/2) : 32*(j/2)+32]
		shift := 4 * uint(j%2)
		for l := 0; l < 32; l++ {
			v := q[l]>>shift&0xf | (qh[l]>>uint(j)&1)<<4
			y[32*j+l] = float32(ds*float32(v)) - dm
		}
	}
}

func dequantQ6_K(y []float32, b []byte) {
	ql := b[0:128]
	qh := b[128:192]
	scales := b[192:208]
	d := getHalf(b[208:])
	for i := 0; i < QKK; i++ {
		h, r, l := i/128, (i%128)/32, i%32
		lo := ql[64*h+l+32*(r%2)] >> (4 * uint(r/2)) & 0xf
		hi := qh[32*h+l] >> (2 * uint(r)) & 3
		q := int(lo|hi<<4) - 32
		// ggml: d * sc[is] * q, evaluated left to right in float32.
		y[i] = float32(d*float32(int8(scales[i/16]))) * float32(q)
	}
}

func dequantQ8_K(y []float32, b []byte) {
	d := math.Float32frombits(binary.LittleEndian.Uint32(b[0:]))
	for i, q := range b[4 : 4+QKK] {
		y[i] = d * float32(int8(q))
	}
}

// quantizeQ8_K follows quantize_row_q8_K_ref: with max the value of largest
// magnitude, iscale = -127/max, q = min(127, nearest_int(iscale*x)),
// d = 1/iscale stored as float32, and bsums the 16-value sums of q. An
// all-zero block gets d = 0 and zero quants and sums, and so does one whose
// iscale overflows (values that are tiny float32 subnormals).
func quantizeQ8_K(b []byte, x []float32) bool {
	amax, mx := absMaxSigned(x)
	iscale := -127 / mx
	if amax == 0 || math.IsInf(float64(iscale), 0) {
		clear(b[:292])
		return true
	}
	qs := b[4 : 4+QKK]
	for i, v := range x {
		qs[i] = byte(int8(min(127, NearestInt(iscale*v))))
	}
	for k := 0; k < QKK/16; k++ {
		sum := 0
		for _, q := range qs[16*k : 16*k+16] {
			sum += int(int8(q))
		}
		binary.LittleEndian.PutUint16(b[260+2*k:], uint16(int16(sum)))
	}
	binary.LittleEndian.PutUint32(b[0:], math.Float32bits(1/iscale))
	return true
}

// fitAffine chooses a scale a >= 0 and an offset c <= 0 so that each x[i]
// is approximated by a*q + c with an integer q in [0, nmax], minimising the
// squared error. It tries 21 step sizes around (max-min)/nmax (with min
// taken no greater than 0); for each it rounds the values to levels, fits a
// and c to those levels by least squares (c clamped to <= 0, refitting a),
// and keeps the pair whose error, with values re-rounded to it, is least.
// The result is an unweighted relative of ggml's make_qkx2_quants.
func fitAffine(x []float32, nmax int) (a, c float64) {
	lo, hi := float64(x[0]), float64(x[0])
	for _, v := range x {
		lo = math.Min(lo, float64(v))
		hi = math.Max(hi, float64(v))
	}
	lo = math.Min(lo, 0)
	if hi == lo {
		return 0, lo
	}
	n, fmax := float64(len(x)), float64(nmax)
	var sx float64
	for _, v := range x {
		sx += float64(v)
	}
	bestA, bestC := (hi-lo)/fmax, lo
	bestErr := affineError(x, nmax, bestA, bestC)
	for k := -10; k <= 10; k++ {
		iscale := (fmax + 0.1*float64(k)) / (hi - lo)
		var sl, sl2, sxl float64
		for _, v := range x {
			l := float64(clampInt(int(math.RoundToEven(iscale*(float64(v)-lo))), 0, nmax))
			sl += l
			sl2 += l * l
			sxl += l * float64(v)
		}
		det := n*sl2 - sl*sl
		if det <= 0 {
			continue
		}
		ta := (n*sxl - sx*sl) / det
		tc := (sl2*sx - sl*sxl) / det
		if tc > 0 {
			tc, ta = 0, sxl/sl2
		}
		if ta <= 0 {
			continue
		}
		if e := affineError(x, nmax, ta, tc); e < bestErr {
			bestA, bestC, bestErr = ta, tc, e
		}
	}
	return bestA, bestC
}

// affineError is the squared error of coding x as a*q + c, q in [0, nmax].
func affineError(x []float32, nmax int, a, c float64) float64 {
	var e float64
	for _, v := range x {
		q := float64(clampInt(int(math.RoundToEven((float64(v)-c)/a)), 0, nmax))
		d := a*q + c - float64(v)
		e += d * d
	}
	return e
}

// encodeKAffine does the shared work of the Q4_K and Q5_K quantizers:
// fitAffine per 32-value sub-block; d = max(scale)/63 and dmin =
// max(min)/63 as float16; then, for each sub-block, the 6-bit scale and min
// are the best (least squared error) of the 3x3 neighbours of their values
// rounded against the decoded d and dmin, each candidate judged with every
// value rounded to its nearest level under exactly the scale and min the
// decoder will use. It fills the d, dmin and scales fields of b and the
// levels L, and reports false if d or dmin overflows float16.
func encodeKAffine(b []byte, x []float32, nmax int, L *[QKK]uint8) bool {
	var scale, mins [8]float64
	var maxScale, maxMin float64
	for j := 0; j < 8; j++ {
		a, c := fitAffine(x[32*j:32*j+32], nmax)
		scale[j], mins[j] = a, -c
		maxScale = math.Max(maxScale, a)
		maxMin = math.Max(maxMin, -c)
	}
	dh, dminh := superScale(maxScale, 63), superScale(maxMin, 63)
	putHalf(b[0:], dh)
	putHalf(b[2:], dminh)
	if !halfOK(dh) || !halfOK(dminh) {
		return false
	}
	d, dmin := FP16ToFP32(dh), FP16ToFP32(dminh)
	var sc, m [8]uint8
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		rs, rm := roundLevel(scale[j], d, 0, 63), roundLevel(mins[j], dmin, 0, 63)
		bestErr := math.Inf(1)
		for cs := max(rs-1, 0); cs <= min(rs+1, 63); cs++ {
			for cm := max(rm-1, 0); cm <= min(rm+1, 63); cm++ {
				ds, dm := d*float32(cs), dmin*float32(cm)
				var e float64
				for _, v := range xs {
					diff := float64(float32(ds*float32(affineLevel(v, ds, dm, nmax))) - dm - v)
					e += diff * diff
				}
				if e < bestErr {
					bestErr, sc[j], m[j] = e, uint8(cs), uint8(cm)
				}
			}
		}
		ds, dm := d*float32(sc[j]), dmin*float32(m[j])
		for l, v := range xs {
			L[32*j+l] = uint8(affineLevel(v, ds, dm, nmax))
		}
	}
	PackScaleMinK4(b[4:16], &sc, &m)
	return true
}

// superScale returns the float16 super-block scale d for sub-block scales
// whose largest magnitude is s, to be coded as integers up to levels in
// magnitude: d = s/levels rounded to float16, then made one float16 step
// larger if rounding left s/d above levels+0.5, which happens where d is a
// subnormal float16 (tiny weights) and would clip the largest sub-block.
func superScale(s float64, levels int) uint16 {
	h := FP32ToFP16(float32(s / float64(levels)))
	if d := math.Abs(float64(FP16ToFP32(h))); halfOK(h) && s != 0 && math.Abs(s)/d > float64(levels)+0.5 {
		h++ // next larger magnitude (sign-magnitude encoding)
	}
	return h
}

// roundLevel returns v/unit rounded to an integer in [lo, hi], or 0 if
// unit is 0.
func roundLevel(v float64, unit float32, lo, hi int) int {
	if unit == 0 {
		return 0
	}
	return clampInt(int(math.RoundToEven(v/float64(unit))), lo, hi)
}

// affineLevel is the level q in [0, nmax] whose decoded value ds*q - dm is
// nearest to v (0 when ds is 0).
func affineLevel(v, ds, dm float32, nmax int) int {
	if ds == 0 {
		return 0
	}
	return clampInt(NearestInt((v+dm)/ds), 0, nmax)
}

// quantizeQ4_K encodes one Q4_K block with encodeKAffine (levels 0..15).
func quantizeQ4_K(b []byte, x []float32) bool {
	var L [QKK]uint8
	if !encodeKAffine(b, x, 15, &L) {
		return false
	}
	qs := b[16:144]
	for j := 0; j < 8; j += 2 {
		for l := 0; l < 32; l++ {
			qs[16*j+l] = L[32*j+l] | L[32*(j+1)+l]<<4
		}
	}
	return true
}

// quantizeQ5_K encodes one Q5_K block with encodeKAffine (levels 0..31).
func quantizeQ5_K(b []byte, x []float32) bool {
	var L [QKK]uint8
	if !encodeKAffine(b, x, 31, &L) {
		return false
	}
	qh := b[16:48]
	qs := b[48:176]
	clear(qh)
	for j := 0; j < 8; j++ {
		for l := 0; l < 32; l++ {
			qh[l] |= (L[32*j+l] >> 4) << uint(j)
		}
	}
	for j := 0; j < 8; j += 2 {
		for l := 0; l < 32; l++ {
			qs[16*j+l] = L[32*j+l]&0xf | (L[32*(j+1)+l]&0xf)<<4
		}
	}
	return true
}

// fitSymmetric chooses a (signed) scale a so that each x[i] is approximated
// by a*q with an integer q in [-32, 31], minimising the squared error. Like
// ggml's make_qx_quants it maps the value of largest magnitude to -32
// (the side with the extra level), tries 19 step sizes around that, fits a
// to each rounding by least squares, and keeps the best.
func fitSymmetric(x []float32) float64 {
	var amax, mx float64
	for _, v := range x {
		if a := math.Abs(float64(v)); a > amax {
			amax, mx = a, float64(v)
		}
	}
	if amax == 0 {
		return 0
	}
	best := mx / -32
	bestErr := symError(x, best)
	for k := -9; k <= 9; k++ {
		iscale := -(32 + 0.1*float64(k)) / mx
		var slx, sl2 float64
		for _, v := range x {
			l := float64(clampInt(int(math.RoundToEven(iscale*float64(v))), -32, 31))
			slx += l * float64(v)
			sl2 += l * l
		}
		if sl2 == 0 {
			continue
		}
		a := slx / sl2
		if e := symError(x, a); e < bestErr {
			best, bestErr = a, e
		}
	}
	return best
}

// symError is the squared error of coding x as a*q, q in [-32, 31].
func symError(x []float32, a float64) float64 {
	var e float64
	for _, v := range x {
		q := float64(clampInt(int(math.RoundToEven(float64(v)/a)), -32, 31))
		d := a*q - float64(v)
		e += d * d
	}
	return e
}

// quantizeQ6_K encodes one Q6_K block: fitSymmetric per 16-value
// sub-block; with s the sub-block scale of largest magnitude, d = -s/128 as
// float16 (so s gets int8 scale -128, as in ggml); each int8 scale is then
// the best (least squared error) of the neighbours of its value rounded
// against the decoded d, judged with every value rounded to its nearest
// level in [-32, 31] under exactly the scale the decoder will use.
func quantizeQ6_K(b []byte, x []float32) bool {
	var scale [16]float64
	var amax, smax float64
	for k := 0; k < 16; k++ {
		scale[k] = fitSymmetric(x[16*k : 16*k+16])
		if a := math.Abs(scale[k]); a > amax {
			amax, smax = a, scale[k]
		}
	}
	dh := superScale(-smax, 128)
	putHalf(b[208:], dh)
	if !halfOK(dh) {
		return false
	}
	d := FP16ToFP32(dh)
	var L [QKK]uint8
	for k := 0; k < 16; k++ {
		xs := x[16*k : 16*k+16]
		r := roundLevel(scale[k], d, -128, 127)
		best, bestErr := r, math.Inf(1)
		for c := max(r-1, -128); c <= min(r+1, 127); c++ {
			ds := float32(d * float32(c))
			var e float64
			for _, v := range xs {
				diff := float64(float32(ds*float32(symLevel(v, ds))) - v)
				e += diff * diff
			}
			if e < bestErr {
				best, bestErr = c, e
			}
		}
		b[192+k] = byte(int8(best))
		ds := float32(d * float32(best))
		for l, v := range xs {
			L[16*k+l] = uint8(symLevel(v, ds) + 32)
		}
	}
	ql := b[0:128]
	qh := b[128:192]
	for h := 0; h < 2; h++ {
		for l := 0; l < 32; l++ {
			v0, v1, v2, v3 := L[128*h+l], L[128*h+l+32], L[128*h+l+64], L[128*h+l+96]
			ql[64*h+l] = v0&0xf | (v2&0xf)<<4
			ql[64*h+l+32] = v1&0xf | (v3&0xf)<<4
			qh[32*h+l] = v0>>4 | (v1>>4)<<2 | (v2>>4)<<4 | (v3>>4)<<6
		}
	}
	return true
}

// symLevel is the level q in [-32, 31] whose decoded value ds*q is nearest
// to v (0 when ds is 0).
func symLevel(v, ds float32) int {
	if ds == 0 {
		return 0
	}
	return clampInt(NearestInt(v/ds), -32, 31)
}
