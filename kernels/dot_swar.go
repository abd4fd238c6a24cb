package kernels

// SWAR ("SIMD within a register") row dots for 64-bit machines, in plain Go.
//
// Several small integer products are formed by one 64-bit multiply. The
// activation quants are packed once per call (packQuants16/32): for pack16
// a word holds four quants in 16-bit lanes, the first in the top lane. A
// weight word holds four small weights w0..w3 in 16-bit lanes (masked out
// of the row bytes), so the product
//
//	(w0 + w1<<16 + w2<<32 + w3<<48) * (q0<<48 + q1<<32 + q2<<16 + q3)
//
// has w0*q0 + w1*q1 + w2*q2 + w3*q3 as its coefficient of 2^48; lower
// coefficients hold cross terms, higher ones fall off the 64-bit word. Lanes
// may be negative: the identity holds for the integers modulo 2^64. Summing
// several products first and adding 2^47 keeps the cross terms below bit
// 48 (each lane sum stays within ±2^15), so int16(acc>>48) is the exact
// dot product of those lanes. Every kernel states the bound it relies on;
// activation quants are within ±127 by construction.
//
// Q8_0 weights need the wider pack32 layout: two weights in 32-bit lanes,
// so one multiply gives two products but a whole block sums in one word.
//
// All block sums are exact integers, combined in float32 exactly as in
// dot_generic.go, so these kernels are bit-identical to the generic ones.

const (
	nib16  = 0x000F000F000F000F // low nibbles of bytes 0, 2, 4, 6
	m5bit  = 0x0010001000100010 // bit 4 of each 16-bit lane
	m6bits = 0x0030003000300030 // bits 4-5 of each 16-bit lane
	c32x4  = 0x0020002000200020 // 32 in each 16-bit lane
	byte32 = 0x000000FF000000FF // bytes 0 and 4, in 32-bit lanes
	flip8  = 0x8080808080808080
	bias48 = 1 << 47
	bias32 = 1 << 31
)

// ext16 returns the signed coefficient of 2^48 of an accumulated product.
func ext16(acc uint64) int32 { return int32(int16(acc >> 48)) }

// spread5 maps a byte of Q5_0/Q5_1 high bits (bit i = fifth bit of value i
// of an 8-value group) to 16-bit lanes holding 16*bit - 16: [0] for the
// even values 0, 2, 4, 6 and [1] for the odd ones. Adding it to the low
// nibbles gives the Q5_0 weights q-16 directly.
var spread5 [256][2]uint64

func init() {
	for b := range spread5 {
		for par := 0; par < 2; par++ {
			var v int64
			for k := 0; k < 4; k++ {
				bit := int64(b>>(2*k+par)) & 1
				v += (16*bit - 16) << (16 * k)
			}
			spread5[b][par] = uint64(v)
		}
	}
}

// Q4_0: lanes are the unsigned nibbles u (0..15) and 4 products are summed
// per extraction: |sum| <= 4*4*15*127 = 30480. Sum (u-8)*q = sum u*q -
// 8*sum(q).
func dotQ4_0SWAR(w []byte, a *actVec) float32 {
	nb := len(a.d)
	p := a.p[:nb*8]
	sum := a.sum[:nb]
	d := a.d[:nb]
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ4_0]byte)(w[b*bytesQ4_0:])
		ap := (*[8]uint64)(p[b*8:])
		w0, w1 := le64(blk[2:]), le64(blk[10:])
		lo := bias48 + (w0&nib16)*ap[0] + (w0>>8&nib16)*ap[1] + (w1&nib16)*ap[2] + (w1>>8&nib16)*ap[3]
		hi := bias48 + (w0>>4&nib16)*ap[4] + (w0>>12&nib16)*ap[5] + (w1>>4&nib16)*ap[6] + (w1>>12&nib16)*ap[7]
		s := ext16(lo) + ext16(hi) - 8*sum[b]
		sumf += float32(f16tab[le16(blk[0:])] * d[b] * float32(s))
	}
	return sumf
}

