package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/synth"
)

func newSynthCmd() *cobra.Command {
	var (
		c        synth.Config
		typeName string
	)
	cmd := &cobra.Command{
		Use:   "synth OUT.gguf",
		Short: "Write a random-weight model of any shape and quantisation",
		Long: `Write a random-weight llama-family model as a real GGUF file (loadable by
other GGUF engines too). Its speed and memory equal a trained model of the
same shape; its text is noise. The defaults make a 1B-class shape.`,
		Example: `  tessera model synth --type q8_0 synth-1b-q8_0.gguf
  tessera model synth --dim 4096 --layers 32 --heads 32 --kv-heads 8 --ff 14336 --vocab 128256 --type q4_k synth-8b-q4_k.gguf`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := quant.ParseType(typeName)
			if err != nil {
				return err
			}
			c.Type = t
			start := time.Now()
			if err := synth.WriteFile(args[0], c); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, dim %d, %d layers, %s) in %.1fs\n", args[0], c.Arch, c.Dim, c.Layers, t, time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Arch, "arch", "llama", "architecture: llama, mistral or qwen2")
	f.IntVar(&c.Dim, "dim", 2048, "embedding length")
	f.IntVar(&c.Layers, "layers", 16, "transformer blocks")
	f.IntVar(&c.Heads, "heads", 32, "attention heads")
	f.IntVar(&c.KVHeads, "kv-heads", 8, "key/value heads (GQA)")
	f.IntVar(&c.FF, "ff", 8192, "feed-forward length")
	f.IntVar(&c.Vocab, "vocab", 32000, "vocabulary size")
	f.IntVar(&c.ContextLen, "context", 2048, "context length")
	f.StringVar(&typeName, "type", "q8_0", "weight type: f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q5_k q6_k")
	f.Uint64Var(&c.Seed, "seed", 1, "random seed (same seed, same file)")
	return cmd
}
