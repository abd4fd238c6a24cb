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
	// packK16: Q8_K block sums as int16 for SIMD kernels, 32 per
	// super-block (see actVec.ks).
	packK16
	// packK16Z: packK16, plus the quants in the order AVX-512 Q4_K rows
	// read them (see actVec.qz).
	packK16Z
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
	// ks (packK16) holds, per Q8_K super-block, 32 int16: the 16 bsums,
	// then the 8 sums of pairs of them (bsums 2j and 2j+1: the sum of
	// the quants of 32-value sub-block j), then 8 zeros. Each bsum is
	// at most 16*127 in magnitude, so int16 is exact.
	ks []int16
	// qz (packK16Z) holds the quants with each super-block's sixteen
	// 16-value runs transposed as a 4×4 matrix: qz[64c + 16L + i] =
	// q[64L + 16c + i]. Run c of 64-value quarter L is what the AVX-512
	// Q4_K rows multiply with 128-bit lane L of their c-th nibble vector
	// (see Q4KW_ROW): low nibbles of qs bytes 32L..32L+15 (c = 0) and
	// 32L+16..32L+31 (c = 1), then their high nibbles (c = 2, 3).
	qz []int8
	// g4d and g4s are set on the first position of each group of four by
	// prepTile for assembly tiles: the four positions' block scales d and
	// quant sums interleaved, g4d[4*b+i] = acts[i].d[b].
	g4d []float32
	g4s []int32
	// g4m and m16 (Q8_1) hold the positions' s interleaved like g4d and
	// d16, for the amd64 Q4_1/Q5_1 tiles (set by their prep, prepTileS).
	g4m []float32
	m16 []float32
	// g4k (Q8_K with packK16) holds per super-block the four positions'
	// 8 pair sums (32 int16: position i at 8i), then their 16 bsums
	// (64 int16: position i at 32+16i).
	g4k []int16
	// t16, d16 and s16 are set on the first position of each group of
	// sixteen by prepTile16 for the AVX-512 tiles, which keep one position
	// per 32-bit lane: the quants transposed in 4-byte chunks,
	// t16[64*c + 4*i + k] = acts[i].q[4*c + k] (chunk c), and the block
	// scales and quant sums, d16[16*b + i] = acts[i].d[b].
	t16 []int8
	d16 []float32
	s16 []int32
	// k16 (Q8_K with packK16) holds per super-block 384 int16: four
	// vectors of 16 int16 pairs, k16[384*b + 32*j + 2*i + h] = pair sum
	// 2j+h of position i (see ks), for VPDPWSSD against pairs of mins;
	// then eight such vectors of the bsums, k16[384*b + 128 + 32*j + 2*i +
	// h] = bsum 2j+h of position i, against pairs of Q6_K scales.
	k16 []int16
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
		if quantQ8_0Fast != nil {
			quantQ8_0Fast(a, x)
		} else {
			quantQ8_0(a, x, false)
		}
	case actQ8_1:
		quantQ8_0(a, x, true)
	case actQ8_K:
		if quantQ8_KFast != nil {
			quantQ8_KFast(a, x)
		} else {
			quantQ8_K(a, x)
		}
	}
	switch pk {
	case pack16:
		packQuants16(a)
	case pack32:
		packQuants32(a)
	case packK16:
		packSumsK16(a)
	case packK16Z:
		packSumsK16(a)
		packQuantsK4Z(a)
	}
}

// packQuantsK4Z fills a.qz (see actVec).
func packQuantsK4Z(a *actVec) {
	if cap(a.qz) < len(a.q) {
		a.qz = make([]int8, len(a.q))
	}
	a.qz = a.qz[:len(a.q)]
	for b := 0; b+256 <= len(a.q); b += 256 {
		for c := 0; c < 4; c++ {
			for l := 0; l < 4; l++ {
				copy(a.qz[b+64*c+16*l:b+64*c+16*l+16], a.q[b+64*l+16*c:b+64*l+16*c+16])
			}
		}
	}
}

// quantQ8_0Fast and quantQ8_KFast, if set (by the architecture's files,
// after checking CPU features), are assembly versions of quantQ8_0
// (without s) and quantQ8_K, bit-identical to them for every input
// without NaNs (TestQuantizeFast; with NaNs only the payload of the
// NaN results may differ, as it may between compilers).
// TESSERA_KERNELS=generic leaves them unset.
var quantQ8_0Fast, quantQ8_KFast func(a *actVec, x []float32)

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
			q0, q1 := roundEven(float32(xb[j]*id)), roundEven(float32(xb[j+1]*id))
			q2, q3 := roundEven(float32(xb[j+2]*id)), roundEven(float32(xb[j+3]*id))
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
				q0 := min(127, roundEven(float32(iscale*g[j])))
				q1 := min(127, roundEven(float32(iscale*g[j+1])))
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

