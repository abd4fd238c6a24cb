package kernels

import "encoding/binary"

// Generic row dots: straightforward integer loops over one weight row and
// one quantized activation vector, following ggml's scalar vec_dot_*
// arithmetic. Each block's integer sum is exact, and the float combination
// of block sums is written identically in the tuned implementations, so
// every implementation of a type returns bit-identical results.
//
// Each dot takes a row of exactly the right length for len(activations).

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// Block byte sizes.
const (
	bytesQ4_0 = 18
	bytesQ4_1 = 20
	bytesQ5_0 = 22
	bytesQ5_1 = 24
	bytesQ8_0 = 34
	bytesQ4_K = 144
	bytesQ5_K = 176
	bytesQ6_K = 210
)

func dotQ4_0Generic(w []byte, a *actVec) float32 {
	nb := len(a.d)
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ4_0]byte)(w[b*bytesQ4_0:])
		q := (*[32]int8)(a.q[b*32:])
		var s int32
		for j := 0; j < 16; j++ {
			v := blk[2+j]
			s += (int32(v&15)-8)*int32(q[j]) + (int32(v>>4)-8)*int32(q[j+16])
		}
		sumf += float32(f16tab[le16(blk[0:])] * a.d[b] * float32(s))
	}
	return sumf
}

func dotQ4_1Generic(w []byte, a *actVec) float32 {
	nb := len(a.d)
	var sumf, summs float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ4_1]byte)(w[b*bytesQ4_1:])
		q := (*[32]int8)(a.q[b*32:])
		var s int32
		for j := 0; j < 16; j++ {
			v := blk[4+j]
			s += int32(v&15)*int32(q[j]) + int32(v>>4)*int32(q[j+16])
		}
		sumf += float32(f16tab[le16(blk[0:])] * a.d[b] * float32(s))
		summs += float32(f16tab[le16(blk[2:])] * a.s[b])
	}
	return sumf + summs
}

func dotQ5_0Generic(w []byte, a *actVec) float32 {
	nb := len(a.d)
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ5_0]byte)(w[b*bytesQ5_0:])
		q := (*[32]int8)(a.q[b*32:])
		qh := le32(blk[2:])
		var s int32
		for j := 0; j < 16; j++ {
			v := blk[6+j]
			lo := int32(v&15) | int32(qh>>j&1)<<4
			hi := int32(v>>4) | int32(qh>>(j+16)&1)<<4
			s += (lo-16)*int32(q[j]) + (hi-16)*int32(q[j+16])
		}
		sumf += float32(f16tab[le16(blk[0:])] * a.d[b] * float32(s))
	}
	return sumf
}

func dotQ5_1Generic(w []byte, a *actVec) float32 {
	nb := len(a.d)
	var sumf, summs float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ5_1]byte)(w[b*bytesQ5_1:])
		q := (*[32]int8)(a.q[b*32:])
		qh := le32(blk[4:])
		var s int32
		for j := 0; j < 16; j++ {
			v := blk[8+j]
			lo := int32(v&15) | int32(qh>>j&1)<<4
			hi := int32(v>>4) | int32(qh>>(j+16)&1)<<4
			s += lo*int32(q[j]) + hi*int32(q[j+16])
		}
		sumf += float32(f16tab[le16(blk[0:])] * a.d[b] * float32(s))
		summs += float32(f16tab[le16(blk[2:])] * a.s[b])
	}
	return sumf + summs
}

func dotQ8_0Generic(w []byte, a *actVec) float32 {
	nb := len(a.d)
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ8_0]byte)(w[b*bytesQ8_0:])
		q := (*[32]int8)(a.q[b*32:])
		var s int32
		for j := 0; j < 32; j++ {
			s += int32(int8(blk[2+j])) * int32(q[j])
		}
		sumf += float32(f16tab[le16(blk[0:])] * a.d[b] * float32(s))
	}
	return sumf
}

