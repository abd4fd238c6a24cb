package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// attnValues mixes ordinary values with signed zeros, tiny and huge ones,
// so that rounding, overflow and the sign of zero sums are exercised.
func attnValues(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		switch rng.IntN(40) {
		case 0:
			v[i] = float32(math.Copysign(0, -1))
		case 1:
			v[i] = 3e38
		case 2:
			v[i] = 1e-40
		default:
			v[i] = float32(rng.NormFloat64())
		}
	}
	return v
}

// TestAttentionProducts checks the vector attention products against the
// plain loops, bit for bit, for awkward lengths and strides.
func TestAttentionProducts(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, nq := range []int{0, 1, 3, 64, 80, 128} {
		for _, nk := range []int{1, 7, 8, 9, 31, 32, 33, 65, 130} {
			ld := nk + rng.IntN(5)
			q := attnValues(rng, nq)
			kt := attnValues(rng, max(nq-1, 0)*ld+nk)
			got := make([]float32, nk)
			want := make([]float32, nk)
			ScoresT(got, q, kt, ld)
			scoresTGeneric(want, q, kt, ld)
			for j := range want {
				if !sameBits(got[j], want[j]) {
					t.Fatalf("ScoresT %d values, key %d of %d (stride %d): got %v, want %v", nq, j, nk, ld, got[j], want[j])
				}
				if nq > 0 {
					var s float32
					for d := range q {
						s += float32(q[d] * kt[d*ld+j])
					}
					if !sameBits(s, want[j]) {
						t.Fatalf("reference ScoresT differs from the dot loop")
					}
				}
			}

			nw, width := nq+1, nk
			ld = width + rng.IntN(5)
			w := attnValues(rng, nw)
			v := attnValues(rng, (nw-1)*ld+width)
			got = attnValues(rng, width)
			want = append([]float32(nil), got...)
			AddWeightedRows(got, w, v, ld)
			addRowsGeneric(want, w, v, ld)
			for i := range want {
				if !sameBits(got[i], want[i]) {
					t.Fatalf("AddWeightedRows %d rows, output %d of %d (stride %d): got %v, want %v", nw, i, width, ld, got[i], want[i])
				}
			}
		}
	}
	mustPanic(t, "ScoresT", "kt has", func() { ScoresT(make([]float32, 4), make([]float32, 2), make([]float32, 7), 4) })
	mustPanic(t, "AddWeightedRows", "v has", func() { AddWeightedRows(make([]float32, 4), make([]float32, 2), make([]float32, 7), 4) })
}

func BenchmarkAttentionProducts(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const hd, t = 64, 512
	q := attnValues(rng, hd)
	kt := attnValues(rng, hd*t)
	v := attnValues(rng, t*hd)
	s := make([]float32, t)
	out := make([]float32, hd)
	b.Run("ScoresT", func(b *testing.B) {
		b.SetBytes(4 * hd * t)
		for b.Loop() {
			ScoresT(s, q, kt, t)
		}
	})
	b.Run("AddWeightedRows", func(b *testing.B) {
		b.SetBytes(4 * hd * t)
		for b.Loop() {
			AddWeightedRows(out, s, v, hd)
		}
	})
}
