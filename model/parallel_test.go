package model

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/synth"
)

func synthModelFile(t *testing.T, typ quant.Type) *gguf.File {
	t.Helper()
	c := synth.Config{Arch: "llama", Dim: 256, Layers: 2, Heads: 8, KVHeads: 2, FF: 512, Vocab: 300, ContextLen: 64, Type: typ, Seed: 3}
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

// forcedParallel lowers the grains so that even a small model's attention
// and SwiGLU are split over threads, for the duration of the test.
func forcedParallel(t *testing.T) {
	sg, ag := swiGLUGrain, attnGrain
	swiGLUGrain, attnGrain = 1, 1
	t.Cleanup(func() { swiGLUGrain, attnGrain = sg, ag })
}

// prefillDecode runs a 9-position prefill and 3 decode steps and returns
// every hidden state.
func prefillDecode(t *testing.T, m *Model) []float32 {
	t.Helper()
	dim := m.Config.Dim
	s, err := m.NewSession(16)
	if err != nil {
		t.Fatal(err)
	}
	h := make([]float32, 12*dim)
	for i := range h {
		h[i] = float32(math.Sin(float64(i)*0.37)) * 2
	}
	if err := m.Forward(s, 0, h[:9*dim], 9); err != nil {
		t.Fatal(err)
	}
	for p := 9; p < 12; p++ {
		if err := m.Forward(s, p, h[p*dim:(p+1)*dim], 1); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func sameBits(a, b []float32) bool {
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

// The model's own parallel work (attention by head, SwiGLU by value) and
// the joined q/k/v and gate/up products must not change any bit: the
// hidden states are the same for 1, 2 and 3 threads and with the matrices
// computed one by one.
func TestParallelAndJoinedSameBits(t *testing.T) {
	forcedParallel(t)
	for _, typ := range []quant.Type{quant.Q8_0, quant.Q4_K, quant.F16} {
		f := synthModelFile(t, typ)
		var want []float32
		for _, threads := range []int{1, 2, 3} {
			pool := kernels.NewPool(threads)
			m, err := Load(f, Options{Layers: Range{0, 2}, Pool: pool})
			if err != nil {
				t.Fatal(err)
			}
			if m.layers[0].wqkv.Rows == 0 || m.layers[0].wGateUp.Rows == 0 {
				t.Fatalf("%v: q/k/v or gate/up not joined", typ)
			}
			got := prefillDecode(t, m)
			if want == nil {
				want = got
			} else if !sameBits(got, want) {
				t.Errorf("%v: %d threads give other bits than 1", typ, threads)
			}
			for i := range m.layers {
				m.layers[i].wqkv, m.layers[i].wGateUp = kernels.Matrix{}, kernels.Matrix{}
			}
			if got := prefillDecode(t, m); !sameBits(got, want) {
				t.Errorf("%v, %d threads: separate products give other bits than joined", typ, threads)
			}
			pool.Close()
		}
	}
}

// Forward's attention (keys transposed in the session cache, heads on
// several threads) must equal Attention, the form a verifier recomputes a
// recorded cell with, bit for bit.
func TestForwardAttentionMatchesAttention(t *testing.T) {
	forcedParallel(t)
	f := synthModelFile(t, quant.Q8_0)
	pool := kernels.NewPool(2)
	defer pool.Close()
	m, err := Load(f, Options{Layers: Range{0, 2}, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	cfg := m.Config
	s, _ := m.NewSession(32)
	var tr Trace
	steps := [][2]int{{0, 5}, {5, 1}, {6, 17}} // a cache that grows twice
	var ks, vs [2][]float32
	for _, st := range steps {
		h := make([]float32, st[1]*cfg.Dim)
		for i := range h {
			h[i] = float32(math.Cos(float64(i+st[0])*0.11)) * 3
		}
		if err := m.ForwardTrace(s, st[0], h, st[1], &tr); err != nil {
			t.Fatal(err)
		}
		for li := 0; li < 2; li++ {
			for p := st[0]; p < st[0]+st[1]; p++ {
				c, _ := tr.Cell(li, p)
				ks[li] = append(ks[li], c.K...)
				vs[li] = append(vs[li], c.V...)
				out := make([]float32, len(c.Att))
				Attention(out, c.Q, ks[li], vs[li], p+1, cfg, make([]float32, p+1))
				if !sameBits(out, c.Att) {
					t.Fatalf("layer %d position %d: Forward's attention differs from Attention", li, p)
				}
			}
		}
	}
}

// The parallel paths allocate nothing per decode step either, traced or not.
func TestParallelDecodeAllocatesNothing(t *testing.T) {
	forcedParallel(t)
	f := synthModelFile(t, quant.Q8_0)
	pool := kernels.NewPool(2)
	defer pool.Close()
	m, err := Load(f, Options{Layers: Range{0, 2}, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	// A node records a trace of every call it will be audited on: the
	// traced step must not allocate either (a Trace is reused).
	for _, tr := range []*Trace{nil, new(Trace)} {
		s, _ := m.NewSession(64)
		h := make([]float32, m.Config.Dim)
		pos := 0
		step := func() {
			if err := m.ForwardTrace(s, pos, h, 1, tr); err != nil {
				t.Fatal(err)
			}
			pos++
		}
		for range 20 {
			step()
		}
		if n := testing.AllocsPerRun(10, step); n > 0 {
			t.Fatalf("a decode step (traced: %v) allocates %.1f times", tr != nil, n)
		}
	}
}

// Load's packed copy of the weights may store Q4_K, Q8_0 and Q4_0 rows
// interleaved (for the AVX-512 kernels); the parts of joined matrices must keep that mark,
// and the hidden states must be those of the file's own rows, bit for bit.
func TestPackedLayoutSameBits(t *testing.T) {
	for _, typ := range []quant.Type{quant.Q4_K, quant.Q8_0, quant.Q4_0} {
		f := synthModelFile(t, typ)
		pool := kernels.NewPool(2)
		m, err := Load(f, Options{Layers: Range{0, 2}, Pool: pool})
		if err != nil {
			t.Fatal(err)
		}
		l := &m.layers[0]
		if kernels.Level() == "avx512" && !l.wqkv.Interleaved() {
			t.Errorf("%v at avx512: packed q/k/v not interleaved", typ)
		}
		for _, w := range []kernels.Matrix{l.wq, l.wk, l.wv} {
			if w.Interleaved() != l.wqkv.Interleaved() {
				t.Errorf("%v: a part of q/k/v lost the joined matrix's layout", typ)
			}
		}
		for _, w := range []kernels.Matrix{l.wGate, l.wUp} {
			if w.Interleaved() != l.wGateUp.Interleaved() {
				t.Errorf("%v: a part of gate/up lost the joined matrix's layout", typ)
			}
		}
		packed := prefillDecode(t, m)
		// The same layers computed from the file's rows, one matrix at a time.
		ld := &loader{f: f}
		for i := range m.layers {
			l := &m.layers[i]
			p := fmt.Sprintf("blk.%d.", i)
			for _, w := range []struct {
				dst  *kernels.Matrix
				name string
			}{{&l.wq, "attn_q"}, {&l.wk, "attn_k"}, {&l.wv, "attn_v"}, {&l.wo, "attn_output"}, {&l.wGate, "ffn_gate"}, {&l.wUp, "ffn_up"}, {&l.wDown, "ffn_down"}} {
				*w.dst = ld.matrix(p+w.name+".weight", w.dst.Rows, w.dst.Cols)
			}
			l.wqkv, l.wGateUp = kernels.Matrix{}, kernels.Matrix{}
		}
		if ld.err != nil {
			t.Fatal(ld.err)
		}
		if got := prefillDecode(t, m); !sameBits(got, packed) {
			t.Errorf("%v: packed weights give other bits than the file's rows", typ)
		}
		pool.Close()
	}
}
