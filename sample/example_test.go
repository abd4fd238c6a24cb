package sample_test

import (
	"fmt"

	"github.com/tessera-net/tessera/sample"
)

func Example() {
	logits := []float32{0.1, 2.5, 2.5, -1, 0.7}

	// The zero Params decode greedily: the largest logit, ties to the
	// smaller id.
	greedy, _ := sample.New(sample.Params{})
	fmt.Println("greedy:", greedy.Sample(append([]float32(nil), logits...), nil))

	// Seeded sampling: the same seed and logits always give the same
	// choices. Top-k 2 keeps only tokens 1 and 2.
	p := sample.Params{Temperature: 0.8, TopK: 2, Seed: 42}
	a, _ := sample.New(p)
	b, _ := sample.New(p)
	same := true
	for range 20 {
		x := a.Sample(append([]float32(nil), logits...), nil)
		y := b.Sample(append([]float32(nil), logits...), nil)
		same = same && x == y && (x == 1 || x == 2)
	}
	fmt.Println("reproducible and within top-k:", same)

	// A repetition penalty of 2 halves the logit of token 1, seen recently,
	// so greedy decoding now picks token 2.
	pen, _ := sample.New(sample.Params{RepeatPenalty: 2})
	fmt.Println("penalised:", pen.Sample(append([]float32(nil), logits...), []int{1}))

	// Output:
	// greedy: 1
	// reproducible and within top-k: true
	// penalised: 2
}
