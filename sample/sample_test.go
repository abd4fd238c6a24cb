package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func mustNew(t testing.TB, p Params) *Sampler {
	t.Helper()
	s, err := New(p)
	if err != nil {
		t.Fatalf("New(%+v): %v", p, err)
	}
	return s
}

// logitsOf returns log(p) for each p, so that softmax at temperature 1
// gives back p (normalised).
func logitsOf(p ...float64) []float32 {
	l := make([]float32, len(p))
	for i, x := range p {
		l[i] = float32(math.Log(x))
	}
	return l
}

// softmaxOf is the reference distribution of logits at temperature temp.
func softmaxOf(logits []float32, temp float64) []float64 {
	top := math.Inf(-1)
	for _, l := range logits {
		top = max(top, float64(l))
	}
	p := make([]float64, len(logits))
	var sum float64
	for i, l := range logits {
		p[i] = math.Exp((float64(l) - top) / temp)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// draw samples n times from fresh copies of logits and counts each id.
func draw(t testing.TB, s *Sampler, logits []float32, history []int, n int) []int {
	t.Helper()
	counts := make([]int, len(logits))
	buf := make([]float32, len(logits))
	for range n {
		copy(buf, logits)
		id := s.Sample(buf, history)
		if id < 0 || id >= len(logits) {
			t.Fatalf("Sample returned id %d outside [0, %d)", id, len(logits))
		}
		counts[id]++
	}
	return counts
}

func randomLogits(rng *rand.Rand, n int) []float32 {
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(rng.NormFloat64() * 3)
	}
	return l
}

func TestArgmax(t *testing.T) {
	inf := float32(math.Inf(1))
	cases := []struct {
		name string
		v    []float32
		want int
	}{
		{"single", []float32{-3}, 0},
		{"first", []float32{5, 1, 2}, 0},
		{"middle", []float32{1, 5, 2}, 1},
		{"last", []float32{1, 2, 5}, 2},
		{"all negative", []float32{-7, -2, -9}, 1},
		{"tie goes to smaller id", []float32{1, 3, 0, 3, 3}, 1},
		{"all equal", []float32{2, 2, 2, 2}, 0},
		{"tie at the end", []float32{0, 0, 4, 4}, 2},
		{"negative zero ties positive zero", []float32{float32(math.Copysign(0, -1)), 0}, 0},
		{"+inf", []float32{1, inf, 2, inf}, 1},
		{"-inf masked", []float32{-inf, -inf, -1, -inf}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Argmax(c.v); got != c.want {
				t.Errorf("Argmax(%v) = %d, want %d", c.v, got, c.want)
			}
		})
	}
}