// packSumsK16 fills a.ks from the Q8_K bsums in a.sum.
func packSumsK16(a *actVec) {
	nb := len(a.d)
	if cap(a.ks) < 32*nb {
		a.ks = make([]int16, 32*nb)
	}
	a.ks = a.ks[:32*nb]
	for b := 0; b < nb; b++ {
		bs := (*[16]int32)(a.sum[16*b:])
		ks := (*[32]int16)(a.ks[32*b:])
		for k := 0; k < 16; k++ {
			ks[k] = int16(bs[k])
		}
		for j := 0; j < 8; j++ {
			ks[16+j] = int16(bs[2*j] + bs[2*j+1])
			ks[24+j] = 0
		}
	}
}

// prepTile sets g4d, g4s and g4k on the first position of each whole
// group of four in acts (see actVec). The sums are set only for formats
// with one sum per block (Q8_0, Q8_1), g4k only for packK16.
func prepTile(acts []actVec) {
	for j := 0; j+4 <= len(acts); j += 4 {
		g := acts[j : j+4]
		a := &g[0]
		nb := len(a.d)
		a.g4d = growF32(a.g4d, 4*nb)
		withSums := len(a.sum) == nb
		if withSums {
			a.g4s = growI32(a.g4s, 4*nb)
		}
		withK := len(a.ks) == 32*nb && nb > 0
		if withK {
			if cap(a.g4k) < 96*nb {
				a.g4k = make([]int16, 96*nb)
			}
			a.g4k = a.g4k[:96*nb]
		}
		for i := range g {
			if withK {
				ks := g[i].ks[:32*nb]
				for b := 0; b < nb; b++ {
					copy(a.g4k[96*b+8*i:96*b+8*i+8], ks[32*b+16:32*b+24])
					copy(a.g4k[96*b+32+16*i:96*b+32+16*i+16], ks[32*b:32*b+16])
				}
			}
			d := g[i].d[:nb]
			for b, v := range d {
				a.g4d[4*b+i] = v
			}
			if withSums {
				s := g[i].sum[:nb]
				for b, v := range s {
					a.g4s[4*b+i] = v
				}
			}
		}
	}
}

// prepTile16 sets t16, d16, s16 and k16 on the first position of each
// whole group of sixteen in acts (see actVec); s16 only for formats with
// one sum per block, k16 only for packK16.
func prepTile16(acts []actVec) {
	for j := 0; j+16 <= len(acts); j += 16 {
		g := acts[j : j+16]
		a := &g[0]
		n, nb := len(a.q), len(a.d)
		if cap(a.t16) < 16*n {
			a.t16 = make([]int8, 16*n)
		}
		a.t16 = a.t16[:16*n]
		a.d16 = growF32(a.d16, 16*nb)
		withSums := len(a.sum) == nb
		if withSums {
			a.s16 = growI32(a.s16, 16*nb)
		}
		withK := len(a.ks) == 32*nb && nb > 0
		if withK {
			if cap(a.k16) < 384*nb {
				a.k16 = make([]int16, 384*nb)
			}
			a.k16 = a.k16[:384*nb]
		}
		for i := range g {
			if withK {
				ks := g[i].ks[:32*nb]
				for b := 0; b < nb; b++ {
					k := a.k16[384*b:]
					for j := 0; j < 4; j++ {
						k[32*j+2*i] = ks[32*b+16+2*j]
						k[32*j+2*i+1] = ks[32*b+16+2*j+1]
					}
					for j := 0; j < 8; j++ {
						k[128+32*j+2*i] = ks[32*b+2*j]
						k[128+32*j+2*i+1] = ks[32*b+2*j+1]
					}
				}
			}
			q := g[i].q[:n]
			t := a.t16[4*i:]
			for c := 0; c < n/4; c++ {
				*(*[4]int8)(t[64*c:]) = *(*[4]int8)(q[4*c:])
			}
			for b, v := range g[i].d[:nb] {
				a.d16[16*b+i] = v
			}
			if withSums {
				for b, v := range g[i].sum[:nb] {
					a.s16[16*b+i] = v
				}
			}
		}
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

// blocks returns the part of a, an activation vector in format f packed
// as pk, that covers its blocks [b0, b1): what a product with the columns
// of one panel reads (layout.go). The fields share a's memory; those of
// tiles and of the pack16/pack32 packings are left empty.
func (a *actVec) blocks(f actFormat, pk packFormat, b0, b1 int) actVec {
	var bs, sums int
	switch f {
	case actQ8_0, actQ8_1:
		bs, sums = 32, 1
	case actQ8_K:
		bs, sums = 256, 16
	default:
		panic("kernels: column panels of a float activation")
	}
	part := actVec{
		q:   a.q[b0*bs : b1*bs : b1*bs],
		d:   a.d[b0:b1:b1],
		sum: a.sum[b0*sums : b1*sums : b1*sums],
	}
	if f == actQ8_1 {
		part.s = a.s[b0:b1:b1]
	}
	switch pk {
	case packK16Z:
		part.qz = a.qz[b0*bs : b1*bs : b1*bs]
		fallthrough
	case packK16:
		part.ks = a.ks[b0*32 : b1*32 : b1*32]
	}
	return part
}
