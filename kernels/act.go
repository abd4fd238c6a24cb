package kernels

import "math"

// Activation formats: before a product the activation vector is converted,
// once per call and position, into the format ggml pairs with the weight
// type (its vec_dot_type).

// actFormat names the activation format a weight type computes against.
type actFormat uint8

const (
	actF32  actFormat = iota // float32, used as given
	actF16                   // rounded to float16, kept as float32
	actBF16                  // rounded to bfloat16, kept as float32
	actQ8_0                  // 32-value blocks: int8 quants, f16 scale
	actQ8_1                  // as actQ8_0 plus s = d*sum(q) as f16
	actQ8_K                  // 256-value blocks: int8 quants, f32 scale, 16-value sums
)

// packFormat names an optional re-packing of the int8 quants that a
// particular row-dot implementation reads (see swar.go).
type packFormat uint8

const (
	packNone packFormat = iota
	// pack16: per 8 quants q0..q7 two words, the even and odd quants in
	// 16-bit lanes, first quant in the top lane: q0<<48 + q2<<32 + q4<<16 + q6
	// and likewise q1, q3, q5, q7.
	pack16
	// pack32: per 8 quants four words q[i]<<32 + q[i+4], i = 0..3.
	pack32
)

// actVec is one quantized activation vector. Which fields are set depends
// on the format; all are sliced to their exact lengths.
type actVec struct {
	f   []float32 // actF32/F16/BF16: the (rounded) values; for actF32 the caller's x
	fb  []float32 // owned buffer behind f for actF16/actBF16
	q   []int8    // Q8_*: quants
	d   []float32 // Q8_*: block scales as float32 (f16 values for Q8_0/Q8_1)
	s   []float32 // Q8_1: f16(d*sum(q)) as float32
	sum []int32   // Q8_0/Q8_1: sum of each block's quants; Q8_K: bsums (per 16)
	p   []uint64  // packed quants for pack16/pack32
}

func growF32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func growI32(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	return b[:n]
}

// quantizeAct converts x into a in format f, then re-packs the quants for
// pk. For actF32, a.f aliases x (no copy). Buffers in a are reused.
func quantizeAct(a *actVec, x []float32, f actFormat, pk packFormat) {
	n := len(x)
	switch f {
	case actF32:
		a.f = x // never written: buffers are grown in fb only
		return
	case actF16:
		a.fb = growF32(a.fb, n)
		a.f = a.fb
		dst := a.f[:n]
		for i, v := range x {
			dst[i] = roundF16(v)
		}
		return
	case actBF16:
		a.fb = growF32(a.fb, n)
		a.f = a.fb
		dst := a.f[:n]
		for i, v := range x {
			dst[i] = bf16ToFP32(fp32ToBF16(v))
		}
		return
	}
	if cap(a.q) < n {
		a.q = make([]int8, n)
	}
	a.q = a.q[:n]
	switch f {
	case actQ8_0:
		quantQ8_0(a, x, false)
	case actQ8_1:
		quantQ8_0(a, x, true)
	case actQ8_K:
		quantQ8_K(a, x)
	}
	switch pk {
	case pack16:
		packQuants16(a)
	case pack32:
		packQuants32(a)
	}
}

// quantQ8_0 quantizes x in 32-value blocks as ggml's x86 (AVX2)
// quantize_row_q8_0 / quantize_row_q8_1 do, the code that produced the
// project's golden outputs: amax = max|x|, d = amax/127 stored as f16,
// q = round-half-even(x * (127/amax)). With withS it also sets s =
// f16(d*sum(q)) using the unrounded float32 d (Q8_1).
func quantQ8_0(a *actVec, x []float32, withS bool) {
	nb := len(x) / 32
	a.d = growF32(a.d, nb)
	a.sum = growI32(a.sum, nb)
	if withS {
		a.s = growF32(a.s, nb)
	}
	for b := 0; b < nb; b++ {
		xb := (*[32]float32)(x[b*32:])
		qb := (*[32]int8)(a.q[b*32:])
		amax := absMax32(xb)
		d := amax / 127
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		var s0, s1 int32
		for j := 0; j < 32; j += 4 {
			q0, q1 := roundEven(xb[j]*id), roundEven(xb[j+1]*id)
			q2, q3 := roundEven(xb[j+2]*id), roundEven(xb[j+3]*id)
			qb[j], qb[j+1], qb[j+2], qb[j+3] = int8(q0), int8(q1), int8(q2), int8(q3)
			s0 += q0 + q2
			s1 += q1 + q3
		}
		s := s0 + s1
		a.d[b] = f16tab[fp32ToFP16(d)]
		a.sum[b] = s
		if withS {
			a.s[b] = f16tab[fp32ToFP16(d*float32(s))]
		}
	}
}

