package synth_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/synth"
)

func build(t *testing.T, c synth.Config) []byte {
	t.Helper()
	b, err := synth.Builder(c)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestShapeAndMetadata(t *testing.T) {
	c := synth.Config{Dim: 256, Layers: 3, Heads: 8, KVHeads: 2, FF: 512, Vocab: 400, Type: quant.Q4_K, Seed: 1}
	f, err := gguf.Parse(build(t, c))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	want := model.Config{Arch: "llama", Dim: 256, Layers: 3, Heads: 8, KVHeads: 2, HeadDim: 32, FF: 512, Vocab: 400,
		ContextLen: 2048, NormEps: 1e-5, RopeDim: 32, RopeBase: 10000, RopeScale: 1}
	if cfg != want {
		t.Fatalf("config %+v, want %+v", cfg, want)
	}
	for name, dims := range map[string][]uint64{
		"token_embd.weight":      {256, 400},
		"blk.2.attn_k.weight":    {256, 64},
		"blk.0.ffn_down.weight":  {512, 256},
		"output.weight":          {256, 400},
		"blk.1.attn_norm.weight": {256},
	} {
		info, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("tensor %s missing", name)
		}
		if len(info.Dims) != len(dims) || info.Dims[0] != dims[0] || (len(dims) == 2 && info.Dims[1] != dims[1]) {
			t.Errorf("%s dims %v, want %v", name, info.Dims, dims)
		}
	}
	if info, _ := f.Tensor("blk.0.attn_q.weight"); info.Type != quant.Q4_K {
		t.Errorf("weights are %s, want q4_k", info.Type)
	}
	if info, _ := f.Tensor("blk.0.ffn_norm.weight"); info.Type != quant.F32 {
		t.Errorf("norms are %s, want f32", info.Type)
	}
	if toks, err := f.Strings("tokenizer.ggml.tokens"); err != nil || len(toks) != 400 {
		t.Errorf("vocabulary: %d tokens, %v", len(toks), err)
	}
}

// The same seed must give the same file, whatever the machine's core count;
// another seed another file.
func TestDeterministic(t *testing.T) {
	c := synth.Config{Dim: 64, Layers: 2, Heads: 4, FF: 128, Vocab: 300, Type: quant.Q8_0, Seed: 3}
	a := sha256.Sum256(build(t, c))
	b := sha256.Sum256(build(t, c))
	c.Seed = 4
	d := sha256.Sum256(build(t, c))
	if a != b {
		t.Fatal("same seed, different files")
	}
	if a == d {
		t.Fatal("different seeds, same file")
	}
}

func TestInvalidConfigs(t *testing.T) {
	ok := synth.Config{Dim: 64, Layers: 1, Heads: 4, FF: 128, Vocab: 300, Type: quant.Q8_0}
	for name, mutate := range map[string]func(*synth.Config){
		"unknown arch":           func(c *synth.Config) { c.Arch = "gpt-neox" },
		"zero layers":            func(c *synth.Config) { c.Layers = 0 },
		"heads do not divide":    func(c *synth.Config) { c.Heads = 5 },
		"kv heads do not divide": func(c *synth.Config) { c.KVHeads = 3 },
		"tiny vocab":             func(c *synth.Config) { c.Vocab = 100 },
		"dim not whole blocks":   func(c *synth.Config) { c.Type = quant.Q4_K },
		"unsupported type":       func(c *synth.Config) { c.Type = quant.Q2_K },
	} {
		c := ok
		mutate(&c)
		if _, err := synth.Builder(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := synth.Builder(ok); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	c := synth.Config{Arch: "mistral", Dim: 64, Layers: 2, Heads: 4, KVHeads: 1, FF: 96, Vocab: 300, Type: quant.F16, Seed: 9}
	if err := synth.WriteFile(path, c); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := model.Load(f, model.Options{Layers: model.Range{First: 0, Last: 2}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config.Arch != "mistral" || m.Config.KVHeads != 1 {
		t.Fatalf("loaded %+v", m.Config)
	}
	st, _ := os.Stat(path)
	b, _ := synth.Builder(c)
	if st.Size() != b.Size() {
		t.Fatalf("file is %d bytes, builder promised %d", st.Size(), b.Size())
	}
}
