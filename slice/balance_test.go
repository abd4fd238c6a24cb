package slice

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tessera-net/tessera/model"
)

// Every part of a balanced split is within one layer's bytes of the mean,
// for layer sizes that vary as in real models (a few larger layers, small
// differences) and for wildly varying ones.
func TestBalanceWithinOneLayer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 3000 {
		n := 1 + rng.IntN(40)
		sizes := make([]uint64, n)
		for i := range sizes {
			switch trial % 3 {
			case 0: // equal layers
				sizes[i] = 1 << 20
			case 1: // similar layers
				sizes[i] = 1<<20 + uint64(rng.IntN(1<<18))
			default: // anything
				sizes[i] = uint64(1 + rng.IntN(1<<20))
			}
		}
		parts := 1 + rng.IntN(n)
		ranges := balance(sizes, parts)
		if len(ranges) != parts || ranges[0].First != 0 || ranges[parts-1].Last != n {
			t.Fatalf("sizes %v, %d parts: ranges %v", sizes, parts, ranges)
		}
		var total, biggest uint64
		for _, s := range sizes {
			total += s
			biggest = max(biggest, s)
		}
		for k, r := range ranges {
			if r.Len() < 1 || (k > 0 && r.First != ranges[k-1].Last) {
				t.Fatalf("sizes %v, %d parts: ranges %v not contiguous and non-empty", sizes, parts, ranges)
			}
			var b uint64
			for _, s := range sizes[r.First:r.Last] {
				b += s
			}
			// |b - total/parts| <= biggest, in integers.
			d := int64(parts)*int64(b) - int64(total)
			if d < 0 {
				d = -d
			}
			if d > int64(parts)*int64(biggest) {
				t.Fatalf("sizes %v, %d parts: range %v has %d bytes, mean %.0f, more than one layer (%d) away",
					sizes, parts, r, b, float64(total)/float64(parts), biggest)
			}
		}
	}
}

func TestBalanceExact(t *testing.T) {
	r := func(p ...int) []model.Range {
		var out []model.Range
		for i := 0; i+1 < len(p); i += 2 {
			out = append(out, model.Range{First: p[i], Last: p[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		sizes []uint64
		parts int
		want  []model.Range
	}{
		{[]uint64{1, 1, 1, 1}, 2, r(0, 2, 2, 4)},
		{[]uint64{3, 1, 1, 1}, 2, r(0, 1, 1, 4)},
		{[]uint64{1, 1, 1, 3}, 2, r(0, 3, 3, 4)},
		{[]uint64{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, 3, r(0, 3, 3, 6, 6, 10)}, // ties: later ranges get more
		{[]uint64{10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 2, r(0, 1, 1, 11)},
	} {
		if got := balance(tc.sizes, tc.parts); !slices.Equal(got, tc.want) {
			t.Errorf("balance(%v, %d) = %v, want %v", tc.sizes, tc.parts, got, tc.want)
		}
	}
}