// The zero Params are greedy: Sample is Argmax, ties to the smaller id, for
// any seed and whatever the top-k/top-p/min-p settings.
func TestGreedy(t *testing.T) {
	cases := []struct {
		name   string
		p      Params
		logits []float32
		want   int
	}{
		{"zero params", Params{}, []float32{0.1, 0.9, 0.3}, 1},
		{"tie to smaller id", Params{}, []float32{0.5, 2, 1, 2}, 1},
		{"all equal", Params{}, []float32{1, 1, 1}, 0},
		{"seed is irrelevant", Params{Seed: 99}, []float32{0, 0, 3, 3}, 2},
		{"filters are irrelevant", Params{TopK: 2, TopP: 0.1, MinP: 0.9}, []float32{1, 4, 4, 2}, 1},
		{"negative logits", Params{}, []float32{-5, -1, -3}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustNew(t, c.p)
			for i := range 3 { // repeated calls give the same answer
				if got := s.Sample(slices.Clone(c.logits), nil); got != c.want {
					t.Fatalf("call %d: Sample(%v) = %d, want %d", i, c.logits, got, c.want)
				}
			}
		})
	}
	// Random logits, many of them tied after rounding.
	rng := rand.New(rand.NewPCG(1, 2))
	s := mustNew(t, Params{})
	for i := range 200 {
		l := randomLogits(rng, 64)
		for j := range l {
			l[j] = float32(math.Round(float64(l[j])))
		}
		want := Argmax(l)
		for j, x := range l {
			if x > l[want] || (x == l[want] && j < want) {
				t.Fatalf("case %d: Argmax picked %d but %d is better or tied and smaller", i, want, j)
			}
		}
		if got := s.Sample(l, nil); got != want {
			t.Fatalf("case %d: greedy Sample = %d, Argmax = %d", i, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	good := []Params{
		{},
		{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: 42},
		{Temperature: 1e-9},
		{Temperature: 100},
		{TopP: 1, MinP: 1},
		{TopP: 0, MinP: 0},
		{RepeatPenalty: 0.5}, // below 1 encourages repetition; allowed
		{RepeatPenalty: 1, RepeatLastN: 1 << 20},
		{TopK: 1 << 30},
	}
	for _, p := range good {
		if err := p.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", p, err)
		}
		if _, err := New(p); err != nil {
			t.Errorf("New(%+v) = %v, want nil", p, err)
		}
	}
	// Each bad value is set on an otherwise valid, fully specified Params,
	// so the test shows that this one field alone is rejected.
	valid := Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: 1}
	bad := []struct {
		name string
		set  func(*Params)
	}{
		{"negative temperature", func(p *Params) { p.Temperature = -0.1 }},
		{"NaN temperature", func(p *Params) { p.Temperature = nan }},
		{"infinite temperature", func(p *Params) { p.Temperature = inf }},
		{"negative top-k", func(p *Params) { p.TopK = -1 }},
		{"negative top-p", func(p *Params) { p.TopP = -0.01 }},
		{"top-p above 1", func(p *Params) { p.TopP = 1.01 }},
		{"NaN top-p", func(p *Params) { p.TopP = nan }},
		{"negative min-p", func(p *Params) { p.MinP = -0.5 }},
		{"min-p above 1", func(p *Params) { p.MinP = 2 }},
		{"NaN min-p", func(p *Params) { p.MinP = nan }},
		{"negative repeat penalty", func(p *Params) { p.RepeatPenalty = -1 }},
		{"NaN repeat penalty", func(p *Params) { p.RepeatPenalty = nan }},
		{"infinite repeat penalty", func(p *Params) { p.RepeatPenalty = inf }},
		{"negative repeat-last-n", func(p *Params) { p.RepeatLastN = -1 }},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			p := valid
			c.set(&p)
			err := p.Validate()
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want an error", p)
			}
			if s, err2 := New(p); err2 == nil || s != nil {
				t.Fatalf("New(%+v) = %v, %v; want nil and an error", p, s, err2)
			}
			t.Log(err)
		})
	}
}

// Same seed and logits give the same choices; different seeds give
// different sequences.
func TestSeedDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	steps := make([][]float32, 300)
	for i := range steps {
		steps[i] = randomLogits(rng, 100)
	}
	run := func(p Params) []int {
		s := mustNew(t, p)
		var out []int
		for _, l := range steps {
			out = append(out, s.Sample(slices.Clone(l), out))
		}
		return out
	}
	for _, p := range []Params{
		{Temperature: 1, Seed: 42},
		{Temperature: 0.7, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.3, RepeatLastN: 16, Seed: 7},
		{Temperature: 2, Seed: 0},
	} {
		a, b := run(p), run(p)
		if !slices.Equal(a, b) {
			t.Errorf("%+v: two runs with the same seed differ:\n%v\n%v", p, a, b)
		}
		q := p
		q.Seed = p.Seed + 1
		c := run(q)
		diff := 0
		for i := range a {
			if a[i] != c[i] {
				diff++
			}
		}
		// At temperature >= 0.7 over 100 spread logits a large share of the
		// draws differ; a shared stream would give zero.
		if diff < len(a)/10 {
			t.Errorf("%+v: seeds %d and %d differ in only %d of %d draws", p, p.Seed, q.Seed, diff, len(a))
		}
	}
}