// scalesK4 unpacks the 12-byte scales field of a Q4_K/Q5_K block into the
// eight 6-bit scales (bytes of sc, sub-block j in byte j) and mins (bytes
// of mn), as ggml's kmask/utmp code does.
func scalesK4(s *[12]byte) (sc, mn uint64) {
	const k1, k2, k3 = 0x3f3f3f3f, 0x0f0f0f0f, 0x03030303
	s0, s1, s2 := le32(s[0:]), le32(s[4:]), le32(s[8:])
	u3 := (s2>>4)&k2 | ((s1>>6)&k3)<<4
	u1 := s2&k2 | ((s0>>6)&k3)<<4
	u2 := s1 & k1
	u0 := s0 & k1
	return uint64(u0) | uint64(u1)<<32, uint64(u2) | uint64(u3)<<32
}

// minsK4 returns sum over sub-blocks j of min_j times the sum of the
// activation quants of sub-block j (bsums 2j and 2j+1).
func minsK4(mn uint64, bs *[16]int32) int32 {
	var m int32
	for j := 0; j < 8; j++ {
		m += int32(mn>>(8*j)&0xff) * (bs[2*j] + bs[2*j+1])
	}
	return m
}

// finishK4 adds a Q4_K/Q5_K super-block's contribution:
// d*dx*isum - dmin*dx*msum, with each product rounded to float32.
func finishK4(sumf float32, blk []byte, dx float32, isum, msum int32) float32 {
	dd := f16tab[le16(blk[0:])] * dx
	dm := f16tab[le16(blk[2:])] * dx
	sumf += float32(dd * float32(isum))
	sumf -= float32(dm * float32(msum))
	return sumf
}

func dotQ4_KGeneric(w []byte, a *actVec) float32 {
	nb := len(a.d)
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ4_K]byte)(w[b*bytesQ4_K:])
		q := (*[256]int8)(a.q[b*256:])
		bs := (*[16]int32)(a.sum[b*16:])
		sc, mn := scalesK4((*[12]byte)(blk[4:]))
		var isum int32
		for j := 0; j < 8; j++ {
			qs := (*[32]byte)(blk[16+32*(j/2):])
			shift := uint(4 * (j % 2))
			qa := (*[32]int8)(q[32*j:])
			var s int32
			for l := 0; l < 32; l++ {
				s += int32(qs[l]>>shift&15) * int32(qa[l])
			}
			isum += int32(sc>>(8*j)&0xff) * s
		}
		sumf = finishK4(sumf, blk[:], a.d[b], isum, minsK4(mn, bs))
	}
	return sumf
}

func dotQ5_KGeneric(w []byte, a *actVec) float32 {
	nb := len(a.d)
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ5_K]byte)(w[b*bytesQ5_K:])
		q := (*[256]int8)(a.q[b*256:])
		bs := (*[16]int32)(a.sum[b*16:])
		sc, mn := scalesK4((*[12]byte)(blk[4:]))
		qh := (*[32]byte)(blk[16:])
		var isum int32
		for j := 0; j < 8; j++ {
			qs := (*[32]byte)(blk[48+32*(j/2):])
			shift := uint(4 * (j % 2))
			qa := (*[32]int8)(q[32*j:])
			var s int32
			for l := 0; l < 32; l++ {
				v := int32(qs[l]>>shift&15) | int32(qh[l]>>j&1)<<4
				s += v * int32(qa[l])
			}
			isum += int32(sc>>(8*j)&0xff) * s
		}
		sumf = finishK4(sumf, blk[:], a.d[b], isum, minsK4(mn, bs))
	}
	return sumf
}

func dotQ6_KGeneric(w []byte, a *actVec) float32 {
	nb := len(a.d)
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ6_K]byte)(w[b*bytesQ6_K:])
		q := (*[256]int8)(a.q[b*256:])
		var isum int32
		for h := 0; h < 2; h++ {
			ql := (*[64]byte)(blk[64*h:])
			qh := (*[32]byte)(blk[128+32*h:])
			for k := 0; k < 8; k++ { // 16-value groups of this half
				r := k / 2 // quarter: 32 values
				var s int32
				for i := 0; i < 16; i++ {
					l := 16*(k%2) + i // position within the quarter
					lo := int32(ql[l+32*(r%2)]>>(4*(r/2))) & 15
					hi := int32(qh[l]>>(2*r)) & 3
					s += ((lo | hi<<4) - 32) * int32(q[128*h+16*k+i])
				}
				isum += int32(int8(blk[192+8*h+k])) * s
			}
		}
		sumf += float32(f16tab[le16(blk[208:])] * a.d[b] * float32(isum))
	}
	return sumf
}
