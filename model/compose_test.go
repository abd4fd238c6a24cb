package model_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/synth"
)

// synthFile builds a small random model in memory.
func synthFile(t testing.TB, c synth.Config) *gguf.File {
	t.Helper()
	b, err := synth.Builder(c)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func smallConfig(arch string, typ quant.Type) synth.Config {
	dim, ff := 64, 96
	if typ.BlockSize() == quant.QKK {
		dim, ff = 256, 512
	}
	return synth.Config{Arch: arch, Dim: dim, Layers: 4, Heads: 4, KVHeads: 2, FF: ff, Vocab: 300, ContextLen: 64, Type: typ, Seed: 7}
}

func mustLoad(t testing.TB, f *gguf.File, r model.Range, client bool) *model.Model {
	t.Helper()
	m, err := model.Load(f, model.Options{Layers: r, Client: client, Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// runChain embeds tokens, runs them through each part in turn (prefill then
// one decode step per extra token) and returns the final hidden states.
func runChain(t testing.TB, client *model.Model, parts []*model.Model, prompt, decode []int) []float32 {
	t.Helper()
	dim := client.Config.Dim
	sessions := make([]*model.Session, len(parts))
	for i, p := range parts {
		s, err := p.NewSession(len(prompt) + len(decode))
		if err != nil {
			t.Fatal(err)
		}
		sessions[i] = s
	}
	var out []float32
	step := func(start int, toks []int) {
		h := make([]float32, len(toks)*dim)
		if err := client.Embed(h, toks); err != nil {
			t.Fatal(err)
		}
		for i, p := range parts {
			if err := p.Forward(sessions[i], start, h, len(toks)); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, h...)
	}
	step(0, prompt)
	for i, tok := range decode {
		step(len(prompt)+i, []int{tok})
	}
	return out
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// Running layers [0,a) then [a,L) must give the same bits as [0,L), for
// every weight type and architecture: the distributed pipeline and the
// proofs depend on it.
func TestLayerRangeComposition(t *testing.T) {
	prompt := []int{1, 17, 260, 5, 299, 42}
	decode := []int{7, 250, 3}
	for _, arch := range []string{"llama", "qwen2"} {
		for _, typ := range quant.Supported {
			t.Run(arch+"/"+typ.String(), func(t *testing.T) {
				f := synthFile(t, smallConfig(arch, typ))
				whole := mustLoad(t, f, model.Range{First: 0, Last: 4}, true)
				want := runChain(t, whole, []*model.Model{whole}, prompt, decode)
				for _, v := range want {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("non-finite hidden state %v", v)
					}
				}
				for _, split := range [][]int{{0, 1, 4}, {0, 2, 3, 4}, {0, 3, 4}} {
					var parts []*model.Model
					for i := 0; i+1 < len(split); i++ {
						parts = append(parts, mustLoad(t, f, model.Range{First: split[i], Last: split[i+1]}, false))
					}
					got := runChain(t, whole, parts, prompt, decode)
					if !equalBits(got, want) {
						t.Errorf("split %v: hidden states differ from the whole model", split)
					}
				}
				logitsWhole := make([]float32, 300)
				logitsPart := make([]float32, 300)
				dim := whole.Config.Dim
				if err := whole.Head(logitsWhole, want[len(want)-dim:]); err != nil {
					t.Fatal(err)
				}
				client := mustLoad(t, f, model.Range{}, true)
				if err := client.Head(logitsPart, want[len(want)-dim:]); err != nil {
					t.Fatal(err)
				}
				if !equalBits(logitsWhole, logitsPart) {
					t.Error("head of a client-only model differs from the whole model's")
				}
			})
		}
	}
}

// A prompt processed in one prefill must give the same bits as the same
// tokens fed one at a time, and as any other batching.
func TestPrefillEqualsDecode(t *testing.T) {
	m := loadWhole(t, "kjv-tiny-q8_0.gguf")
	tokens := []int{1, 1046, 261, 1782, 1243, 391, 282, 562, 285}
	all := runChain(t, m, []*model.Model{m}, tokens, nil)
	oneByOne := runChain(t, m, []*model.Model{m}, tokens[:1], tokens[1:])
	mixed := runChain(t, m, []*model.Model{m}, tokens[:4], tokens[4:])
	if !equalBits(all, oneByOne) || !equalBits(all, mixed) {
		t.Fatal("hidden states depend on how positions were batched")
	}
}

// Rewinding a session and recomputing a position reproduces it exactly.
func TestSessionRewind(t *testing.T) {
	m := loadWhole(t, "kjv-tiny-q8_0.gguf")
	dim := m.Config.Dim
	s, err := m.NewSession(16)
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int{1, 300, 632, 394}
	h := make([]float32, len(prompt)*dim)
	if err := m.Embed(h, prompt); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward(s, 0, h, len(prompt)); err != nil {
		t.Fatal(err)
	}
	next := func(tok int) []float32 {
		x := make([]float32, dim)
		if err := m.Embed(x, []int{tok}); err != nil {
			t.Fatal(err)
		}
		if err := m.Forward(s, len(prompt), x, 1); err != nil {
			t.Fatal(err)
		}
		return x
	}
	first := next(325)
	_ = next(999) // overwrite position 4 with another token
	if s.Len() != len(prompt)+1 {
		t.Fatalf("Len %d after rewind, want %d", s.Len(), len(prompt)+1)
	}
	again := next(325)
	if !equalBits(first, again) {
		t.Fatal("recomputing a rewound position gave different bits")
	}
}

// Reserving room in a session, empty or part-filled, beyond its length or
// not, changes no bit of what it computes.
func TestSessionReserve(t *testing.T) {
	m := loadWhole(t, "kjv-tiny-q8_0.gguf")
	dim := m.Config.Dim
	tokens := []int{1, 300, 632, 394, 325, 999, 261, 1782, 1243, 391, 282, 562, 285, 1046, 17, 18, 19, 20, 21, 22}
	run := func(reserve map[int]int) []float32 {
		s, err := m.NewSession(200)
		if err != nil {
			t.Fatal(err)
		}
		var out []float32
		for pos, tok := range tokens {
			if n, ok := reserve[pos]; ok {
				s.Reserve(n)
			}
			x := make([]float32, dim)
			if err := m.Embed(x, []int{tok}); err != nil {
				t.Fatal(err)
			}
			if err := m.Forward(s, pos, x, 1); err != nil {
				t.Fatal(err)
			}
			out = append(out, x...)
		}
		return out
	}
	want := run(nil)
	for _, reserve := range []map[int]int{{0: 200}, {0: 5000}, {17: 199}, {3: 40, 11: 100, 19: 3}} {
		if got := run(reserve); !equalBits(got, want) {
			t.Errorf("reserving %v changed the hidden states", reserve)
		}
	}
}

func TestForwardErrors(t *testing.T) {
	f := synthFile(t, smallConfig("llama", quant.F32))
	m := mustLoad(t, f, model.Range{First: 1, Last: 3}, false)
	dim := m.Config.Dim
	s, err := m.NewSession(4)
	if err != nil {
		t.Fatal(err)
	}
	other := mustLoad(t, f, model.Range{First: 0, Last: 1}, false)
	otherSession, _ := other.NewSession(4)
	cases := []struct {
		name  string
		err   error
		start int
		n     int
		h     []float32
		sess  *model.Session
	}{
		{"wrong length", nil, 0, 2, make([]float32, dim), s},
		{"zero positions", nil, 0, 0, nil, s},
		{"skips positions", nil, 1, 1, make([]float32, dim), s},
		{"beyond session limit", nil, 0, 5, make([]float32, 5*dim), s},
		{"foreign session", nil, 0, 1, make([]float32, dim), otherSession},
	}
	for _, c := range cases {
		if err := m.Forward(c.sess, c.start, c.h, c.n); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if err := m.Embed(make([]float32, dim), []int{1}); err == nil || !strings.Contains(err.Error(), "not loaded") {
		t.Errorf("embed on a layers-only model: %v", err)
	}
	client := mustLoad(t, f, model.Range{}, true)
	if err := client.Embed(make([]float32, dim), []int{300}); err == nil {
		t.Error("embedding a token outside the vocabulary succeeded")
	}
	if _, err := model.Load(f, model.Options{Layers: model.Range{First: 2, Last: 5}, Pool: testPool}); err == nil {
		t.Error("loading layers beyond the model succeeded")
	}
	if _, err := m.NewSession(0); err == nil {
		t.Error("a zero-length session was accepted")
	}
}

func TestLoadMissingTensor(t *testing.T) {
	f := synthFile(t, smallConfig("llama", quant.F32))
	b := gguf.NewBuilder()
	if err := b.CopyKV(f); err != nil {
		t.Fatal(err)
	}
	for _, ti := range f.Tensors {
		if ti.Name == "blk.2.ffn_up.weight" {
			continue
		}
		if err := b.CopyTensor(f, ti.Name); err != nil {
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
	if _, err := model.Load(g, model.Options{Layers: model.Range{First: 0, Last: 2}, Pool: testPool}); err != nil {
		t.Fatalf("layers 0:2 do not need the missing tensor: %v", err)
	}
	_, err = model.Load(g, model.Options{Layers: model.Range{First: 0, Last: 4}, Pool: testPool})
	if err == nil || !strings.Contains(err.Error(), "blk.2.ffn_up.weight") {
		t.Fatalf("error %v does not name the missing tensor", err)
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		in   string
		want model.Range
		ok   bool
	}{
		{"0:6", model.Range{First: 0, Last: 6}, true},
		{"3:3", model.Range{First: 3, Last: 3}, true},
		{"4:2", model.Range{}, false},
		{"-1:2", model.Range{}, false},
		{"a:b", model.Range{}, false},
		{"5", model.Range{}, false},
	} {
		got, err := model.ParseRange(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseRange(%q) = %v, %v", c.in, got, err)
		}
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	m := loadWhole(t, "kjv-tiny-q8_0.gguf")
	dim := m.Config.Dim
	s, _ := m.NewSession(64)
	h := make([]float32, dim)
	logits := make([]float32, m.Config.Vocab)
	tok := []int{1}
	pos := 0
	step := func() {
		if err := m.Embed(h, tok); err != nil {
			t.Fatal(err)
		}
		if err := m.Forward(s, pos, h, 1); err != nil {
			t.Fatal(err)
		}
		if err := m.Head(logits, h); err != nil {
			t.Fatal(err)
		}
		pos++
	}
	for i := 0; i < 20; i++ { // grow the cache past its first doublings
		step()
	}
	pos = 20
	if n := testing.AllocsPerRun(10, step); n > 0 {
		t.Fatalf("a decode step allocates %.1f times", n)
	}
}
