// Package synth makes random-weight llama-family models of realistic shapes
// as real GGUF files, in any supported quantisation. Their speed and memory
// equal those of a trained model of the same shape (their text is noise);
// other GGUF engines load them too, so both can be measured side by side.
package synth

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/quant"
)

// Config is the shape and encoding of a synthetic model.
type Config struct {
	Arch       string     // llama, mistral or qwen2
	Dim        int        // embedding length
	Layers     int        // transformer blocks
	Heads      int        // attention heads
	KVHeads    int        // key/value heads; 0 = Heads
	FF         int        // feed-forward length
	Vocab      int        // vocabulary size (>= 259: 3 control + 256 byte tokens)
	ContextLen int        // 0 = 2048
	Type       quant.Type // type of the weight matrices (norms stay F32)
	Seed       uint64
}

// llama.cpp's general.file_type codes, so other tools describe the file right.
var fileTypes = map[quant.Type]uint32{
	quant.F32: 0, quant.F16: 1, quant.Q4_0: 2, quant.Q4_1: 3, quant.Q8_0: 7,
	quant.Q5_0: 8, quant.Q5_1: 9, quant.Q4_K: 15, quant.Q5_K: 17, quant.Q6_K: 18, quant.BF16: 32,
}

func (c *Config) normalize() error {
	if c.Arch == "" {
		c.Arch = "llama"
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.ContextLen == 0 {
		c.ContextLen = 2048
	}
	switch {
	case c.Arch != "llama" && c.Arch != "mistral" && c.Arch != "qwen2":
		return fmt.Errorf("synth: architecture %q not supported (llama, mistral, qwen2)", c.Arch)
	case c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.FF <= 0 || c.KVHeads <= 0:
		return fmt.Errorf("synth: dim, layers, heads, kv heads and ff must be positive")
	case c.Dim%c.Heads != 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("synth: dim %d / heads %d / kv heads %d do not divide evenly", c.Dim, c.Heads, c.KVHeads)
	case (c.Dim/c.Heads)%2 != 0:
		return fmt.Errorf("synth: head dim %d must be even for RoPE", c.Dim/c.Heads)
	case c.Vocab < 259:
		return fmt.Errorf("synth: vocab %d must be at least 259 (control and byte tokens)", c.Vocab)
	case !c.Type.IsSupported():
		return fmt.Errorf("synth: type %s not supported", c.Type)
	}
	bs := c.Type.BlockSize()
	if c.Dim%bs != 0 || c.FF%bs != 0 {
		return fmt.Errorf("synth: dim %d and ff %d must be multiples of %s's block of %d", c.Dim, c.FF, c.Type, bs)
	}
	return nil
}

// Builder returns a GGUF builder for the model; its tensor data is
// generated (in parallel, deterministically from the seed) while the file
// is written, so models larger than memory can be made.
func Builder(c Config) (*gguf.Builder, error) {
	if err := c.normalize(); err != nil {
		return nil, err
	}
	b := gguf.NewBuilder()
	a := c.Arch
	headDim := c.Dim / c.Heads
	kvs := []gguf.KeyValue{
		{Key: "general.architecture", Value: gguf.StringValue(a)},
		{Key: "general.name", Value: gguf.StringValue(fmt.Sprintf("synthetic %s dim %d x %d layers %s", a, c.Dim, c.Layers, c.Type))},
		{Key: "general.quantization_version", Value: gguf.Uint32Value(2)},
		{Key: "general.file_type", Value: gguf.Uint32Value(fileTypes[c.Type])},
		{Key: a + ".context_length", Value: gguf.Uint32Value(uint32(c.ContextLen))},
		{Key: a + ".embedding_length", Value: gguf.Uint32Value(uint32(c.Dim))},
		{Key: a + ".feed_forward_length", Value: gguf.Uint32Value(uint32(c.FF))},
		{Key: a + ".block_count", Value: gguf.Uint32Value(uint32(c.Layers))},
		{Key: a + ".attention.head_count", Value: gguf.Uint32Value(uint32(c.Heads))},
		{Key: a + ".attention.head_count_kv", Value: gguf.Uint32Value(uint32(c.KVHeads))},
		{Key: a + ".rope.dimension_count", Value: gguf.Uint32Value(uint32(headDim))},
		{Key: a + ".rope.freq_base", Value: gguf.Float32Value(10000)},
		{Key: a + ".attention.layer_norm_rms_epsilon", Value: gguf.Float32Value(1e-5)},
	}
	kvs = append(kvs, vocabulary(c.Vocab)...)
	for _, kv := range kvs {
		if err := b.AddKV(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}

	kvDim := c.KVHeads * headDim
	var tensorID uint64
	add := func(name string, t quant.Type, cols, rows int, fill filler) error {
		dims := []uint64{uint64(cols)}
		if rows > 1 {
			dims = append(dims, uint64(rows))
		}
		tensorID++
		id := tensorID
		return b.AddTensor(name, t, dims, func(w io.Writer) error {
			return writeTensor(w, t, rows, cols, fill, c.Seed, id)
		})
	}
	// Standard deviation 0.02 as in common initialisations keeps activations
	// finite through many layers; norms are ones, biases small.
	weights := gaussian(0.02)
	if err := add("token_embd.weight", c.Type, c.Dim, c.Vocab, gaussian(1)); err != nil {
		return nil, err
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		tensors := []struct {
			name       string
			t          quant.Type
			cols, rows int
			fill       filler
		}{
			{"attn_norm.weight", quant.F32, c.Dim, 1, constant(1)},
			{"attn_q.weight", c.Type, c.Dim, c.Dim, weights},
			{"attn_k.weight", c.Type, c.Dim, kvDim, weights},
			{"attn_v.weight", c.Type, c.Dim, kvDim, weights},
			{"attn_output.weight", c.Type, c.Dim, c.Dim, weights},
			{"ffn_norm.weight", quant.F32, c.Dim, 1, constant(1)},
			{"ffn_gate.weight", c.Type, c.Dim, c.FF, weights},
			{"ffn_up.weight", c.Type, c.Dim, c.FF, weights},
			{"ffn_down.weight", c.Type, c.FF, c.Dim, weights},
		}
		if a == "qwen2" {
			tensors = append(tensors, []struct {
				name       string
				t          quant.Type
				cols, rows int
				fill       filler
			}{
				{"attn_q.bias", quant.F32, c.Dim, 1, gaussian(0.02)},
				{"attn_k.bias", quant.F32, kvDim, 1, gaussian(0.02)},
				{"attn_v.bias", quant.F32, kvDim, 1, gaussian(0.02)},
			}...)
		}
		for _, t := range tensors {
			if err := add(p+t.name, t.t, t.cols, t.rows, t.fill); err != nil {
				return nil, err
			}
		}
	}
	if err := add("output_norm.weight", quant.F32, c.Dim, 1, constant(1)); err != nil {
		return nil, err
	}
	if err := add("output.weight", c.Type, c.Dim, c.Vocab, weights); err != nil {
		return nil, err
	}
	return b, nil
}

// WriteFile writes the model described by c to path atomically.
func WriteFile(path string, c Config) error {
	b, err := Builder(c)
	if err != nil {
		return err
	}
	return gguf.WriteFile(path, b)
}

// vocabulary is a SentencePiece-style ("llama") vocabulary: <unk>, <s>,
// </s>, the 256 byte tokens, then distinct filler pieces.
func vocabulary(n int) []gguf.KeyValue {
	tokens := make([]string, n)
	scores := make([]float32, n)
	types := make([]int32, n)
	tokens[0], tokens[1], tokens[2] = "<unk>", "<s>", "</s>"
	types[0], types[1], types[2] = 2, 3, 3
	for i := 0; i < 256; i++ {
		tokens[3+i] = fmt.Sprintf("<0x%02X>", i)
		types[3+i] = 6
	}
	for i := 259; i < n; i++ {
		tokens[i] = fmt.Sprintf("▁t%d", i)
		scores[i] = -float32(i)
		types[i] = 1
	}
	return []gguf.KeyValue{
		{Key: "tokenizer.ggml.model", Value: gguf.StringValue("llama")},
		{Key: "tokenizer.ggml.tokens", Value: gguf.ArrayValue(tokens)},
		{Key: "tokenizer.ggml.scores", Value: gguf.ArrayValue(scores)},
		{Key: "tokenizer.ggml.token_type", Value: gguf.ArrayValue(types)},
		{Key: "tokenizer.ggml.bos_token_id", Value: gguf.Uint32Value(1)},
		{Key: "tokenizer.ggml.eos_token_id", Value: gguf.Uint32Value(2)},
		{Key: "tokenizer.ggml.unknown_token_id", Value: gguf.Uint32Value(0)},
		{Key: "tokenizer.ggml.add_bos_token", Value: gguf.BoolValue(true)},
	}
}

// filler produces the values of one chunk of rows from its own stream.
type filler func(dst []float32, rng *rand.Rand)

func gaussian(std float64) filler {
	return func(dst []float32, rng *rand.Rand) {
		for i := range dst {
			dst[i] = float32(rng.NormFloat64() * std)
		}
	}
}

func constant(v float32) filler {
	return func(dst []float32, _ *rand.Rand) {
		for i := range dst {
			dst[i] = v
		}
	}
}

// chunkRows is the number of rows generated and quantised as one unit of
// parallel work; each chunk has its own random stream, so the output does
// not depend on the number of workers.
const chunkRows = 64

func writeTensor(w io.Writer, t quant.Type, rows, cols int, fill filler, seed, id uint64) error {
	rowBytes, err := t.RowBytes(cols)
	if err != nil {
		return err
	}
	chunks := (rows + chunkRows - 1) / chunkRows
	workers := max(1, runtime.NumCPU())
	bufs := make([][]byte, workers)
	vals := make([][]float32, workers)
	for i := range bufs {
		bufs[i] = make([]byte, chunkRows*rowBytes)
		vals[i] = make([]float32, chunkRows*cols)
	}
	for first := 0; first < chunks; first += workers {
		n := min(workers, chunks-first)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for k := 0; k < n; k++ {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				c := first + k
				r := min(chunkRows, rows-c*chunkRows)
				rng := rand.New(rand.NewPCG(seed^0x5eed, id<<32|uint64(c)))
				v := vals[k][:r*cols]
				fill(v, rng)
				errs[k] = quant.Quantize(t, bufs[k][:r*rowBytes], v)
			}(k)
		}
		wg.Wait()
		for k := 0; k < n; k++ {
			if errs[k] != nil {
				return errs[k]
			}
			r := min(chunkRows, rows-(first+k)*chunkRows)
			if _, err := w.Write(bufs[k][:r*rowBytes]); err != nil {
				return err
			}
		}
	}
	return nil
}
