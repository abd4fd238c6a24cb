// Package model computes llama-family transformers from GGUF weights: the
// token embedding, any contiguous range of transformer layers with a
// per-session KV cache, and the output head. The three parts are separate so
// that a client can hold the embedding and head while nodes hold layer
// ranges; running layers [0,a) then [a,L) gives bit-identical results to
// running [0,L).
package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/tessera-net/tessera/gguf"
)

// Config holds the hyperparameters of a llama-family model.
type Config struct {
	Arch       string // general.architecture: llama, mistral, qwen2
	Dim        int    // embedding length
	Layers     int    // block count
	Heads      int    // attention heads
	KVHeads    int    // key/value heads (GQA when < Heads)
	HeadDim    int    // Dim / Heads
	FF         int    // feed-forward (SwiGLU hidden) length
	Vocab      int    // vocabulary size (rows of the embedding)
	ContextLen int    // trained context length

	NormEps   float32 // RMSNorm epsilon
	RopeDim   int     // dimensions rotated per head
	RopeBase  float64 // RoPE frequency base (theta)
	RopeScale float64 // position multiplier: 1/factor for linear scaling
	RopeNeox  bool    // rotate (i, i+d/2) pairs instead of (2i, 2i+1)
	QKVBias   bool    // q/k/v projections carry biases (qwen2)
}

// KVDim is the length of one position's key (or value) vector.
func (c Config) KVDim() int { return c.KVHeads * c.HeadDim }

// archTraits are the differences between supported architectures.
var archTraits = map[string]struct{ neox, qkvBias bool }{
	"llama":   {false, false},
	"mistral": {false, false},
	"qwen2":   {true, true},
}

// ErrUnsupportedArch is returned for architectures the engine cannot run.
var ErrUnsupportedArch = errors.New("model: unsupported architecture")

// ConfigFromGGUF reads the hyperparameters from GGUF metadata.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	arch := f.Architecture()
	traits, ok := archTraits[arch]
	if !ok {
		return Config{}, fmt.Errorf("%w %q (supported: llama, mistral, qwen2)", ErrUnsupportedArch, arch)
	}
	c := Config{Arch: arch, RopeNeox: traits.neox, QKVBias: traits.qkvBias, RopeScale: 1}
	req := func(key string, dst *int) error {
		v, err := f.Uint(arch + "." + key)
		if err != nil {
			return fmt.Errorf("model: %w", err)
		}
		if v == 0 || v > 1<<24 {
			return fmt.Errorf("model: %s.%s = %d is out of range", arch, key, v)
		}
		*dst = int(v)
		return nil
	}
	for _, p := range []struct {
		key string
		dst *int
	}{
		{"embedding_length", &c.Dim},
		{"block_count", &c.Layers},
		{"attention.head_count", &c.Heads},
		{"feed_forward_length", &c.FF},
	} {
		if err := req(p.key, p.dst); err != nil {
			return Config{}, err
		}
	}
	c.KVHeads = c.Heads
	if _, ok := f.Lookup(arch + ".attention.head_count_kv"); ok {
		if err := req("attention.head_count_kv", &c.KVHeads); err != nil {
			return Config{}, err
		}
	}
	if c.Dim%c.Heads != 0 || c.Heads%c.KVHeads != 0 {
		return Config{}, fmt.Errorf("model: dim %d, heads %d, kv heads %d do not divide evenly", c.Dim, c.Heads, c.KVHeads)
	}
	c.HeadDim = c.Dim / c.Heads
	if _, ok := f.Lookup(arch + ".attention.key_length"); ok {
		if err := req("attention.key_length", &c.HeadDim); err != nil {
			return Config{}, err
		}
	}
	c.ContextLen = 2048
	if _, ok := f.Lookup(arch + ".context_length"); ok {
		if err := req("context_length", &c.ContextLen); err != nil {
			return Config{}, err
		}
	}
	c.RopeDim = c.HeadDim
	if _, ok := f.Lookup(arch + ".rope.dimension_count"); ok {
		if err := req("rope.dimension_count", &c.RopeDim); err != nil {
			return Config{}, err
		}
	}
	if c.RopeDim > c.HeadDim || c.RopeDim%2 != 0 {
		return Config{}, fmt.Errorf("model: rope dimension %d invalid for head dim %d", c.RopeDim, c.HeadDim)
	}
	c.NormEps = 1e-5
	if v, err := f.Float(arch + ".attention.layer_norm_rms_epsilon"); err == nil {
		c.NormEps = float32(v)
	}
	c.RopeBase = 10000
	if v, err := f.Float(arch + ".rope.freq_base"); err == nil {
		c.RopeBase = v
	}
	if kind, err := f.String(arch + ".rope.scaling.type"); err == nil {
		switch kind {
		case "none":
		case "linear":
			factor, err := f.Float(arch + ".rope.scaling.factor")
			if err != nil || factor <= 0 {
				return Config{}, fmt.Errorf("model: linear rope scaling needs a positive %s.rope.scaling.factor", arch)
			}
			c.RopeScale = 1 / factor
		default:
			return Config{}, fmt.Errorf("model: rope scaling %q is not supported (supported: none, linear, and Llama 3 frequency factors in rope_freqs.weight)", kind)
		}
	}
	if v, err := f.Float(arch + ".rope.scale_linear"); err == nil && v > 0 {
		c.RopeScale = 1 / v
	}
	switch t, ok := f.Tensor("token_embd.weight"); {
	case ok && len(t.Dims) == 2:
		c.Vocab = int(t.Dims[1])
	case ok:
		return Config{}, fmt.Errorf("model: token_embd.weight has shape %v, want a matrix", t.Dims)
	default:
		// A layer slice holds no embedding; the vocabulary still sizes the head.
		if toks, err := f.Strings("tokenizer.ggml.tokens"); err == nil && len(toks) > 0 {
			c.Vocab = len(toks)
		} else if v, err := f.Uint(arch + ".vocab_size"); err == nil && v > 0 && v <= 1<<24 {
			c.Vocab = int(v)
		} else {
			return Config{}, errors.New("model: vocabulary size unknown (no token_embd.weight, tokenizer.ggml.tokens or vocab_size)")
		}
	}
	if math.IsNaN(c.RopeBase) || c.RopeBase <= 1 {
		return Config{}, fmt.Errorf("model: rope freq base %v is invalid", c.RopeBase)
	}
	return c, nil
}
