package main

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/tokenizer"
)

func newModelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Inspect, make, slice and download GGUF models",
	}
	cmd.AddCommand(newInspectCmd(), newSynthCmd(), newSliceCmd(), newPullCmd())
	return cmd
}

func newInspectCmd() *cobra.Command {
	var showTensors bool
	cmd := &cobra.Command{
		Use:   "inspect [FILE]",
		Short: "Show a model's architecture, tokenizer, tensors and bytes per layer",
		Long:  "Show a GGUF model's architecture, hyperparameters, tokenizer, tensor table and bytes per layer.\nWithout FILE it inspects the embedded kjv-tiny model.",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			f, name, err := openModelFile(path)
			if err != nil {
				return err
			}
			defer f.Close()
			return inspect(cmd.OutOrStdout(), f, name, showTensors)
		},
	}
	cmd.Flags().BoolVar(&showTensors, "tensors", true, "print the tensor table")
	return cmd
}

var layerTensor = regexp.MustCompile(`^blk\.(\d+)\.`)

func inspect(w io.Writer, f *gguf.File, name string, showTensors bool) error {
	fmt.Fprintf(w, "file:          %s (GGUF v%d, %d tensors, %d metadata keys)\n", name, f.Version, len(f.Tensors), len(f.KV))
	if n, err := f.String("general.name"); err == nil {
		fmt.Fprintf(w, "name:          %s\n", n)
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		fmt.Fprintf(w, "architecture:  %s (%v)\n", f.Architecture(), err)
	} else {
		fmt.Fprintf(w, "architecture:  %s\n", cfg.Arch)
		fmt.Fprintf(w, "dim %d, layers %d, heads %d, kv heads %d, head dim %d, ff %d, vocab %d, context %d\n",
			cfg.Dim, cfg.Layers, cfg.Heads, cfg.KVHeads, cfg.HeadDim, cfg.FF, cfg.Vocab, cfg.ContextLen)
		rope := "normal"
		if cfg.RopeNeox {
			rope = "neox"
		}
		fmt.Fprintf(w, "rope:          %s, %d dims, base %g, scale %g; rms eps %g\n", rope, cfg.RopeDim, cfg.RopeBase, cfg.RopeScale, cfg.NormEps)
	}
	if tok, err := tokenizer.FromGGUF(f); err != nil {
		fmt.Fprintf(w, "tokenizer:     none (%v)\n", err)
	} else {
		kind, _ := f.String("tokenizer.ggml.model")
		fmt.Fprintf(w, "tokenizer:     %s, %d tokens, bos %d, eos %d, add bos %v\n", kind, tok.VocabSize(), tok.BOS(), tok.EOS(), tok.AddBOS())
	}

	perLayer := map[int]uint64{}
	var other, total uint64
	for _, t := range f.Tensors {
		total += t.Size
		if m := layerTensor.FindStringSubmatch(t.Name); m != nil {
			i, _ := strconv.Atoi(m[1])
			perLayer[i] += t.Size
		} else {
			other += t.Size
		}
	}
	fmt.Fprintf(w, "weights:       %s in all; %s outside layers (embedding, norm, head)\n", humanBytes(total), humanBytes(other))
	layers := make([]int, 0, len(perLayer))
	for i := range perLayer {
		layers = append(layers, i)
	}
	sort.Ints(layers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tbytes")
	for _, i := range layers {
		fmt.Fprintf(tw, "%d\t%s\n", i, humanBytes(perLayer[i]))
	}
	tw.Flush()
	if showTensors {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "tensor\ttype\tshape\tbytes")
		for _, t := range f.Tensors {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\n", t.Name, t.Type, t.Dims, t.Size)
		}
		tw.Flush()
	}
	return nil
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
