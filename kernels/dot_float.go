package kernels

import "math"

// Float row dots. Each uses eight independent float32 accumulators over
// consecutive runs of 8 values, combined in a fixed order, then a scalar
// tail, so the result depends only on the row and the activations. The
// eight accumulators are the eight lanes of the SIMD kernels.
//
// Every product is wrapped in float32(...): that rounds it before the
// addition. Without it Go may fuse w*x + s into one FMA (it does on
// arm64, and on amd64 with GOAMD64=v3), which rounds once and so gives
// different bits on different machines and from the SIMD kernels, which
// multiply and add separately.

func sum8(s0, s1, s2, s3, s4, s5, s6, s7 float32) float32 {
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// dotF32Bytes reads the f32 weights with encoding/binary, so it works for
// any alignment and byte order.
func dotF32Bytes(w []byte, a *actVec) float32 {
	x := a.f
	n := len(x)
	w = w[:4*n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		wb := (*[32]byte)(w[4*i:])
		xx := (*[8]float32)(x[i:])
		s0 += float32(math.Float32frombits(le32(wb[0:])) * xx[0])
		s1 += float32(math.Float32frombits(le32(wb[4:])) * xx[1])
		s2 += float32(math.Float32frombits(le32(wb[8:])) * xx[2])
		s3 += float32(math.Float32frombits(le32(wb[12:])) * xx[3])
		s4 += float32(math.Float32frombits(le32(wb[16:])) * xx[4])
		s5 += float32(math.Float32frombits(le32(wb[20:])) * xx[5])
		s6 += float32(math.Float32frombits(le32(wb[24:])) * xx[6])
		s7 += float32(math.Float32frombits(le32(wb[28:])) * xx[7])
	}
	s := sum8(s0, s1, s2, s3, s4, s5, s6, s7)
	for ; i < n; i++ {
		s += float32(math.Float32frombits(le32(w[4*i:])) * x[i])
	}
	return s
}

// dotF32Slice is the same computation over weights already viewed as
// []float32 (see f32view).
func dotF32Slice(wf, x []float32) float32 {
	n := len(x)
	wf = wf[:n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		ww := (*[8]float32)(wf[i:])
		xx := (*[8]float32)(x[i:])
		s0 += float32(ww[0] * xx[0])
		s1 += float32(ww[1] * xx[1])
		s2 += float32(ww[2] * xx[2])
		s3 += float32(ww[3] * xx[3])
		s4 += float32(ww[4] * xx[4])
		s5 += float32(ww[5] * xx[5])
		s6 += float32(ww[6] * xx[6])
		s7 += float32(ww[7] * xx[7])
	}
	s := sum8(s0, s1, s2, s3, s4, s5, s6, s7)
	for ; i < n; i++ {
		s += float32(wf[i] * x[i])
	}
	return s
}

// dotF32View views the row as []float32 where that is safe (see
// f32view_*.go) and falls back to dotF32Bytes otherwise.
func dotF32View(w []byte, a *actVec) float32 {
	if wf := f32view(w, len(a.f)); wf != nil {
		return dotF32Slice(wf, a.f)
	}
	return dotF32Bytes(w, a)
}

// dotF16 multiplies f16 weights (converted by table) with the f16-rounded
// activations in float32.
func dotF16(w []byte, a *actVec) float32 {
	x := a.f
	n := len(x)
	w = w[:2*n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		wb := (*[16]byte)(w[2*i:])
		xx := (*[8]float32)(x[i:])
		s0 += float32(f16tab[le16(wb[0:])] * xx[0])
		s1 += float32(f16tab[le16(wb[2:])] * xx[1])
		s2 += float32(f16tab[le16(wb[4:])] * xx[2])
		s3 += float32(f16tab[le16(wb[6:])] * xx[3])
		s4 += float32(f16tab[le16(wb[8:])] * xx[4])
		s5 += float32(f16tab[le16(wb[10:])] * xx[5])
		s6 += float32(f16tab[le16(wb[12:])] * xx[6])
		s7 += float32(f16tab[le16(wb[14:])] * xx[7])
	}
	s := sum8(s0, s1, s2, s3, s4, s5, s6, s7)
	for ; i < n; i++ {
		s += float32(f16tab[le16(w[2*i:])] * x[i])
	}
	return s
}

// dotBF16 multiplies bf16 weights with the bf16-rounded activations in
// float32.
func dotBF16(w []byte, a *actVec) float32 {
	x := a.f
	n := len(x)
	w = w[:2*n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		wb := (*[16]byte)(w[2*i:])
		xx := (*[8]float32)(x[i:])
		s0 += float32(bf16ToFP32(le16(wb[0:])) * xx[0])
		s1 += float32(bf16ToFP32(le16(wb[2:])) * xx[1])
		s2 += float32(bf16ToFP32(le16(wb[4:])) * xx[2])
		s3 += float32(bf16ToFP32(le16(wb[6:])) * xx[3])
		s4 += float32(bf16ToFP32(le16(wb[8:])) * xx[4])
		s5 += float32(bf16ToFP32(le16(wb[10:])) * xx[5])
		s6 += float32(bf16ToFP32(le16(wb[12:])) * xx[6])
		s7 += float32(bf16ToFP32(le16(wb[14:])) * xx[7])
	}
	s := sum8(s0, s1, s2, s3, s4, s5, s6, s7)
	for ; i < n; i++ {
		s += float32(bf16ToFP32(le16(w[2*i:])) * x[i])
	}
	return s
}