// quantQ8_K quantizes x in 256-value blocks as ggml's quantize_row_q8_K_ref:
// with max the value of largest magnitude (first on ties), iscale =
// -127/max, q = min(127, nearest_int(iscale*x)), d = 1/iscale (float32),
// and bsums the sums of each 16 quants. An all-zero block gets d = 0.
func quantQ8_K(a *actVec, x []float32) {
	nb := len(x) / 256
	a.d = growF32(a.d, nb)
	a.sum = growI32(a.sum, nb*16)
	for b := 0; b < nb; b++ {
		xb := (*[256]float32)(x[b*256:])
		qb := (*[256]int8)(a.q[b*256:])
		bs := (*[16]int32)(a.sum[b*16:])
		const m = 0x7fffffff
		var a0, a1, a2, a3 uint32
		for j := 0; j < 256; j += 4 {
			a0 = max(a0, math.Float32bits(xb[j])&m)
			a1 = max(a1, math.Float32bits(xb[j+1])&m)
			a2 = max(a2, math.Float32bits(xb[j+2])&m)
			a3 = max(a3, math.Float32bits(xb[j+3])&m)
		}
		mb := max(max(a0, a1), max(a2, a3))
		if mb == 0 {
			a.d[b] = 0
			*qb = [256]int8{}
			*bs = [16]int32{}
			continue
		}
		var mx float32 // the first value of largest magnitude, with its sign
		for _, v := range xb {
			if math.Float32bits(v)&m == mb {
				mx = v
				break
			}
		}
		iscale := -127 / mx
		for k := range bs {
			g := (*[16]float32)(xb[k*16:])
			qg := (*[16]int8)(qb[k*16:])
			var s0, s1 int32
			for j := 0; j < 16; j += 2 {
				q0 := min(127, roundEven(iscale*g[j]))
				q1 := min(127, roundEven(iscale*g[j+1]))
				qg[j], qg[j+1] = int8(q0), int8(q1)
				s0 += q0
				s1 += q1
			}
			bs[k] = s0 + s1
		}
		a.d[b] = 1 / iscale
	}
}

func growU64(b []uint64, n int) []uint64 {
	if cap(b) < n {
		return make([]uint64, n)
	}
	return b[:n]
}

// packQuants16 fills a.p in the pack16 layout (2 words per 8 quants).
func packQuants16(a *actVec) {
	ng := len(a.q) / 8
	a.p = growU64(a.p, 2*ng)
	for g := 0; g < ng; g++ {
		q := (*[8]int8)(a.q[g*8:])
		p := (*[2]uint64)(a.p[g*2:])
		p[0] = uint64(int64(q[0])<<48 + int64(q[2])<<32 + int64(q[4])<<16 + int64(q[6]))
		p[1] = uint64(int64(q[1])<<48 + int64(q[3])<<32 + int64(q[5])<<16 + int64(q[7]))
	}
}

// packQuants32 fills a.p in the pack32 layout (4 words per 8 quants).
func packQuants32(a *actVec) {
	ng := len(a.q) / 8
	a.p = growU64(a.p, 4*ng)
	for g := 0; g < ng; g++ {
		q := (*[8]int8)(a.q[g*8:])
		p := (*[4]uint64)(a.p[g*4:])
		for i := 0; i < 4; i++ {
			p[i] = uint64(int64(q[i])<<32 + int64(q[i+4]))
		}
	}
}

// absMax32 returns max |x| of a block (as the largest magnitude bits,
// which order like the values for non-NaN floats), with four independent
// running maxima.
func absMax32(x *[32]float32) float32 {
	const m = 0x7fffffff
	var a0, a1, a2, a3 uint32
	for j := 0; j < 32; j += 4 {
		a0 = max(a0, math.Float32bits(x[j])&m)
		a1 = max(a1, math.Float32bits(x[j+1])&m)
		a2 = max(a2, math.Float32bits(x[j+2])&m)
		a3 = max(a3, math.Float32bits(x[j+3])&m)
	}
	return math.Float32frombits(max(max(a0, a1), max(a2, a3)))
}
