package quant

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkDequantize(b *testing.B) {
	const n = 4096
	x := make([]float32, n)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, typ := range codecTypes {
		nb, _ := typ.RowBytes(n)
		q := make([]byte, nb)
		if err := Quantize(typ, q, x); err != nil {
			b.Fatal(err)
		}
		y := make([]float32, n)
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(nb))
			for b.Loop() {
				if err := Dequantize(typ, y, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkQuantize(b *testing.B) {
	const n = 4096
	x := make([]float32, n)
	r := rand.New(rand.NewPCG(2, 2))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, typ := range []Type{Q8_0, Q8_K, Q4_K, Q6_K} {
		nb, _ := typ.RowBytes(n)
		q := make([]byte, nb)
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(4 * n)
			for b.Loop() {
				if err := Quantize(typ, q, x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDotReference(b *testing.B) {
	const n = 4096
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	q := make([]byte, n/QKK*Q4_K.BlockBytes())
	if err := Quantize(Q4_K, q, x); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		DotReference(Q4_K, q, x)
	}
}