// Q4_1: as Q4_0 without the offset; the min uses s from Q8_1.
func dotQ4_1SWAR(w []byte, a *actVec) float32 {
	nb := len(a.d)
	p := a.p[:nb*8]
	d := a.d[:nb]
	ss := a.s[:nb]
	var sumf, summs float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ4_1]byte)(w[b*bytesQ4_1:])
		ap := (*[8]uint64)(p[b*8:])
		w0, w1 := le64(blk[4:]), le64(blk[12:])
		lo := bias48 + (w0&nib16)*ap[0] + (w0>>8&nib16)*ap[1] + (w1&nib16)*ap[2] + (w1>>8&nib16)*ap[3]
		hi := bias48 + (w0>>4&nib16)*ap[4] + (w0>>12&nib16)*ap[5] + (w1>>4&nib16)*ap[6] + (w1>>12&nib16)*ap[7]
		s := ext16(lo) + ext16(hi)
		sumf += float32(f16tab[le16(blk[0:])] * d[b] * float32(s))
		summs += float32(f16tab[le16(blk[2:])] * ss[b])
	}
	return sumf + summs
}

// Q5_0: lanes hold q-16 (-16..15) built with spread5; 4 products per
// extraction: |sum| <= 4*4*16*127 = 32512.
func dotQ5_0SWAR(w []byte, a *actVec) float32 {
	nb := len(a.d)
	p := a.p[:nb*8]
	d := a.d[:nb]
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ5_0]byte)(w[b*bytesQ5_0:])
		ap := (*[8]uint64)(p[b*8:])
		qh := le32(blk[2:])
		w0, w1 := le64(blk[6:]), le64(blk[14:])
		t0, t1 := &spread5[qh&0xff], &spread5[qh>>8&0xff]
		t2, t3 := &spread5[qh>>16&0xff], &spread5[qh>>24]
		lo := bias48 + ((w0&nib16)+t0[0])*ap[0] + ((w0>>8&nib16)+t0[1])*ap[1] +
			((w1&nib16)+t1[0])*ap[2] + ((w1>>8&nib16)+t1[1])*ap[3]
		hi := bias48 + ((w0>>4&nib16)+t2[0])*ap[4] + ((w0>>12&nib16)+t2[1])*ap[5] +
			((w1>>4&nib16)+t3[0])*ap[6] + ((w1>>12&nib16)+t3[1])*ap[7]
		s := ext16(lo) + ext16(hi)
		sumf += float32(f16tab[le16(blk[0:])] * d[b] * float32(s))
	}
	return sumf
}

// Q5_1: as Q5_0 (lanes q-16), then sum q*x = that + 16*sum(x).
func dotQ5_1SWAR(w []byte, a *actVec) float32 {
	nb := len(a.d)
	p := a.p[:nb*8]
	d := a.d[:nb]
	ss := a.s[:nb]
	sum := a.sum[:nb]
	var sumf, summs float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ5_1]byte)(w[b*bytesQ5_1:])
		ap := (*[8]uint64)(p[b*8:])
		qh := le32(blk[4:])
		w0, w1 := le64(blk[8:]), le64(blk[16:])
		t0, t1 := &spread5[qh&0xff], &spread5[qh>>8&0xff]
		t2, t3 := &spread5[qh>>16&0xff], &spread5[qh>>24]
		lo := bias48 + ((w0&nib16)+t0[0])*ap[0] + ((w0>>8&nib16)+t0[1])*ap[1] +
			((w1&nib16)+t1[0])*ap[2] + ((w1>>8&nib16)+t1[1])*ap[3]
		hi := bias48 + ((w0>>4&nib16)+t2[0])*ap[4] + ((w0>>12&nib16)+t2[1])*ap[5] +
			((w1>>4&nib16)+t3[0])*ap[6] + ((w1>>12&nib16)+t3[1])*ap[7]
		s := ext16(lo) + ext16(hi) + 16*sum[b]
		sumf += float32(f16tab[le16(blk[0:])] * d[b] * float32(s))
		summs += float32(f16tab[le16(blk[2:])] * ss[b])
	}
	return sumf + summs
}