// Top-k = 1 keeps only the argmax, so sampling at any temperature is greedy
// (ties included).
func TestTopKOneIsGreedy(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, temp := range []float64{1e-6, 0.3, 1, 5, 1000} {
		s := mustNew(t, Params{Temperature: temp, TopK: 1, Seed: 11})
		for i := range 200 {
			l := randomLogits(rng, 50)
			if i%2 == 0 { // force ties
				for j := range l {
					l[j] = float32(math.Round(float64(l[j]) / 2))
				}
			}
			want := Argmax(l)
			if got := s.Sample(l, nil); got != want {
				t.Fatalf("temperature %v case %d: top-k 1 picked %d, argmax is %d", temp, i, got, want)
			}
		}
	}
}

// Tokens cut by top-k, top-p or min-p are never drawn; every kept token is.
func TestFiltersExclude(t *testing.T) {
	// Probabilities at temperature 1: 0.40 0.25 0.15 0.10 0.06 0.04.
	logits := logitsOf(0.40, 0.25, 0.15, 0.10, 0.06, 0.04)
	cases := []struct {
		name string
		p    Params
		keep []int // ids that may be drawn; all others never
	}{
		{"none", Params{Temperature: 1}, []int{0, 1, 2, 3, 4, 5}},
		{"top-k 3", Params{Temperature: 1, TopK: 3}, []int{0, 1, 2}},
		{"top-k larger than vocab", Params{Temperature: 1, TopK: 100}, []int{0, 1, 2, 3, 4, 5}},
		{"top-p 0.5", Params{Temperature: 1, TopP: 0.5}, []int{0, 1}},    // 0.40 < 0.5 <= 0.65
		{"top-p 0.7", Params{Temperature: 1, TopP: 0.7}, []int{0, 1, 2}}, // 0.65 < 0.7 <= 0.80
		{"top-p 0.1", Params{Temperature: 1, TopP: 0.1}, []int{0}},       // the top token alone suffices
		{"top-p 1 keeps all", Params{Temperature: 1, TopP: 1}, []int{0, 1, 2, 3, 4, 5}},
		{"min-p 0.3", Params{Temperature: 1, MinP: 0.3}, []int{0, 1, 2}},    // limit 0.12
		{"min-p 0.2", Params{Temperature: 1, MinP: 0.2}, []int{0, 1, 2, 3}}, // limit 0.08
		{"min-p 1", Params{Temperature: 1, MinP: 1}, []int{0}},              // only the top
		{"top-k then min-p", Params{Temperature: 1, TopK: 5, MinP: 0.2}, []int{0, 1, 2, 3}},
		{"top-k then top-p", Params{Temperature: 1, TopK: 2, TopP: 0.5}, []int{0}}, // renormalised: 0.615
		{"min-p and top-p", Params{Temperature: 1, MinP: 0.2, TopP: 0.6}, []int{0, 1}},
		{"hot min-p", Params{Temperature: 3, MinP: 0.6}, []int{0, 1, 2, 3}}, // p^(1/3): .737 .630 .531 .464 .391 .342; limit 0.442
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.p
			p.Seed = 2024
			counts := draw(t, mustNew(t, p), logits, nil, 2000)
			for id, n := range counts {
				kept := slices.Contains(c.keep, id)
				if !kept && n > 0 {
					t.Errorf("token %d drawn %d times, should be excluded (counts %v)", id, n, counts)
				}
				if kept && n == 0 {
					t.Errorf("token %d never drawn in 2000 draws though kept (counts %v)", id, counts)
				}
			}
		})
	}
}

