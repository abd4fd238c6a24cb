package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tessera-net/tessera/quant"
)

var kmask = [4]uint64{byte32, flip8, nib16, bias48}

func dotQ8_0v2(w []byte, a *actVec) float32 {
	nb := len(a.d)
	p := a.p[:nb*16]
	sum := a.sum[:nb]
	d := a.d[:nb]
	m, fl := kmask[0], kmask[1]
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ8_0]byte)(w[b*bytesQ8_0:])
		ap := (*[16]uint64)(p[b*16:])
		acc := uint64(bias32)
		for i := 0; i < 4; i++ {
			v := le64(blk[2+8*i:]) ^ fl
			a4 := (*[4]uint64)(ap[4*i:])
			acc += (v&m)*a4[0] + (v>>8&m)*a4[1] + (v>>16&m)*a4[2] + (v>>24&m)*a4[3]
		}
		s := int32(acc>>32) - 128*sum[b]
		sumf += float32(f16tab[le16(blk[0:])] * d[b] * float32(s))
	}
	return sumf
}

func dotQ8_0v3(w []byte, a *actVec) float32 {
	nb := len(a.d)
	p := a.p[:nb*16]
	sum := a.sum[:nb]
	d := a.d[:nb]
	m, fl := kmask[0], kmask[1]
	var sumf float32
	for b := 0; b < nb; b++ {
		blk := (*[bytesQ8_0]byte)(w[b*bytesQ8_0:])
		ap := (*[16]uint64)(p[b*16:])
		v0 := le64(blk[2:]) ^ fl
		v1 := le64(blk[10:]) ^ fl
		v2 := le64(blk[18:]) ^ fl
		v3 := le64(blk[26:]) ^ fl
		acc := uint64(bias32)
		acc += (v0 & m) * ap[0]
		acc += (v0 >> 8 & m) * ap[1]
		acc += (v0 >> 16 & m) * ap[2]
		acc += (v0 >> 24 & m) * ap[3]
		acc += (v1 & m) * ap[4]
		acc += (v1 >> 8 & m) * ap[5]
		acc += (v1 >> 16 & m) * ap[6]
		acc += (v1 >> 24 & m) * ap[7]
		acc += (v2 & m) * ap[8]
		acc += (v2 >> 8 & m) * ap[9]
		acc += (v2 >> 16 & m) * ap[10]
		acc += (v2 >> 24 & m) * ap[11]
		acc += (v3 & m) * ap[12]
		acc += (v3 >> 8 & m) * ap[13]
		acc += (v3 >> 16 & m) * ap[14]
		acc += (v3 >> 24 & m) * ap[15]
		s := int32(acc>>32) - 128*sum[b]
		sumf += float32(f16tab[le16(blk[0:])] * d[b] * float32(s))
	}
	return sumf
}

func BenchmarkExp(b *testing.B) {
	typ := quant.Q8_0
	cols := 4096
	m := benchMatrix(b, typ, 64, cols)
	x := randValues(rand.New(rand.NewPCG(1, 1)), cols)
	rb, _ := typ.RowBytes(cols)
	k := bestKernels.get(typ)
	var a actVec
	quantizeAct(&a, x, k.act, k.pack)
	for i, f := range []rowDot{dotQ8_0SWAR, dotQ8_0v2, dotQ8_0v3} {
		r0 := f(m.Data[:rb], &a)
		if r0 != dotQ8_0SWAR(m.Data[:rb], &a) {
			b.Fatal("mismatch", i)
		}
		b.Run(fmt.Sprint(i), func(b *testing.B) {
			b.SetBytes(int64(len(m.Data)))
			for b.Loop() {
				for r := 0; r < 64; r++ {
					f(m.Data[r*rb:(r+1)*rb], &a)
				}
			}
		})
	}
}
