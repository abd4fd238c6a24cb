// Package sample chooses the next token from logits: greedy, or seeded
// random sampling with temperature, top-k, top-p, min-p and a repetition
// penalty. The same seed and logits always give the same choice.
package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Params configure a Sampler. The zero value is greedy decoding.
type Params struct {
	Temperature   float64 // 0 = greedy (argmax, ties to the smaller id)
	TopK          int     // keep the K most likely tokens; 0 = all
	TopP          float64 // keep the smallest set with this much mass; 0 or 1 = all
	MinP          float64 // drop tokens below MinP × the top probability; 0 = none
	RepeatPenalty float64 // divide positive (multiply negative) logits of recent tokens; 0 or 1 = off
	RepeatLastN   int     // how many recent tokens the penalty looks at; 0 = 64
	Seed          uint64  // random stream for non-greedy sampling
}

// Validate reports a parameter outside its meaningful range.
func (p Params) Validate() error {
	switch {
	case p.Temperature < 0 || math.IsNaN(p.Temperature) || math.IsInf(p.Temperature, 0):
		return fmt.Errorf("sample: temperature %v must be finite and >= 0", p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("sample: top-k %d must be >= 0", p.TopK)
	case p.TopP < 0 || p.TopP > 1 || math.IsNaN(p.TopP):
		return fmt.Errorf("sample: top-p %v must be in [0, 1]", p.TopP)
	case p.MinP < 0 || p.MinP > 1 || math.IsNaN(p.MinP):
		return fmt.Errorf("sample: min-p %v must be in [0, 1]", p.MinP)
	case p.RepeatPenalty < 0 || math.IsNaN(p.RepeatPenalty) || math.IsInf(p.RepeatPenalty, 0):
		return fmt.Errorf("sample: repeat penalty %v must be finite and >= 0", p.RepeatPenalty)
	case p.RepeatLastN < 0:
		return fmt.Errorf("sample: repeat-last-n %d must be >= 0", p.RepeatLastN)
	}
	return nil
}

// Sampler picks tokens. It keeps its buffers between calls, so it must not
// be shared between goroutines.
type Sampler struct {
	p    Params
	rng  *rand.Rand
	cand []candidate
	seen map[int]bool
}

type candidate struct {
	id    int
	logit float32
	prob  float64
}

// New returns a sampler for p.
func New(p Params) (*Sampler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.RepeatLastN == 0 {
		p.RepeatLastN = 64
	}
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15))}, nil
}

// Sample returns the next token id given the logits and the tokens so far
// (used by the repetition penalty). logits is modified in place by the
// penalty.
func (s *Sampler) Sample(logits []float32, history []int) int {
	s.penalize(logits, history)
	if s.p.Temperature == 0 {
		return Argmax(logits)
	}
	c := s.cand[:0]
	for id, l := range logits {
		c = append(c, candidate{id: id, logit: l})
	}
	s.cand = c
	if k := s.p.TopK; k > 0 && k < len(c) {
		// Keep the k best in a min-heap first: O(V log k) instead of
		// sorting the whole vocabulary on every token.
		c = topK(c, k)
	}
	slices.SortFunc(c, better)
	softmax(c, s.p.Temperature)
	if mp := s.p.MinP; mp > 0 {
		limit := c[0].prob * mp
		n := 1
		for n < len(c) && c[n].prob >= limit {
			n++
		}
		c = c[:n]
	}
	if tp := s.p.TopP; tp > 0 && tp < 1 {
		var mass float64
		n := 0
		for n < len(c) {
			mass += c[n].prob
			n++
			if mass >= tp {
				break
			}
		}
		c = c[:n]
	}
	var total float64
	for _, x := range c {
		total += x.prob
	}
	r := s.rng.Float64() * total
	for _, x := range c {
		r -= x.prob
		if r < 0 {
			return x.id
		}
	}
	return c[len(c)-1].id
}

func (s *Sampler) penalize(logits []float32, history []int) {
	pen := float32(s.p.RepeatPenalty)
	if pen == 0 || pen == 1 {
		return
	}
	if s.seen == nil {
		s.seen = make(map[int]bool, s.p.RepeatLastN)
	}
	clear(s.seen)
	for _, id := range history[max(0, len(history)-s.p.RepeatLastN):] {
		if id < 0 || id >= len(logits) || s.seen[id] {
			continue
		}
		s.seen[id] = true
		if logits[id] > 0 {
			logits[id] /= pen
		} else {
			logits[id] *= pen
		}
	}
}

// softmax fills prob for candidates sorted by descending logit.
func softmax(c []candidate, temp float64) {
	top := float64(c[0].logit)
	var sum float64
	for i := range c {
		c[i].prob = math.Exp((float64(c[i].logit) - top) / temp)
		sum += c[i].prob
	}
	for i := range c {
		c[i].prob /= sum
	}
}

// Argmax returns the index of the largest value, the smallest index on ties.
func Argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// better orders candidates by descending logit, then ascending id, so that
// ties always resolve the same way.
func better(a, b candidate) int {
	if a.logit != b.logit {
		if a.logit > b.logit {
			return -1
		}
		return 1
	}
	return a.id - b.id
}

// topK moves the k best candidates (by better) to c[:k], unordered, using
// c[:k] as a min-heap whose root is the worst kept candidate.
func topK(c []candidate, k int) []candidate {
	h := c[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for _, x := range c[k:] {
		if better(x, h[0]) < 0 {
			h[0] = x
			siftDown(h, 0)
		}
	}
	return h
}

func siftDown(h []candidate, i int) {
	for {
		worst := i
		l, r := 2*i+1, 2*i+2
		if l < len(h) && better(h[l], h[worst]) > 0 {
			worst = l
		}
		if r < len(h) && better(h[r], h[worst]) > 0 {
			worst = r
		}
		if worst == i {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}
