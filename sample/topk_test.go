package sample

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The heap selection must keep exactly the first k of a full sort, ties
// included.
func TestTopKEqualsSortPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(300)
		k := 1 + rng.IntN(n)
		all := make([]candidate, n)
		for i := range all {
			all[i] = candidate{id: i, logit: float32(rng.IntN(20))} // many ties
		}
		want := slices.Clone(all)
		slices.SortFunc(want, better)
		got := topK(slices.Clone(all), k)
		slices.SortFunc(got, better)
		if !slices.Equal(got, want[:k]) {
			t.Fatalf("n=%d k=%d: heap kept %v, sort kept %v", n, k, got, want[:k])
		}
	}
}