// The empirical frequencies follow softmax(logits / temperature), and the
// filters renormalise over the kept set.
func TestDistribution(t *testing.T) {
	logits := []float32{2.0, 1.5, 1.0, 0.2, -0.5, -1.0, -3.0, 0.7}
	const n = 20000
	const bound = 0.015 // > 5 standard deviations of a frequency at n draws
	renorm := func(p []float64, keep ...int) []float64 {
		out := make([]float64, len(p))
		var sum float64
		for _, id := range keep {
			sum += p[id]
		}
		for _, id := range keep {
			out[id] = p[id] / sum
		}
		return out
	}
	cases := []struct {
		name string
		p    Params
		want []float64
	}{
		{"temperature 1", Params{Temperature: 1}, softmaxOf(logits, 1)},
		{"temperature 0.5", Params{Temperature: 0.5}, softmaxOf(logits, 0.5)},
		{"temperature 2", Params{Temperature: 2}, softmaxOf(logits, 2)},
		{"temperature 0.1", Params{Temperature: 0.1}, softmaxOf(logits, 0.1)},
		{"top-k 3", Params{Temperature: 1, TopK: 3}, renorm(softmaxOf(logits, 1), 0, 1, 2)},
		{"top-k 4 at 0.7", Params{Temperature: 0.7, TopK: 4}, renorm(softmaxOf(logits, 0.7), 0, 1, 2, 7)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.p
			p.Seed = 42
			counts := draw(t, mustNew(t, p), logits, nil, n)
			for id, want := range c.want {
				got := float64(counts[id]) / n
				if math.Abs(got-want) > bound {
					t.Errorf("token %d: frequency %.4f, softmax %.4f", id, got, want)
				}
			}
		})
	}
}

func TestRepeatPenalty(t *testing.T) {
	base := []float32{2, -2, 1, -1, 0.5, 0, 3, -4}
	cases := []struct {
		name    string
		p       Params
		history []int
		want    []float32
	}{
		{
			name:    "off when 0",
			p:       Params{RepeatPenalty: 0},
			history: []int{0, 1, 2, 3},
			want:    []float32{2, -2, 1, -1, 0.5, 0, 3, -4},
		},
		{
			name:    "off when 1",
			p:       Params{RepeatPenalty: 1},
			history: []int{0, 1, 2, 3},
			want:    []float32{2, -2, 1, -1, 0.5, 0, 3, -4},
		},
		{
			name:    "positive divided, negative multiplied",
			p:       Params{RepeatPenalty: 2},
			history: []int{0, 1, 2, 3},
			want:    []float32{1, -4, 0.5, -2, 0.5, 0, 3, -4},
		},
		{
			name:    "zero stays zero",
			p:       Params{RepeatPenalty: 2},
			history: []int{5},
			want:    []float32{2, -2, 1, -1, 0.5, 0, 3, -4},
		},
		{
			name:    "repeated ids penalised once",
			p:       Params{RepeatPenalty: 2},
			history: []int{0, 0, 1, 0, 1, 1},
			want:    []float32{1, -4, 1, -1, 0.5, 0, 3, -4},
		},
		{
			name:    "only the last N",
			p:       Params{RepeatPenalty: 2, RepeatLastN: 2},
			history: []int{0, 1, 2, 6}, // 0 and 1 are too old
			want:    []float32{2, -2, 0.5, -1, 0.5, 0, 1.5, -4},
		},
		{
			name:    "old occurrence inside the window counts",
			p:       Params{RepeatPenalty: 2, RepeatLastN: 3},
			history: []int{7, 6, 4, 6, 7}, // window is 4 6 7
			want:    []float32{2, -2, 1, -1, 0.25, 0, 1.5, -8},
		},
		{
			name:    "N longer than history",
			p:       Params{RepeatPenalty: 2, RepeatLastN: 100},
			history: []int{7},
			want:    []float32{2, -2, 1, -1, 0.5, 0, 3, -8},
		},
		{
			name:    "default N is 64",
			p:       Params{RepeatPenalty: 2},
			history: append([]int{0, 1}, slices.Repeat([]int{4}, 63)...), // 1 is the 64th last, 0 the 65th
			want:    []float32{2, -4, 1, -1, 0.25, 0, 3, -4},
		},
		{
			name:    "penalty below 1 rewards",
			p:       Params{RepeatPenalty: 0.5},
			history: []int{0, 1},
			want:    []float32{4, -1, 1, -1, 0.5, 0, 3, -4},
		},
		{
			name:    "ids outside the vocabulary ignored",
			p:       Params{RepeatPenalty: 2},
			history: []int{-1, 8, 1000, 2},
			want:    []float32{2, -2, 0.5, -1, 0.5, 0, 3, -4},
		},
		{
			name:    "empty history",
			p:       Params{RepeatPenalty: 2},
			history: nil,
			want:    []float32{2, -2, 1, -1, 0.5, 0, 3, -4},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustNew(t, c.p)   // greedy: Sample returns the argmax of the penalised logits
			for round := range 2 { // the sampler's buffers must not leak state between calls
				l := slices.Clone(base)
				got := s.Sample(l, c.history)
				if !slices.Equal(l, c.want) {
					t.Fatalf("round %d: penalised logits %v, want %v", round, l, c.want)
				}
				if want := Argmax(c.want); got != want {
					t.Fatalf("round %d: greedy pick %d, want %d", round, got, want)
				}
			}
		})
	}
}