// Q8_0: weights flipped to u = w+128 (0..255) in 32-bit lanes (pack32); a
// whole block sums in one word: the 2^32 coefficient is at most
// 32*255*127 < 2^31 in magnitude and the low word's cross terms at most
// 16*255*127 < 2^31. Sum w*q = sum u*q - 128*sum(q).
func dotQ8_0SWAR(w []byte, a *actVec) float32 {
	nb := len(a.d)
	p := a.p[:nb*16]
	sum := a.sum[:nb]
	d := a.d[:nb]
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ8_0]byte)(w[b*bytesQ8_0:])
		ap := (*[16]uint64)(p[b*16:])
		v0 := le64(blk[2:]) ^ flip8
		v1 := le64(blk[10:]) ^ flip8
		v2 := le64(blk[18:]) ^ flip8
		v3 := le64(blk[26:]) ^ flip8
		acc := bias32 + (v0&byte32)*ap[0] + (v0>>8&byte32)*ap[1] + (v0>>16&byte32)*ap[2] + (v0>>24&byte32)*ap[3] +
			(v1&byte32)*ap[4] + (v1>>8&byte32)*ap[5] + (v1>>16&byte32)*ap[6] + (v1>>24&byte32)*ap[7] +
			(v2&byte32)*ap[8] + (v2>>8&byte32)*ap[9] + (v2>>16&byte32)*ap[10] + (v2>>24&byte32)*ap[11] +
			(v3&byte32)*ap[12] + (v3>>8&byte32)*ap[13] + (v3>>16&byte32)*ap[14] + (v3>>24&byte32)*ap[15]
		s := int32(acc>>32) - 128*sum[b]
		sumf += float32(f16tab[le16(blk[0:])] * d[b] * float32(s))
	}
	return sumf
}

// Q4_K: unsigned nibbles, 4 products per extraction (|sum| <= 30480).
func dotQ4_KSWAR(w []byte, a *actVec) float32 {
	nb := len(a.d)
	p := a.p[:nb*64]
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ4_K]byte)(w[b*bytesQ4_K:])
		ap := (*[64]uint64)(p[b*64:])
		sc, mn := scalesK4((*[12]byte)(blk[4:]))
		var isum int32
		for j := 0; j < 4; j++ {
			qs := (*[32]byte)(blk[16+32*j:])
			pa := (*[16]uint64)(ap[16*j:])
			w0, w1, w2, w3 := le64(qs[0:]), le64(qs[8:]), le64(qs[16:]), le64(qs[24:])
			l1 := bias48 + (w0&nib16)*pa[0] + (w0>>8&nib16)*pa[1] + (w1&nib16)*pa[2] + (w1>>8&nib16)*pa[3]
			l2 := bias48 + (w2&nib16)*pa[4] + (w2>>8&nib16)*pa[5] + (w3&nib16)*pa[6] + (w3>>8&nib16)*pa[7]
			h1 := bias48 + (w0>>4&nib16)*pa[8] + (w0>>12&nib16)*pa[9] + (w1>>4&nib16)*pa[10] + (w1>>12&nib16)*pa[11]
			h2 := bias48 + (w2>>4&nib16)*pa[12] + (w2>>12&nib16)*pa[13] + (w3>>4&nib16)*pa[14] + (w3>>12&nib16)*pa[15]
			isum += int32(sc&0xff)*(ext16(l1)+ext16(l2)) + int32(sc>>8&0xff)*(ext16(h1)+ext16(h2))
			sc >>= 16
		}
		sumf = finishK4(sumf, blk[:], a.d[b], isum, minsK4(mn, (*[16]int32)(a.sum[b*16:])))
	}
	return sumf
}

