package proof_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/synth"
)

var testPool *kernels.Pool

func TestMain(m *testing.M) {
	testPool = kernels.NewPool(2)
	code := m.Run()
	testPool.Close()
	os.Exit(code)
}

// fixture is a model file with its commitments, a whole-model instance and
// a verification key over every layer.
type fixture struct {
	file   *gguf.File
	commit commit.Commitments
	cfg    model.Config
	all    *model.Model // client parts and every layer
	vk     *proof.VerificationKey
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*fixture{}
)

func seedOf(name string) [32]byte { return sha256.Sum256([]byte("test vk " + name)) }

func newFixture(t testing.TB, name string, f *gguf.File) *fixture {
	t.Helper()
	c, err := commit.Of(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	all, err := model.Load(f, model.Options{Layers: model.Range{First: 0, Last: cfg.Layers}, Client: true, Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	vk, err := proof.GenerateVK(f, c, model.Range{First: 0, Last: cfg.Layers}, seedOf(name), proof.VKOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{file: f, commit: c, cfg: cfg, all: all, vk: vk}
}

// kjv returns the fixture of the embedded q8_0 (or f32) model.
func kjv(t testing.TB, file string) *fixture {
	t.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if fx, ok := fixtures[file]; ok {
		return fx
	}
	f, err := gguf.Open("../models/" + file)
	if err != nil {
		t.Fatal(err)
	}
	fx := newFixture(t, file, f)
	fixtures[file] = fx
	return fx
}

// synthetic returns the fixture of a small random model of one type.
func synthetic(t testing.TB, arch string, typ quant.Type) *fixture {
	t.Helper()
	key := fmt.Sprintf("%s-%v", arch, typ)
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if fx, ok := fixtures[key]; ok {
		return fx
	}
	dim, ff := 64, 96
	if typ.BlockSize() == quant.QKK {
		dim, ff = 256, 512
	}
	b, err := synth.Builder(synth.Config{Arch: arch, Dim: dim, Layers: 3, Heads: 4, KVHeads: 2, FF: ff, Vocab: 300, ContextLen: 64, Type: typ, Seed: 11})
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
	fx := newFixture(t, key, f)
	fixtures[key] = fx
	return fx
}

// traced runs tokens through layers r of fx's model, prefill then one
// decode step per extra token, and returns the inputs, outputs and traces
// of every call.
type call struct {
	start, n int
	in, out  []float32
	trace    *model.Trace
}

func runTraced(t testing.TB, fx *fixture, r model.Range, prompt []int, decode int) []call {
	t.Helper()
	m, err := model.Load(fx.file, model.Options{Layers: r, Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession(len(prompt) + decode)
	if err != nil {
		t.Fatal(err)
	}
	dim := fx.cfg.Dim
	var calls []call
	toks := append([]int(nil), prompt...)
	for i := 0; i < decode; i++ {
		toks = append(toks, (prompt[0]*7+i*13)%fx.cfg.Vocab)
	}
	for start := 0; start < len(toks); {
		n := len(prompt)
		if start > 0 {
			n = 1
		}
		h := make([]float32, n*dim)
		if err := fx.all.Embed(h, toks[start:start+n]); err != nil {
			t.Fatal(err)
		}
		in := append([]float32(nil), h...)
		tr := new(model.Trace)
		if err := m.ForwardTrace(s, start, h, n, tr); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call{start: start, n: n, in: in, out: h, trace: tr})
		start += n
	}
	return calls
}
