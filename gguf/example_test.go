package gguf_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/quant"
)

// Build a small file in memory, then parse it back.
func Example() {
	b := gguf.NewBuilder()
	b.AddKV("general.architecture", gguf.StringValue("llama"))
	b.AddKV("llama.block_count", gguf.Uint32Value(2))
	b.AddKV("tokenizer.ggml.tokens", gguf.ArrayValue([]string{"<unk>", "<s>", "</s>"}))
	// A 2×4 f32 matrix (Dims in ggml order: row length first), streamed.
	b.AddTensor("token_embd.weight", quant.F32, []uint64{4, 2}, func(w io.Writer) error {
		_, err := w.Write(make([]byte, 2*4*4))
		return err
	})
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		log.Fatal(err)
	}

	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	n, _ := f.Uint("llama.block_count")
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	t, _ := f.Tensor("token_embd.weight")
	data, _ := f.TensorData("token_embd.weight")
	fmt.Println(f.Version, f.Architecture(), n, toks)
	fmt.Println(t.Name, t.Dims, t.Type, t.Size, len(data))
	_, err = f.String("general.name")
	fmt.Println(err)
	// Output:
	// 3 llama 2 [<unk> <s> </s>]
	// token_embd.weight [4 2] f32 32 32
	// gguf: key "general.name": key not found
}

func ExampleOpen() {
	f, err := gguf.Open("../models/kjv-tiny-q8_0.gguf")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	dim, _ := f.Uint("llama.embedding_length")
	q, _ := f.Tensor("blk.0.attn_q.weight")
	fmt.Println(f.Architecture(), dim, q.Dims, q.Type)
	// Output: llama 256 [256 256] q8_0
}

// Write the first layer of a model, with its metadata, to a new file.
func ExampleBuilder_CopyKV() {
	f, err := gguf.Open("../models/kjv-tiny-f32.gguf")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	b := gguf.NewBuilder()
	if err := b.CopyKV(f); err != nil {
		log.Fatal(err)
	}
	b.SetKV("llama.block_count", gguf.Uint32Value(1))
	for _, t := range f.Tensors {
		if strings.HasPrefix(t.Name, "blk.0.") {
			if err := b.CopyTensor(f, t.Name); err != nil {
				log.Fatal(err)
			}
		}
	}
	// gguf.WriteFile(path, b) would write it atomically; here, to memory.
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		log.Fatal(err)
	}
	g, _ := gguf.Parse(buf.Bytes())
	n, _ := g.Uint("llama.block_count")
	fmt.Println(n, len(g.Tensors), len(g.KV) == len(f.KV))
	// Output: 1 9 true
}