// Q5_K: unsigned 5-bit lanes (0..31), 2 products per extraction:
// |sum| <= 2*4*31*127 = 31496. The fifth bits of sub-blocks 2j and 2j+1
// are bits 2j and 2j+1 of the qh bytes; the qh words are shifted down by 2
// per pair so they sit at bits 0 and 1.
func dotQ5_KSWAR(w []byte, a *actVec) float32 {
	nb := len(a.d)
	p := a.p[:nb*64]
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ5_K]byte)(w[b*bytesQ5_K:])
		ap := (*[64]uint64)(p[b*64:])
		sc, mn := scalesK4((*[12]byte)(blk[4:]))
		h0, h1, h2, h3 := le64(blk[16:]), le64(blk[24:]), le64(blk[32:]), le64(blk[40:])
		var isum int32
		for j := 0; j < 4; j++ {
			qs := (*[32]byte)(blk[48+32*j:])
			pa := (*[16]uint64)(ap[16*j:])
			w0, w1, w2, w3 := le64(qs[0:]), le64(qs[8:]), le64(qs[16:]), le64(qs[24:])
			l0 := bias48 + (w0&nib16|h0<<4&m5bit)*pa[0] + (w0>>8&nib16|h0>>4&m5bit)*pa[1]
			l1 := bias48 + (w1&nib16|h1<<4&m5bit)*pa[2] + (w1>>8&nib16|h1>>4&m5bit)*pa[3]
			l2 := bias48 + (w2&nib16|h2<<4&m5bit)*pa[4] + (w2>>8&nib16|h2>>4&m5bit)*pa[5]
			l3 := bias48 + (w3&nib16|h3<<4&m5bit)*pa[6] + (w3>>8&nib16|h3>>4&m5bit)*pa[7]
			u0 := bias48 + (w0>>4&nib16|h0<<3&m5bit)*pa[8] + (w0>>12&nib16|h0>>5&m5bit)*pa[9]
			u1 := bias48 + (w1>>4&nib16|h1<<3&m5bit)*pa[10] + (w1>>12&nib16|h1>>5&m5bit)*pa[11]
			u2 := bias48 + (w2>>4&nib16|h2<<3&m5bit)*pa[12] + (w2>>12&nib16|h2>>5&m5bit)*pa[13]
			u3 := bias48 + (w3>>4&nib16|h3<<3&m5bit)*pa[14] + (w3>>12&nib16|h3>>5&m5bit)*pa[15]
			isum += int32(sc&0xff)*(ext16(l0)+ext16(l1)+ext16(l2)+ext16(l3)) +
				int32(sc>>8&0xff)*(ext16(u0)+ext16(u1)+ext16(u2)+ext16(u3))
			sc >>= 16
			h0, h1, h2, h3 = h0>>2, h1>>2, h2>>2, h3>>2
		}
		sumf = finishK4(sumf, blk[:], a.d[b], isum, minsK4(mn, (*[16]int32)(a.sum[b*16:])))
	}
	return sumf
}

// Q6_K: lanes hold q-32 (-32..31), 2 products (one 8-value group) per
// extraction: |sum| <= 2*4*32*127 = 32512. In each 128-value half, group
// i+4k (k = 0..3, i = 0..3) takes its low nibbles from ql word i (k even)
// or i+4 (k odd), low nibble for k < 2 and high for k >= 2, and its top two
// bits from bits 2k..2k+1 of qh word i.
func dotQ6_KSWAR(w []byte, a *actVec) float32 {
	nb := len(a.d)
	p := a.p[:nb*64]
	d := a.d[:nb]
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ6_K]byte)(w[b*bytesQ6_K:])
		var isum int32
		for h := 0; h < 2; h++ {
			ql := (*[64]byte)(blk[64*h:])
			qh := (*[32]byte)(blk[128+32*h:])
			scs := (*[8]byte)(blk[192+8*h:])
			pa := (*[32]uint64)(p[b*64+32*h:])
			for i := 0; i < 4; i++ {
				hw := le64(qh[8*i:])
				la, lb := le64(ql[8*i:]), le64(ql[32+8*i:])
				g0 := bias48 + ((la&nib16|hw<<4&m6bits)-c32x4)*pa[2*i] +
					((la>>8&nib16|hw>>4&m6bits)-c32x4)*pa[2*i+1]
				g1 := bias48 + ((lb&nib16|hw<<2&m6bits)-c32x4)*pa[8+2*i] +
					((lb>>8&nib16|hw>>6&m6bits)-c32x4)*pa[8+2*i+1]
				g2 := bias48 + ((la>>4&nib16|hw&m6bits)-c32x4)*pa[16+2*i] +
					((la>>12&nib16|hw>>8&m6bits)-c32x4)*pa[16+2*i+1]
				g3 := bias48 + ((lb>>4&nib16|hw>>2&m6bits)-c32x4)*pa[24+2*i] +
					((lb>>12&nib16|hw>>10&m6bits)-c32x4)*pa[24+2*i+1]
				k := i >> 1
				isum += int32(int8(scs[k]))*ext16(g0) + int32(int8(scs[2+k]))*ext16(g1) +
					int32(int8(scs[4+k]))*ext16(g2) + int32(int8(scs[6+k]))*ext16(g3)
			}
		}
		sumf += float32(f16tab[le16(blk[208:])] * d[b] * float32(isum))
	}
	return sumf
}