// A strong penalty steers sampling away from recent tokens.
func TestRepeatPenaltyChangesChoice(t *testing.T) {
	logits := []float32{3, 2.9, 2.5}
	s := mustNew(t, Params{RepeatPenalty: 1.5})
	if got := s.Sample(slices.Clone(logits), []int{0}); got != 1 {
		t.Fatalf("greedy with token 0 penalised picked %d, want 1", got)
	}
	s = mustNew(t, Params{Temperature: 0.5, RepeatPenalty: 10, RepeatLastN: 2, Seed: 1})
	// 5 is out of range; 0 and 1 become 0.3 and 0.29, so token 2 has
	// probability 0.976 at temperature 0.5.
	counts := draw(t, s, logits, []int{5, 0, 1}, 2000)
	if counts[2] < 1900 {
		t.Fatalf("with tokens 0 and 1 penalised, token 2 drawn only %d of 2000 times (%v)", counts[2], counts)
	}
}

// Sample allocates nothing once its buffers have grown, greedy or not.
func TestSampleAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	rng := rand.New(rand.NewPCG(8, 9))
	logits := randomLogits(rng, 2048)
	history := make([]int, 200)
	for i := range history {
		history[i] = rng.IntN(2048)
	}
	cases := []struct {
		name string
		p    Params
	}{
		{"greedy", Params{}},
		{"greedy with penalty", Params{RepeatPenalty: 1.1}},
		{"temperature", Params{Temperature: 0.8, Seed: 1}},
		{"all filters", Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 128, Seed: 2}},
		{"top-p only", Params{Temperature: 1.2, TopP: 0.9, Seed: 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustNew(t, c.p)
			buf := make([]float32, len(logits))
			s.Sample(slices.Clone(logits), history) // grow buffers
			allocs := testing.AllocsPerRun(50, func() {
				copy(buf, logits)
				s.Sample(buf, history)
			})
			if allocs != 0 {
				t.Fatalf("Sample allocates %v times per call in steady state", allocs)
			}
		})
	}
}

func BenchmarkSample(b *testing.B) {
	rng := rand.New(rand.NewPCG(8, 9))
	logits := randomLogits(rng, 32000)
	history := make([]int, 64)
	for i := range history {
		history[i] = rng.IntN(len(logits))
	}
	for _, c := range []struct {
		name string
		p    Params
	}{
		{"greedy", Params{}},
		{"default", Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, Seed: 1}},
		{"full", Params{Temperature: 0.8, Seed: 1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := mustNew(b, c.p)
			buf := make([]float32, len(logits))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, logits)
				s.Sample(buf, history)
			}
		})
	}
}
