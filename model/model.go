package model

import (
	"errors"
	"fmt"
	"sync"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/quant"
)

// Range is a half-open range [First, Last) of transformer layers.
type Range struct{ First, Last int }

// Len is the number of layers in the range.
func (r Range) Len() int { return r.Last - r.First }

// String renders the range as "first:last", the form the CLI accepts.
func (r Range) String() string { return fmt.Sprintf("%d:%d", r.First, r.Last) }

// ParseRange parses "a:b" into Range{a, b}.
func ParseRange(s string) (Range, error) {
	var r Range
	if _, err := fmt.Sscanf(s, "%d:%d", &r.First, &r.Last); err != nil {
		return Range{}, fmt.Errorf("model: layer range %q is not of the form a:b", s)
	}
	if r.First < 0 || r.Last < r.First {
		return Range{}, fmt.Errorf("model: layer range %q is empty or negative", s)
	}
	return r, nil
}

// Options choose which parts of a model to load.
type Options struct {
	// Layers is the range of transformer layers to load; the zero Range
	// loads none.
	Layers Range
	// Client loads the token embedding, final norm and output head.
	Client bool
	// Pool runs the matrix kernels; nil makes a pool of runtime.NumCPU threads
	// owned (and closed) by the model.
	Pool *kernels.Pool
}

// Model holds the weights of the loaded parts of a model. Its methods are
// safe for concurrent use; forward passes are serialised because each one
// already uses every core through the kernel pool.
type Model struct {
	Config Config
	Range  Range
	Client bool

	pool     *kernels.Pool
	ownsPool bool

	embed      kernels.Matrix
	outputNorm []float32
	head       kernels.Matrix
	layers     []layer
	ropeFreqs  []float32 // optional per-pair divisors (Llama 3.1+)
	// weights holds the matrices a decode step streams (packWeights).
	weights *kernels.Weights

	mu      sync.Mutex
	scratch scratch
	par     parJobs
}

type layer struct {
	attnNorm, ffnNorm []float32
	wq, wk, wv, wo    kernels.Matrix
	bq, bk, bv        []float32
	wGate, wUp, wDown kernels.Matrix
	// wqkv holds wq, wk and wv one after the other when they share a type
	// (one product gives all three; Rows is 0 otherwise), and wGateUp
	// wGate and wUp likewise.
	wqkv, wGateUp kernels.Matrix
}

// Load reads the parts of the model chosen by opts from f. The file may be a
// whole model or a slice that holds only the requested parts; tensors of
// layers outside opts.Layers are never touched.
func Load(f *gguf.File, opts Options) (*Model, error) {
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	if opts.Layers.First < 0 || opts.Layers.Last > cfg.Layers || opts.Layers.Last < opts.Layers.First {
		return nil, fmt.Errorf("model: layer range %s outside the model's %d layers", opts.Layers, cfg.Layers)
	}
	m := &Model{Config: cfg, Range: opts.Layers, Client: opts.Client, pool: opts.Pool}
	ld := loader{f: f}
	if opts.Client {
		m.embed = ld.matrix("token_embd.weight", cfg.Vocab, cfg.Dim)
		m.outputNorm = ld.vector("output_norm.weight", cfg.Dim)
		if _, ok := f.Tensor("output.weight"); ok {
			m.head = ld.matrix("output.weight", cfg.Vocab, cfg.Dim)
		} else {
			m.head = m.embed // tied embeddings
		}
	}
	if opts.Layers.Len() > 0 {
		if _, ok := f.Tensor("rope_freqs.weight"); ok {
			m.ropeFreqs = ld.vector("rope_freqs.weight", cfg.RopeDim/2)
		}
	}
	kvDim := cfg.KVDim()
	qDim := cfg.Heads * cfg.HeadDim
	for i := opts.Layers.First; i < opts.Layers.Last; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		l := layer{
			attnNorm: ld.vector(p+"attn_norm.weight", cfg.Dim),
			wq:       ld.matrix(p+"attn_q.weight", qDim, cfg.Dim),
			wk:       ld.matrix(p+"attn_k.weight", kvDim, cfg.Dim),
			wv:       ld.matrix(p+"attn_v.weight", kvDim, cfg.Dim),
			wo:       ld.matrix(p+"attn_output.weight", cfg.Dim, qDim),
			ffnNorm:  ld.vector(p+"ffn_norm.weight", cfg.Dim),
			wGate:    ld.matrix(p+"ffn_gate.weight", cfg.FF, cfg.Dim),
			wUp:      ld.matrix(p+"ffn_up.weight", cfg.FF, cfg.Dim),
			wDown:    ld.matrix(p+"ffn_down.weight", cfg.Dim, cfg.FF),
		}
		if cfg.QKVBias {
			l.bq = ld.vector(p+"attn_q.bias", qDim)
			l.bk = ld.vector(p+"attn_k.bias", kvDim)
			l.bv = ld.vector(p+"attn_v.bias", kvDim)
		}
		m.layers = append(m.layers, l)
	}
	if ld.err != nil {
		return nil, ld.err
	}
	if err := m.packWeights(f); err != nil {
		return nil, err
	}
	if m.pool == nil {
		m.pool = kernels.NewPool(0)
		m.ownsPool = true
	}
	return m, nil
}

// Close releases the kernel pool if the model created it.
func (m *Model) Close() {
	if m.ownsPool {
		m.pool.Close()
	}
}

// Pool returns the kernel pool the model computes with.
func (m *Model) Pool() *kernels.Pool { return m.pool }

