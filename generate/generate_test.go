package generate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/sample"
	"github.com/tessera-net/tessera/synth"
	"github.com/tessera-net/tessera/tokenizer"
)

// testPool computes every model of the tests; it is closed by TestMain.
var testPool *kernels.Pool

func TestMain(m *testing.M) {
	testPool = kernels.NewPool(0)
	code := m.Run()
	testPool.Close()
	os.Exit(code)
}

// underRace returns full normally and short under the race detector, which
// slows the kernels some forty times; the shorter runs still cover every
// code path.
func underRace[T any](full, short T) T {
	if raceEnabled {
		return short
	}
	return full
}

// fixture is a loaded model with its client parts.
type fixture struct {
	file   *gguf.File
	cfg    model.Config
	tok    *tokenizer.Tokenizer
	model  *model.Model // all layers and the client parts
	client Client
}

func loadFixture(f *gguf.File) (*fixture, error) {
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, err
	}
	m, err := model.Load(f, model.Options{Layers: model.Range{First: 0, Last: cfg.Layers}, Client: true, Pool: testPool})
	if err != nil {
		return nil, err
	}
	return &fixture{file: f, cfg: cfg, tok: tok, model: m, client: Client{Model: m, Tokenizer: tok}}, nil
}

var kjvFixture = sync.OnceValues(func() (*fixture, error) {
	f, err := models.Default()
	if err != nil {
		return nil, err
	}
	return loadFixture(f)
})

// kjv returns the embedded kjv-tiny model, loaded once.
func kjv(t testing.TB) *fixture {
	t.Helper()
	fx, err := kjvFixture()
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// synthContextLen is the context of the small synthetic model.
const synthContextLen = 16

var synthFixture = sync.OnceValues(func() (*fixture, error) {
	b, err := synth.Builder(synth.Config{
		Dim: 64, Layers: 3, Heads: 4, KVHeads: 2, FF: 96, Vocab: 300,
		ContextLen: synthContextLen, Type: quant.Q8_0, Seed: 3,
	})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		return nil, err
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		return nil, err
	}
	return loadFixture(f)
})

