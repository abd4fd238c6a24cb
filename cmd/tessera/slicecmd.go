package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/slice"
)

func newSliceCmd() *cobra.Command {
	var (
		rangesFlag string
		parts      int
		outDir     string
		base       string
	)
	cmd := &cobra.Command{
		Use:   "slice [FILE] (--ranges A:B,B:C,… | --parts N) --out DIR",
		Short: "Split a model into per-range layer files and a client file",
		Long: `Split a GGUF model into one file per range of layers, which a node can
download and serve on its own, and a client file holding the token
embedding, the final norm, the output head and the tokenizer.

Ranges are half-open, first:last, and must cover the model's layers in
order without gaps or overlaps (--ranges), or are chosen to balance the
bytes of N parts (--parts). Files are named
  <base>.client.gguf
  <base>.layers-A-B.gguf     (layers A to B-1)
where <base> is FILE's name without .gguf. Every file carries all of the
model's metadata, the commitments of the whole model (tensor, layer, client
and model commitments) and its own range, so any of them can be checked on
its own. Without FILE it slices the embedded kjv-tiny model.`,
		Example: `  tessera model slice model.gguf --ranges 0:8,8:16,16:22 --out slices/
  tessera model slice model.gguf --parts 3 --out slices/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			return runSlice(cmd.OutOrStdout(), cmd.ErrOrStderr(), path, rangesFlag, parts, outDir, base)
		},
	}
	f := cmd.Flags()
	f.StringVar(&rangesFlag, "ranges", "", "comma-separated layer ranges first:last, e.g. 0:8,8:16,16:22")
	f.IntVar(&parts, "parts", 0, "split into N ranges of balanced bytes")
	f.StringVar(&outDir, "out", "", "directory to write the files into (created if needed)")
	f.StringVar(&base, "base", "", "first part of the file names (default: FILE's name without .gguf)")
	cmd.MarkFlagsMutuallyExclusive("ranges", "parts")
	cmd.MarkFlagsOneRequired("ranges", "parts")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runSlice(stdout, stderr io.Writer, path, rangesFlag string, parts int, outDir, base string) error {
	f, name, err := openModelFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if base == "" {
		base = models.DefaultName
		if path != "" {
			base = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
	}
	if s, ok, _ := commit.ReadSlice(f); ok {
		return fmt.Errorf("%s is already a slice (%s) of a model; slice the whole model file", name, s)
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return err
	}
	var ranges []model.Range
	if rangesFlag != "" {
		if ranges, err = slice.Ranges(rangesFlag); err != nil {
			return err
		}
	} else if ranges, err = slice.Balanced(f, parts); err != nil {
		return err
	}
	// Check the ranges before the long hash of the whole model.
	if err := slice.Validate(ranges, cfg.Layers); err != nil {
		return err
	}

	start := time.Now()
	var total int64
	for _, t := range f.Tensors {
		total += int64(t.Size)
	}
	bar := newSliceBar(stderr, total, "hashing "+filepath.Base(name))
	c, err := commit.Compute(f, commit.WithProgress(func(done, _ int64) { _ = bar.Set64(done) }))
	_ = bar.Finish()
	if err != nil {
		return err
	}

	bar = nil
	written, err := slice.Write(f, ranges, outDir, slice.Options{
		Base:        base,
		Commitments: &c,
		Progress: func(p slice.Progress) {
			if bar == nil {
				bar = newSliceBar(stderr, p.Total, "writing")
			}
			bar.Describe("writing " + filepath.Base(p.File))
			_ = bar.Set64(p.Done)
		},
	})
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return err
	}
	printSliceSummary(stdout, f, written, c, outDir, time.Since(start))
	return nil
}

// newSliceBar is a byte-counting progress bar on w.
func newSliceBar(w io.Writer, total int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func printSliceSummary(w io.Writer, src *gguf.File, written []slice.Written, c commit.Commitments, outDir string, took time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "file\tlayers\ttensors\tbytes")
	var sum int64
	for _, x := range written {
		layers := x.Slice.Layers.String()
		if x.Slice.Client {
			layers = "client"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", filepath.Base(x.Path), layers, x.Tensors, humanBytes(uint64(x.Bytes)))
		sum += x.Bytes
	}
	tw.Flush()
	var srcBytes uint64
	for _, t := range src.Tensors {
		srcBytes += t.Size
	}
	fmt.Fprintf(w, "model commitment:  %s\n", commit.Hex(c.Model))
	fmt.Fprintf(w, "client commitment: %s\n", commit.Hex(c.Client))
	fmt.Fprintf(w, "wrote %d files, %s (weights of the model: %s) to %s in %.1fs\n",
		len(written), humanBytes(uint64(sum)), humanBytes(srcBytes), outDir, took.Seconds())
}