// WeightBytes is the number of weight bytes read by one decode step through
// the loaded layers (plus the head when the client parts are loaded).
func (m *Model) WeightBytes() int64 {
	var n int64
	for _, l := range m.layers {
		for _, w := range []kernels.Matrix{l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown} {
			n += int64(len(w.Data))
		}
	}
	if m.Client {
		n += int64(len(m.head.Data))
	}
	return n
}

// WeightMemory returns the memory holding the matrices a decode step
// streams (WeightBytes of them, each padded to a cache line), in the
// order a forward pass reads them: what a read-bandwidth probe of decode's
// roofline should read (kernels.NewReadProbeOver). It must not be written.
func (m *Model) WeightMemory() []byte { return m.weights.Memory() }

// packWeights copies the matrices a decode step streams (every layer's
// and the head) into one kernels.Weights, in the order a forward pass
// reads them, joining q/k/v and gate/up where their types match, and lets
// the file's pages go: the copy is backed by huge pages where the OS has
// them, which streams much faster than the file mapping (see
// kernels.Weights), and the process keeps one copy resident, not two.
func (m *Model) packWeights(f *gguf.File) error {
	var lens []int
	for i := range m.layers {
		l := &m.layers[i]
		for _, w := range []kernels.Matrix{l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown} {
			lens = append(lens, len(w.Data))
		}
	}
	if m.Client {
		lens = append(lens, len(m.head.Data))
	}
	ws := kernels.NewWeights(kernels.WeightsSize(lens...))
	m.weights = ws
	add := func(dst *kernels.Matrix, ms ...*kernels.Matrix) error {
		var src []kernels.Matrix
		for _, w := range ms {
			src = append(src, *w)
		}
		joined, err := ws.Add(src...)
		if err != nil {
			return fmt.Errorf("model: pack weights: %w", err)
		}
		*dst = joined
		// The parts are views of the joined copy, in its layout (which
		// may interleave rows: NewMatrix on its bytes would misread them).
		first := 0
		for _, w := range ms {
			if *w, err = joined.RowRange(first, w.Rows); err != nil {
				return fmt.Errorf("model: pack weights: %w", err)
			}
			first += w.Rows
		}
		return nil
	}
	// join adds ms as one matrix if they share type and width, else one
	// by one; it returns the joined matrix (Rows 0 if not joined).
	join := func(ms ...*kernels.Matrix) (kernels.Matrix, error) {
		for _, w := range ms[1:] {
			if w.Type != ms[0].Type || w.Cols != ms[0].Cols {
				for _, w := range ms {
					var one kernels.Matrix
					if err := add(&one, w); err != nil {
						return kernels.Matrix{}, err
					}
				}
				return kernels.Matrix{}, nil
			}
		}
		var joined kernels.Matrix
		err := add(&joined, ms...)
		return joined, err
	}
	for i := range m.layers {
		l := &m.layers[i]
		var err error
		if l.wqkv, err = join(&l.wq, &l.wk, &l.wv); err != nil {
			return err
		}
		var wo kernels.Matrix
		if err := add(&wo, &l.wo); err != nil {
			return err
		}
		if l.wGateUp, err = join(&l.wGate, &l.wUp); err != nil {
			return err
		}
		var down kernels.Matrix
		if err := add(&down, &l.wDown); err != nil {
			return err
		}
		p := fmt.Sprintf("blk.%d.", m.Range.First+i)
		for _, n := range []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"} {
			f.Release(p + n + ".weight")
		}
	}
	if m.Client {
		var head kernels.Matrix
		if err := add(&head, &m.head); err != nil {
			return err
		}
		// With tied embeddings the copy read the whole embedding; Embed
		// faults back in only the rows it looks up.
		if _, ok := f.Tensor("output.weight"); ok {
			f.Release("output.weight")
		} else {
			f.Release("token_embd.weight")
		}
	}
	return nil
}

// loader collects the first error so that Load reads as a list of tensors.
type loader struct {
	f   *gguf.File
	err error
}

func (ld *loader) tensor(name string, wantDims ...int) (gguf.TensorInfo, []byte) {
	if ld.err != nil {
		return gguf.TensorInfo{}, nil
	}
	info, ok := ld.f.Tensor(name)
	if !ok {
		ld.err = fmt.Errorf("model: tensor %q is missing", name)
		return info, nil
	}
	if len(info.Dims) != len(wantDims) {
		ld.err = fmt.Errorf("model: tensor %q has shape %v, want %v", name, info.Dims, wantDims)
		return info, nil
	}
	for i, d := range wantDims {
		if info.Dims[i] != uint64(d) {
			ld.err = fmt.Errorf("model: tensor %q has shape %v, want %v", name, info.Dims, wantDims)
			return info, nil
		}
	}
	data, err := ld.f.TensorData(name)
	if err != nil {
		ld.err = fmt.Errorf("model: %w", err)
	}
	return info, data
}

func (ld *loader) matrix(name string, rows, cols int) kernels.Matrix {
	info, data := ld.tensor(name, cols, rows)
	if ld.err != nil {
		return kernels.Matrix{}
	}
	m, err := kernels.NewMatrix(info.Type, rows, cols, data)
	if err != nil {
		ld.err = fmt.Errorf("model: tensor %q: %w", name, err)
	}
	return m
}

func (ld *loader) vector(name string, n int) []float32 {
	info, data := ld.tensor(name, n)
	if ld.err != nil {
		return nil
	}
	v := make([]float32, n)
	if err := quant.Dequantize(info.Type, v, data); err != nil {
		ld.err = fmt.Errorf("model: tensor %q: %w", name, err)
	}
	return v
}

// ErrNotLoaded is returned when a method needs a part of the model that
// Load was not asked to load.
var ErrNotLoaded = errors.New("model: part not loaded")