// small returns a random-weight model with a context of 16 positions.
func small(t testing.TB) *fixture {
	t.Helper()
	fx, err := synthFixture()
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *fixture) local(t testing.TB) *LocalLayers {
	t.Helper()
	l, err := NewLocalLayers(fx.model, fx.cfg.ContextLen)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// run generates with fresh local layers, checking the invariants every
// successful generation must keep, and returns the result and the pieces
// passed to emit.
func (fx *fixture) run(t testing.TB, req Request) (Result, []string) {
	t.Helper()
	var pieces []string
	res, err := fx.client.Run(context.Background(), fx.local(t), req, func(s string) error {
		pieces = append(pieces, s)
		return nil
	})
	if err != nil {
		t.Fatalf("Run(%+v): %v", req, err)
	}
	checkResult(t, fx, req, res, pieces)
	return res, pieces
}

// checkResult checks what holds for any finished generation.
func checkResult(t testing.TB, fx *fixture, req Request, res Result, pieces []string) {
	t.Helper()
	if got := strings.Join(pieces, ""); got != res.Text {
		t.Errorf("emitted pieces concatenate to %q, Result.Text is %q", got, res.Text)
	}
	for i, p := range pieces {
		if p == "" {
			t.Errorf("emit called with an empty piece (call %d)", i)
		}
	}
	if len(res.Tokens) > req.MaxTokens {
		t.Errorf("%d tokens generated, MaxTokens %d", len(res.Tokens), req.MaxTokens)
	}
	if n := len(res.PromptTokens) + len(res.Tokens); n > fx.cfg.ContextLen {
		t.Errorf("%d prompt + %d generated tokens exceed the context of %d", len(res.PromptTokens), len(res.Tokens), fx.cfg.ContextLen)
	}
	if !req.IgnoreEOS {
		for i, tok := range res.Tokens {
			if fx.tok.IsEOG(tok) {
				t.Errorf("end-of-generation token %d at position %d of Result.Tokens", tok, i)
			}
		}
	}
	for _, stop := range req.Stop {
		if stop != "" && strings.Contains(res.Text, stop) {
			t.Errorf("Result.Text %q contains the stop string %q", res.Text, stop)
		}
	}
	switch res.FinishReason {
	case FinishLength:
		// MaxTokens, or the context when it is shorter.
		want := min(req.MaxTokens, fx.cfg.ContextLen-len(res.PromptTokens))
		if len(res.Tokens) != want {
			t.Errorf("finish %q after %d tokens, want %d", res.FinishReason, len(res.Tokens), want)
		}
	case FinishStop:
		if len(req.Stop) == 0 && len(res.Tokens) >= req.MaxTokens {
			t.Errorf("finish %q with no stop strings but all %d tokens generated", res.FinishReason, len(res.Tokens))
		}
	default:
		t.Errorf("finish reason %q", res.FinishReason)
	}
}

type goldenGreedy struct {
	Model        string `json:"model"`
	Prompt       string `json:"prompt"`
	PromptIDs    []int  `json:"prompt_ids"`
	GeneratedIDs []int  `json:"generated_ids"`
	Text         string `json:"text"`
}

func readGolden(t testing.TB, modelName, prompt string) goldenGreedy {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "greedy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all []goldenGreedy
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	for _, g := range all {
		if g.Model == modelName && g.Prompt == prompt {
			return g
		}
	}
	t.Fatalf("no golden entry for %s %q", modelName, prompt)
	return goldenGreedy{}
}

const goldenPrompt = "In the beginning God created"

// Greedy generation reproduces llama.cpp's ids for the embedded model, and
// the streamed pieces make up the text.
func TestGreedyGolden(t *testing.T) {
	fx := kjv(t)
	g := readGolden(t, "kjv-tiny-q8_0.gguf", goldenPrompt)
	req := Request{Prompt: goldenPrompt, MaxTokens: len(g.GeneratedIDs)}
	res, pieces := fx.run(t, req)
	if !slices.Equal(res.PromptTokens, g.PromptIDs) {
		t.Errorf("prompt tokens %v, want %v", res.PromptTokens, g.PromptIDs)
	}
	if !slices.Equal(res.Tokens, g.GeneratedIDs) {
		t.Errorf("generated\n%v\nwant\n%v", res.Tokens, g.GeneratedIDs)
	}
	if res.FinishReason != FinishLength {
		t.Errorf("finish %q, want %q", res.FinishReason, FinishLength)
	}
	if res.Text != g.Text {
		t.Errorf("text %q, want %q", res.Text, g.Text)
	}
	if want := fx.tok.Decode(res.Tokens); res.Text != want {
		t.Errorf("text %q, Decode gives %q", res.Text, want)
	}
	if len(pieces) < len(res.Tokens)/2 {
		t.Errorf("only %d pieces streamed for %d tokens", len(pieces), len(res.Tokens))
	}
}

// chain runs several Layers one after the other: the shape of the
// distributed pipeline, where each node holds a range of layers.
type chain []Layers

func (c chain) Forward(ctx context.Context, start int, hidden []float32, n int) error {
	for i, l := range c {
		if err := l.Forward(ctx, start, hidden, n); err != nil {
			return fmt.Errorf("part %d: %w", i, err)
		}
	}
	return nil
}

// splitLayers loads the model as separate layer ranges, each with its own
// session, chained: bounds {0, a, L} gives [0,a) then [a,L).
func splitLayers(t testing.TB, fx *fixture, bounds ...int) chain {
	t.Helper()
	var c chain
	for i := 0; i+1 < len(bounds); i++ {
		part, err := model.Load(fx.file, model.Options{Layers: model.Range{First: bounds[i], Last: bounds[i+1]}, Pool: testPool})
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewLocalLayers(part, fx.cfg.ContextLen)
		if err != nil {
			t.Fatal(err)
		}
		c = append(c, l)
	}
	return c
}

// Layers split over separately loaded ranges give token for token what the
// whole model gives: the seam of the distributed pipeline.
func TestSplitLayersMatchLocal(t *testing.T) {
	fx := kjv(t)
	L := fx.cfg.Layers
	reqs := []Request{
		{Prompt: goldenPrompt, MaxTokens: underRace(48, 12)},
		{Prompt: "And Jesus said unto them", MaxTokens: underRace(32, 8), Sample: sample.Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, Seed: 42}},
	}
	splits := underRace([][]int{{0, 1, L}, {0, L / 2, L}, {0, L - 1, L}, {0, 2, 4, L}, {0, L}}, [][]int{{0, L / 2, L}, {0, 2, 4, L}})
	for _, req := range reqs {
		want, _ := fx.run(t, req)
		for _, bounds := range splits {
			t.Run(fmt.Sprintf("%v/temp%v", bounds, req.Sample.Temperature), func(t *testing.T) {
				var pieces []string
				got, err := fx.client.Run(context.Background(), splitLayers(t, fx, bounds...), req, func(s string) error {
					pieces = append(pieces, s)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				checkResult(t, fx, req, got, pieces)
				if !slices.Equal(got.Tokens, want.Tokens) || got.Text != want.Text || got.FinishReason != want.FinishReason {
					t.Errorf("split %v gave %v %q (%s), whole model %v %q (%s)",
						bounds, got.Tokens, got.Text, got.FinishReason, want.Tokens, want.Text, want.FinishReason)
				}
			})
		}
	}
}

// Seeded sampling is reproducible; another seed gives another text.
func TestSeededSampling(t *testing.T) {
	fx := kjv(t)
	req := Request{Prompt: goldenPrompt, MaxTokens: underRace(40, 12), Sample: sample.Params{Temperature: 0.8, Seed: 42}}
	a, _ := fx.run(t, req)
	b, _ := fx.run(t, req)
	if !slices.Equal(a.Tokens, b.Tokens) || a.Text != b.Text {
		t.Fatalf("same seed, different output:\n%q\n%q", a.Text, b.Text)
	}
	greedy, _ := fx.run(t, Request{Prompt: goldenPrompt, MaxTokens: req.MaxTokens})
	if slices.Equal(a.Tokens, greedy.Tokens) {
		t.Errorf("sampling at temperature 0.8 gave exactly the greedy text %q", a.Text)
	}
	req.Sample.Seed = 43
	c, _ := fx.run(t, req)
	if slices.Equal(a.Tokens, c.Tokens) {
		t.Errorf("seeds 42 and 43 gave the same text %q", a.Text)
	}
}

// Generation ends before the first occurrence of a stop string, which never
// reaches emit, even when it straddles token boundaries.
func TestStopStrings(t *testing.T) {
	fx := kjv(t)
	base := Request{Prompt: goldenPrompt, MaxTokens: underRace(48, 20)}
	full, pieces := fx.run(t, base)
	if len(pieces) < 8 {
		t.Fatalf("need several pieces to build the cases, got %q", pieces)
	}
	// A stop string made of the end of piece 3 and the start of piece 4, so
	// that no single token holds it.
	p3, p4 := pieces[3], pieces[4]
	straddle := p3[len(p3)-min(2, len(p3)):] + p4[:min(2, len(p4))]
	// One that spans three pieces.
	span := p3[len(p3)-1:] + pieces[4] + pieces[5][:1]
	cases := []struct {
		name string
		stop []string
		race bool // also run under the race detector
	}{
		{"straddles two tokens", []string{straddle}, true},
		{"spans three tokens", []string{span}, true},
		{"whole first piece", []string{pieces[0]}, false},
		{"first character", []string{full.Text[:1]}, false},
		{"newline", []string{"\n"}, false},
		{"word", []string{"things"}, false},
		{"repeated phrase stops at its first occurrence", []string{"in the world"}, false},
		{"earliest of several", []string{"world is", "things", "For"}, true},
		{"with an empty stop", []string{"", "things"}, false},
		{"absent", []string{"Babylon"}, true},
		{"only empty", []string{""}, false},
		{"last characters", []string{full.Text[len(full.Text)-3:]}, false},
	}
	for _, c := range cases {
		if raceEnabled && !c.race {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			req := base
			req.Stop = c.stop
			res, got := fx.run(t, req)
			cut := -1
			for _, s := range c.stop {
				if i := strings.Index(full.Text, s); s != "" && i >= 0 && (cut < 0 || i < cut) {
					cut = i
				}
			}
			if cut < 0 {
				if res.Text != full.Text || res.FinishReason != FinishLength || !slices.Equal(res.Tokens, full.Tokens) {
					t.Fatalf("no stop string occurs, yet got %q (%s)", res.Text, res.FinishReason)
				}
				return
			}
			if res.FinishReason != FinishStop {
				t.Errorf("finish %q, want %q", res.FinishReason, FinishStop)
			}
			if want := full.Text[:cut]; res.Text != want {
				t.Errorf("text %q, want %q", res.Text, want)
			}
			// Generation stops with the token that completes the stop string
			// (the shortest one, when several start at cut).
			end := cut + len(shortestAt(c.stop, full.Text, cut))
			n := 1
			for len(fx.tok.Decode(full.Tokens[:n])) < end {
				n++
			}
			if !slices.Equal(res.Tokens, full.Tokens[:n]) {
				t.Errorf("tokens %v, want the first %d of %v", res.Tokens, n, full.Tokens)
			}
			for _, p := range got {
				for _, s := range c.stop {
					if s != "" && strings.Contains(p, s) {
						t.Errorf("piece %q contains stop %q", p, s)
					}
				}
			}
		})
	}
}

// shortestAt returns the shortest stop string occurring at text[cut:].
func shortestAt(stops []string, text string, cut int) string {
	best := ""
	for _, s := range stops {
		if s != "" && strings.HasPrefix(text[cut:], s) && (best == "" || len(s) < len(best)) {
			best = s
		}
	}
	return best
}

func TestStopFilter(t *testing.T) {
	cases := []struct {
		name    string
		stops   []string
		writes  []string
		emits   []string // every call to emit, after the final flush
		stopped bool
	}{
		{"no stops", nil, []string{"a", "bc", "", "d"}, []string{"a", "bc", "d"}, false},
		{"empty stop ignored", []string{""}, []string{"ab", "c"}, []string{"ab", "c"}, false},
		{"inside one write", []string{"STOP"}, []string{"hello STOP world"}, []string{"hello "}, true},
		{"at the start", []string{"STOP"}, []string{"STOP", "more"}, nil, true},
		{"whole write", []string{"x"}, []string{"ab", "x"}, []string{"ab"}, true},
		{"straddles writes", []string{"STOP"}, []string{"hel", "lo ST", "OP x"}, []string{"hel", "lo "}, true},
		{"one byte at a time", []string{"</s>"}, []string{"h", "i", "<", "/", "s", ">", "b"}, []string{"h", "i"}, true},
		{"held back, then released", []string{"STOP"}, []string{"ab S", "x"}, []string{"ab ", "Sx"}, false},
		{"held back, released by flush", []string{"STOP"}, []string{"end ST"}, []string{"end ", "ST"}, false},
		{"prefix repeats", []string{"aab"}, []string{"a", "a", "a", "b", "c"}, []string{"a"}, true},
		{"prefix repeats, no stop", []string{"aab"}, []string{"a", "a", "a", "c"}, []string{"a", "aac"}, false},
		{"earliest of several wins", []string{"AA", "BB"}, []string{"xxBByyAA"}, []string{"xx"}, true},
		{"earliest across writes", []string{"AA", "BB"}, []string{"xxB", "ByyAA"}, []string{"xx"}, true},
		{"first to complete wins", []string{"abcdef", "cd"}, []string{"abc", "d", "ef"}, []string{"ab"}, true},
		{"one stop a prefix of another", []string{"abc", "ab"}, []string{"xab", "c"}, []string{"x"}, true},
		{"longest possible prefix held", []string{"abcd", "bx"}, []string{"zab"}, []string{"z", "ab"}, false},
		{"partial prefix then mismatch", []string{"abc"}, []string{"ab", "ab", "abc"}, []string{"ab", "ab"}, true},
		{"multibyte stop", []string{"é!"}, []string{"caf", "é", "!", " ok"}, []string{"caf"}, true},
		{"multibyte text kept whole", []string{"!!"}, []string{"naïve ", "日本", "!"}, []string{"naïve ", "日本", "!"}, false},
		{"stop after newline", []string{"\n\n"}, []string{"a\n", "\nb"}, []string{"a"}, true},
		{"text after stop in same write dropped", []string{"."}, []string{"end. more"}, []string{"end"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var emits []string
			f := newStopFilter(c.stops, func(s string) error {
				emits = append(emits, s)
				return nil
			})
			stopped := false
			for i, w := range c.writes {
				s, err := f.write(w)
				if err != nil {
					t.Fatal(err)
				}
				if stopped && !s {
					t.Fatalf("write %d reported not stopped after a stop", i)
				}
				stopped = s
			}
			if err := f.flush(); err != nil {
				t.Fatal(err)
			}
			if stopped != c.stopped {
				t.Errorf("stopped %v, want %v", stopped, c.stopped)
			}
			if !slices.Equal(emits, c.emits) {
				t.Errorf("emits %q, want %q", emits, c.emits)
			}
			if got, want := f.text.String(), strings.Join(c.emits, ""); got != want {
				t.Errorf("text %q, want %q", got, want)
			}
			for _, e := range emits {
				if e == "" {
					t.Error("empty emit")
				}
				for _, s := range c.stops {
					if s != "" && strings.Contains(e, s) {
						t.Errorf("emitted %q contains stop %q", e, s)
					}
				}
			}
		})
	}
}

// Every way of splitting a text into writes gives the same output: the text
// up to the first stop string.
func TestStopFilterSplits(t *testing.T) {
	text := "abxab STO STOP ab ST"
	stops := []string{"STOP", "abc", "O S"}
	want := "abxab ST" // "O S" at index 8 comes before "STOP" at 10
	for mask := 0; mask < 1<<(len(text)-1); mask += 37 {
		var writes []string
		last := 0
		for i := 1; i < len(text); i++ {
			if mask&(1<<(i-1)) != 0 {
				writes = append(writes, text[last:i])
				last = i
			}
		}
		writes = append(writes, text[last:])
		var out strings.Builder
		f := newStopFilter(stops, func(s string) error {
			out.WriteString(s)
			return nil
		})
		for _, w := range writes {
			if _, err := f.write(w); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.flush(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("writes %q gave %q, want %q", writes, out.String(), want)
		}
	}
}

func TestStopFilterEmitError(t *testing.T) {
	boom := errors.New("boom")
	f := newStopFilter([]string{"STOP"}, func(string) error { return boom })
	if _, err := f.write("hello"); !errors.Is(err, boom) {
		t.Fatalf("write: %v, want %v", err, boom)
	}
	f = newStopFilter([]string{"STOP"}, func(string) error { return boom })
	if _, err := f.write("ST"); err != nil { // held back: nothing emitted yet
		t.Fatal(err)
	}
	if err := f.flush(); !errors.Is(err, boom) {
		t.Fatalf("flush: %v, want %v", err, boom)
	}
	f = newStopFilter([]string{"STOP"}, nil) // nil emit only collects the text
	if _, err := f.write("a STOP b"); err != nil || f.text.String() != "a " {
		t.Fatalf("nil emit: %v, text %q", err, f.text.String())
	}
}

func TestMaxTokensZero(t *testing.T) {
	fx := kjv(t)
	res, pieces := fx.run(t, Request{Prompt: goldenPrompt, MaxTokens: 0})
	if len(res.Tokens) != 0 || res.Text != "" || len(pieces) != 0 {
		t.Fatalf("MaxTokens 0 gave tokens %v, text %q, pieces %q", res.Tokens, res.Text, pieces)
	}
	if res.FinishReason != FinishLength {
		t.Errorf("finish %q, want %q", res.FinishReason, FinishLength)
	}
	if len(res.PromptTokens) == 0 {
		t.Error("no prompt tokens reported")
	}
}

func TestMaxTokensOne(t *testing.T) {
	fx := kjv(t)
	g := readGolden(t, "kjv-tiny-q8_0.gguf", goldenPrompt)
	res, _ := fx.run(t, Request{Prompt: goldenPrompt, MaxTokens: 1})
	if !slices.Equal(res.Tokens, g.GeneratedIDs[:1]) || res.FinishReason != FinishLength {
		t.Fatalf("got %v (%s), want %v (length)", res.Tokens, res.FinishReason, g.GeneratedIDs[:1])
	}
}

// An empty prompt is just BOS for the llama tokenizer.
func TestEmptyPrompt(t *testing.T) {
	fx := kjv(t)
	res, _ := fx.run(t, Request{Prompt: "", MaxTokens: 4})
	if !slices.Equal(res.PromptTokens, []int{fx.tok.BOS()}) {
		t.Fatalf("prompt tokens %v, want [BOS]", res.PromptTokens)
	}
	if len(res.Tokens) != 4 {
		t.Fatalf("%d tokens, want 4", len(res.Tokens))
	}
}

// nopLayers accepts any call and leaves the hidden states as they are.
type nopLayers struct{}

func (nopLayers) Forward(context.Context, int, []float32, int) error { return nil }

// recorder wraps Layers and records the positions it was asked for.
type recorder struct {
	Layers
	calls  [][2]int // start, n
	failAt int      // fail the call with this index (1-based); 0 = never
	err    error
}

func (r *recorder) Forward(ctx context.Context, start int, hidden []float32, n int) error {
	r.calls = append(r.calls, [2]int{start, n})
	if len(r.calls) == r.failAt {
		return r.err
	}
	return r.Layers.Forward(ctx, start, hidden, n)
}

// Prompt and generation together never exceed the model's context; a
// prompt that fills it is refused.
func TestContextLength(t *testing.T) {
	fx := small(t)
	prompt := func(n int) []int {
		p := make([]int, n)
		for i := range p {
			p[i] = 259 + (i*37)%41 // ordinary tokens
		}
		return p
	}
	cases := []struct {
		prompt, maxTokens int
		wantTokens        int // -1: error
	}{
		{synthContextLen + 4, 1, -1},
		{synthContextLen, 1, -1},
		{synthContextLen, 0, -1},
		{synthContextLen - 1, 5, 1},
		{synthContextLen - 4, 100, 4},
		{10, 6, 6},
		{10, 3, 3},
		{1, 1000, synthContextLen - 1},
		{1, 0, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("prompt %d max %d", c.prompt, c.maxTokens), func(t *testing.T) {
			rec := &recorder{Layers: fx.local(t)}
			req := Request{MaxTokens: c.maxTokens, IgnoreEOS: true}
			var pieces []string
			res, err := fx.client.RunTokens(context.Background(), rec, prompt(c.prompt), req, func(s string) error {
				pieces = append(pieces, s)
				return nil
			})
			if c.wantTokens < 0 {
				if err == nil {
					t.Fatalf("prompt of %d tokens in a context of %d: no error", c.prompt, synthContextLen)
				}
				if len(rec.calls) != 0 {
					t.Errorf("layers called %v for a prompt that does not fit", rec.calls)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, fx, req, res, pieces)
			if len(res.Tokens) != c.wantTokens || res.FinishReason != FinishLength {
				t.Errorf("%d tokens (%s), want %d (length)", len(res.Tokens), res.FinishReason, c.wantTokens)
			}
			// Prefill, then one step per generated token but the last.
			want := [][2]int{{0, c.prompt}}
			for i := 0; i+1 < c.wantTokens; i++ {
				want = append(want, [2]int{c.prompt + i, 1})
			}
			if !slices.Equal(rec.calls, want) {
				t.Errorf("forward calls %v, want %v", rec.calls, want)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	fx := small(t)
	boom := errors.New("boom")
	prompt := []int{1, 300 - 1, 260}
	cases := []struct {
		name   string
		prompt []int
		req    Request
		failAt int
		want   error // errors.Is target; nil means any error
		tokens int   // tokens generated before the error
		// permissive layers accept anything, so that RunTokens itself
		// must catch the problem
		permissive bool
	}{
		{"negative max tokens", prompt, Request{MaxTokens: -1}, 0, nil, 0, false},
		{"bad sampling params", prompt, Request{MaxTokens: 4, Sample: sample.Params{TopP: 2}}, 0, nil, 0, false},
		{"empty prompt", nil, Request{MaxTokens: 4}, 0, nil, 0, false},
		{"empty prompt, permissive layers", []int{}, Request{MaxTokens: 4}, 0, nil, 0, true},
		{"token outside vocabulary", []int{1, 300}, Request{MaxTokens: 4}, 0, nil, 0, false},
		{"negative token", []int{1, -1}, Request{MaxTokens: 4}, 0, nil, 0, false},
		{"prefill fails", prompt, Request{MaxTokens: 4}, 1, boom, 0, false},
		{"decode step fails", prompt, Request{MaxTokens: 8, IgnoreEOS: true}, 3, boom, 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var inner Layers = fx.local(t)
			if c.permissive {
				inner = nopLayers{}
			}
			rec := &recorder{Layers: inner, failAt: c.failAt, err: boom}
			res, err := fx.client.RunTokens(context.Background(), rec, c.prompt, c.req, nil)
			if err == nil {
				t.Fatalf("no error; result %+v", res)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if len(res.Tokens) != c.tokens {
				t.Errorf("%d tokens before the error, want %d", len(res.Tokens), c.tokens)
			}
			if c.failAt == 0 && len(rec.calls) != 0 {
				t.Errorf("layers called %v for a request that was invalid from the start", rec.calls)
			}
			if c.failAt > 0 && len(rec.calls) != c.failAt {
				t.Errorf("layers called %d times after failing at call %d", len(rec.calls), c.failAt)
			}
			t.Log(err)
		})
	}
}

// An error from emit stops generation at once and is returned.
func TestEmitError(t *testing.T) {
	fx := kjv(t)
	boom := errors.New("client went away")
	for _, failAt := range []int{1, 3, 10} {
		t.Run(fmt.Sprint(failAt), func(t *testing.T) {
			rec := &recorder{Layers: fx.local(t)}
			calls := 0
			res, err := fx.client.Run(context.Background(), rec, Request{Prompt: goldenPrompt, MaxTokens: 48}, func(string) error {
				calls++
				if calls >= failAt {
					return boom
				}
				return nil
			})
			if !errors.Is(err, boom) {
				t.Fatalf("error %v, want %v", err, boom)
			}
			if calls != failAt {
				t.Errorf("emit called %d times, want %d", calls, failAt)
			}
			// Every kjv token here has text, so each step emitted once; no
			// layer work happens after the failing emit.
			if len(res.Tokens) != failAt {
				t.Errorf("%d tokens generated, want %d", len(res.Tokens), failAt)
			}
			if len(rec.calls) != failAt {
				t.Errorf("%d forward calls, want %d (prefill and %d steps)", len(rec.calls), failAt, failAt-1)
			}
		})
	}
}

// ctxIgnoring hides the context from the layers, so that only the loop's
// own check can stop generation.
type ctxIgnoring struct{ Layers }

func (c ctxIgnoring) Forward(_ context.Context, start int, hidden []float32, n int) error {
	return c.Layers.Forward(context.Background(), start, hidden, n)
}

func TestCancel(t *testing.T) {
	fx := kjv(t)
	g := readGolden(t, "kjv-tiny-q8_0.gguf", goldenPrompt)
	req := Request{Prompt: goldenPrompt, MaxTokens: 48}

	t.Run("before start", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res, err := fx.client.Run(ctx, fx.local(t), req, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want %v", err, context.Canceled)
		}
		if len(res.Tokens) != 0 {
			t.Errorf("%d tokens generated after cancellation", len(res.Tokens))
		}
	})
	for _, layers := range []struct {
		name string
		make func() Layers
	}{
		{"layers check ctx", func() Layers { return fx.local(t) }},
		{"loop checks ctx", func() Layers { return ctxIgnoring{fx.local(t)} }},
	} {
		t.Run(layers.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const after = 5
			calls := 0
			res, err := fx.client.Run(ctx, layers.make(), req, func(string) error {
				calls++
				if calls == after {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want %v", err, context.Canceled)
			}
			if calls != after || len(res.Tokens) != after {
				t.Errorf("%d emits and %d tokens, want %d: generation went on after cancel", calls, len(res.Tokens), after)
			}
			if !slices.Equal(res.Tokens, g.GeneratedIDs[:len(res.Tokens)]) {
				t.Errorf("tokens %v are not a prefix of the greedy run", res.Tokens)
			}
		})
	}
}

// retokenized returns the tokenizer of f with the metadata kvs changed.
func retokenized(t testing.TB, f *gguf.File, kvs ...gguf.KeyValue) *tokenizer.Tokenizer {
	t.Helper()
	b := gguf.NewBuilder()
	if err := b.CopyKV(f); err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if err := b.SetKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(g)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// withEOS returns the tokenizer of f with eos_token_id set to id.
func withEOS(t testing.TB, f *gguf.File, id int) *tokenizer.Tokenizer {
	t.Helper()
	tok := retokenized(t, f, gguf.KeyValue{Key: "tokenizer.ggml.eos_token_id", Value: gguf.Uint32Value(uint32(id))})
	if !tok.IsEOG(id) {
		t.Fatalf("token %d is not end-of-generation after setting eos_token_id", id)
	}
	return tok
}

// When the sampler picks an end-of-generation token, generation stops with
// "stop" and the token is not part of the result, unless IgnoreEOS. To
// force the pick, the tokenizer is told that a token greedy decoding chooses
// is EOS.
func TestEOS(t *testing.T) {
	fx := kjv(t)
	g := readGolden(t, "kjv-tiny-q8_0.gguf", goldenPrompt)
	// The first token of the golden run that did not occur before it.
	at := 1
	for slices.Contains(g.GeneratedIDs[:at], g.GeneratedIDs[at]) {
		at++
	}
	eos := g.GeneratedIDs[at]
	client := Client{Model: fx.model, Tokenizer: withEOS(t, fx.file, eos)}
	fxEOS := *fx
	fxEOS.tok, fxEOS.client = client.Tokenizer, client

	req := Request{Prompt: goldenPrompt, MaxTokens: 48}
	res, _ := fxEOS.run(t, req)
	if res.FinishReason != FinishStop {
		t.Errorf("finish %q, want %q", res.FinishReason, FinishStop)
	}
	if !slices.Equal(res.Tokens, g.GeneratedIDs[:at]) {
		t.Errorf("tokens %v, want %v (stopping before EOS %d)", res.Tokens, g.GeneratedIDs[:at], eos)
	}
	if want := fx.tok.Decode(g.GeneratedIDs[:at]); res.Text != want {
		t.Errorf("text %q, want %q", res.Text, want)
	}

	req.IgnoreEOS = true
	res, _ = fxEOS.run(t, req)
	if res.FinishReason != FinishLength || !slices.Equal(res.Tokens, g.GeneratedIDs) {
		t.Errorf("IgnoreEOS: %v (%s), want the whole golden run (length)", res.Tokens, res.FinishReason)
	}

	// EOS at the very first step: no tokens, finish "stop".
	fxEOS.tok = withEOS(t, fx.file, g.GeneratedIDs[0])
	fxEOS.client.Tokenizer = fxEOS.tok
	res, pieces := fxEOS.run(t, Request{Prompt: goldenPrompt, MaxTokens: 48})
	if res.FinishReason != FinishStop || len(res.Tokens) != 0 || len(pieces) != 0 {
		t.Errorf("EOS first: %v %q (%s), want nothing (stop)", res.Tokens, pieces, res.FinishReason)
	}
}

// Sampled generations of the real model end with "length" or "stop"
// consistently, and never report an end-of-generation token.
func TestFinishReasons(t *testing.T) {
	fx := kjv(t)
	reasons := map[string]int{}
	for _, prompt := range []string{goldenPrompt, "And it came to pass", "Blessed are the"} {
		for seed := range underRace(uint64(4), 1) {
			req := Request{Prompt: prompt, MaxTokens: underRace(40, 12), Sample: sample.Params{Temperature: 1.2, Seed: seed}}
			res, _ := fx.run(t, req) // checkResult checks the consistency
			reasons[res.FinishReason]++
		}
	}
	t.Logf("finish reasons: %v", reasons)
}

// A stop string completed only by the decoder's final flush (an incomplete
// UTF-8 character at the end comes out as U+FFFD) still ends the text and
// makes the finish reason "stop".
func TestStopAtFinalFlush(t *testing.T) {
	fx := kjv(t)
	g := readGolden(t, "kjv-tiny-q8_0.gguf", goldenPrompt)
	tokens, err := fx.file.Strings("tokenizer.ggml.tokens")
	if err != nil {
		t.Fatal(err)
	}
	// Give the second generated token a piece that ends in half a
	// character.
	id := g.GeneratedIDs[1]
	tokens = slices.Clone(tokens)
	tokens[id] += "\xe6"
	tok := retokenized(t, fx.file, gguf.KeyValue{Key: "tokenizer.ggml.tokens", Value: gguf.ArrayValue(tokens)})
	client := Client{Model: fx.model, Tokenizer: tok}
	want := fx.tok.Decode(g.GeneratedIDs[:2])
	cases := []struct {
		stop      []string
		text      string
		finish    string
		emitsFFFD bool
	}{
		{nil, want + "\uFFFD", FinishLength, true},
		{[]string{"\uFFFD"}, want, FinishStop, false},
		{[]string{"d\uFFFD"}, want[:len(want)-1], FinishStop, false},
	}
	for _, c := range cases {
		req := Request{MaxTokens: 2, Stop: c.stop}
		var pieces []string
		res, err := client.RunTokens(context.Background(), fx.local(t), g.PromptIDs, req, func(s string) error {
			pieces = append(pieces, s)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != c.text || res.FinishReason != c.finish || strings.Join(pieces, "") != res.Text {
			t.Errorf("stop %q: text %q (%s), pieces %q; want %q (%s)", c.stop, res.Text, res.FinishReason, pieces, c.text, c.finish)
		}
		if !slices.Equal(res.Tokens, g.GeneratedIDs[:2]) {
			t.Errorf("stop %q: tokens %v, want %v", c.stop, res.Tokens, g.GeneratedIDs[:2])
		}
	}
}
