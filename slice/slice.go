// Package slice splits a GGUF model into per-range files that nodes can
// download and serve on their own (DESIGN.md section 4).
//
// Write makes one file per layer range and one client file:
//
//	<base>.client.gguf        every tensor outside the layers (token_embd,
//	                          output_norm, output, rope_freqs …)
//	<base>.layers-A-B.gguf    the tensors blk.A.* … blk.(B-1).*, plus
//	                          rope_freqs.weight if the model has one
//
// A-B is the half-open range [A, B), as in the CLI's "A:B" (layers-0-8 holds
// layers 0 to 7). Every file carries all of the source's metadata (the
// tokenizer included: a node needs the vocabulary size, and it is small),
// the commitments of the whole model and its own place in it (package
// commit: tessera.commit.*, tessera.slice.*), so commit.Of checks any file
// on its own. Layer indices stay global (a slice of layers 8:16 holds
// blk.8.* …, and llama.block_count stays the whole model's), so model.Load
// loads a slice with the same Range as the whole file.
package slice

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/merkle"
	"github.com/tessera-net/tessera/model"
)

// RopeFreqs is the name of the optional RoPE frequency-factor tensor
// (Llama 3.1+), which every layer needs and each layer slice therefore
// carries.
const RopeFreqs = "rope_freqs.weight"

// Phase is the stage of Write that a Progress report is about.
type Phase int

const (
	// Hashing: computing the source's commitments (skipped when
	// Options.Commitments is given).
	Hashing Phase = iota
	// Writing: copying tensors into the slice files.
	Writing
)

func (p Phase) String() string {
	if p == Hashing {
		return "hashing"
	}
	return "writing"
}

// Progress is one progress report: Done of Total bytes of the phase, and
// while writing, the file being written.
type Progress struct {
	Phase       Phase
	Done, Total int64
	File        string
}

// Options configure Write.
type Options struct {
	// Base is the first part of every file name ("<Base>.client.gguf");
	// "model" if empty. Callers usually pass the source's file name
	// without its extension.
	Base string
	// Commitments of the source, if already computed by commit.Compute;
	// nil computes them (reading the whole source once more). They are
	// checked for consistency with the source's shape and metadata, not
	// re-hashed.
	Commitments *commit.Commitments
	// Progress, if set, receives progress reports, one at a time.
	Progress func(Progress)
}

// Written describes one file written by Write.
type Written struct {
	Path    string
	Slice   commit.Slice // the layers it holds and whether it is the client file
	Tensors int
	Bytes   int64 // file size
}

// FileName returns the name of the file holding slice s of a model:
// <base>.client.gguf, <base>.layers-A-B.gguf (layers [A, B)), or
// <base>.client.layers-A-B.gguf for both.
func FileName(base string, s commit.Slice) string {
	switch {
	case s.Layers.Len() == 0:
		return base + ".client.gguf"
	case s.Client:
		return fmt.Sprintf("%s.client.layers-%d-%d.gguf", base, s.Layers.First, s.Layers.Last)
	}
	return fmt.Sprintf("%s.layers-%d-%d.gguf", base, s.Layers.First, s.Layers.Last)
}

// Ranges parses a comma-separated list of layer ranges such as
// "0:8,8:16,16:22" (spaces around items allowed). It checks only the
// syntax and that each range is non-empty; Validate checks a list
// against a model.
func Ranges(s string) ([]model.Range, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("slice: no layer ranges given (want a list like 0:8,8:16)")
	}
	var out []model.Range
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		a, b, ok := strings.Cut(item, ":")
		first, err1 := strconv.Atoi(a)
		last, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || a[0] == '+' || b[0] == '+' {
			return nil, fmt.Errorf("slice: layer range %q is not of the form first:last (e.g. 0:8)", item)
		}
		r := model.Range{First: first, Last: last}
		if first < 0 || last <= first {
			return nil, fmt.Errorf("slice: layer range %s is empty or negative (want first < last, both ≥ 0)", r)
		}
		out = append(out, r)
	}
	return out, nil
}

// Validate checks that ranges are non-empty, lie within a model of the
// given number of layers, and are listed in order, each starting where the
// previous one ends, covering [0, layers) exactly. The error names the gap
// or overlap.
func Validate(ranges []model.Range, layers int) error {
	if len(ranges) == 0 {
		return errors.New("slice: no layer ranges given")
	}
	for _, r := range ranges {
		switch {
		case r.First < 0 || r.Last <= r.First:
			return fmt.Errorf("slice: layer range %s is empty or negative", r)
		case r.Last > layers:
			return fmt.Errorf("slice: layer range %s goes beyond the model's %d layers (0:%d)", r, layers, layers)
		}
	}
	for i := 1; i < len(ranges); i++ {
		if p, r := ranges[i-1], ranges[i]; r.First < p.First {
			return fmt.Errorf("slice: ranges must be listed in order: %s comes after %s", r, p)
		}
	}
	if f := ranges[0].First; f != 0 {
		return fmt.Errorf("slice: layers 0:%d are in no range (the first range, %s, starts at %d)", f, ranges[0], f)
	}
	for i := 1; i < len(ranges); i++ {
		p, r := ranges[i-1], ranges[i]
		switch {
		case r.First < p.Last:
			return fmt.Errorf("slice: ranges %s and %s overlap on layers %d:%d", p, r, r.First, min(p.Last, r.Last))
		case r.First > p.Last:
			return fmt.Errorf("slice: layers %d:%d are in no range (a gap between %s and %s)", p.Last, r.First, p, r)
		}
	}
	if l := ranges[len(ranges)-1].Last; l != layers {
		return fmt.Errorf("slice: layers %d:%d are in no range (the last range, %s, ends at %d; the model has %d layers)",
			l, layers, ranges[len(ranges)-1], l, layers)
	}
	return nil
}

// layerBytes returns the bytes of each layer's tensors.
func layerBytes(f *gguf.File, layers int) ([]uint64, error) {
	sizes := make([]uint64, layers)
	for _, t := range f.Tensors {
		if i, ok := commit.LayerOf(t.Name); ok {
			if i >= layers {
				return nil, fmt.Errorf("slice: tensor %q belongs to layer %d, but the model has %d layers", t.Name, i, layers)
			}
			sizes[i] += t.Size
		}
	}
	return sizes, nil
}

// Balanced splits the layers of f into parts contiguous ranges whose bytes
// are as even as possible: it minimises the largest difference between a
// part's bytes and the mean (total/parts), so every part is within one
// layer's bytes of the mean whenever such a split exists (it always does
// when layers are of similar size). Among equally good splits, later
// ranges get the extra layers (10 equal layers in 3 parts: 0:3, 3:6, 6:10).
func Balanced(f *gguf.File, parts int) ([]model.Range, error) {
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("slice: %w", err)
	}
	if parts < 1 || parts > cfg.Layers {
		return nil, fmt.Errorf("slice: cannot split %d layers into %d parts (want 1 to %d)", cfg.Layers, parts, cfg.Layers)
	}
	sizes, err := layerBytes(f, cfg.Layers)
	if err != nil {
		return nil, err
	}
	return balance(sizes, parts), nil
}

// balance splits len(sizes) layers into parts contiguous non-empty ranges
// (1 <= parts <= len(sizes)), minimising the largest deviation
// |parts·bytes(range) − total| and, among such splits, the sum of squared
// deviations. Dynamic programming, O(parts · L²).
func balance(sizes []uint64, parts int) []model.Range {
	n := len(sizes)
	cum := make([]int64, n+1)
	for i, s := range sizes {
		cum[i+1] = cum[i] + int64(s)
	}
	total := cum[n]
	dev := func(i, j int) int64 { // |parts·bytes(i:j) − total|
		d := int64(parts)*(cum[j]-cum[i]) - total
		if d < 0 {
			return -d
		}
		return d
	}
	type cost struct {
		max int64
		sq  float64
	}
	less := func(a, b cost) bool { return a.max < b.max || (a.max == b.max && a.sq < b.sq) }
	const inf = int64(1<<63 - 1)
	// best[k][j]: the best split of layers [0, j) into k parts; from[k][j]
	// the start of the k-th part in it.
	best := make([][]cost, parts+1)
	from := make([][]int, parts+1)
	for k := range best {
		best[k] = make([]cost, n+1)
		from[k] = make([]int, n+1)
		for j := range best[k] {
			best[k][j] = cost{max: inf}
		}
	}
	best[0][0] = cost{}
	for k := 1; k <= parts; k++ {
		// The k-th part ends at j; leave at least one layer per later part.
		for j := k; j <= n-(parts-k); j++ {
			for i := k - 1; i < j; i++ {
				prev := best[k-1][i]
				if prev.max == inf {
					continue
				}
				d := dev(i, j)
				c := cost{max: max(prev.max, d), sq: prev.sq + float64(d)*float64(d)}
				if less(c, best[k][j]) {
					best[k][j], from[k][j] = c, i
				}
			}
		}
	}
	ranges := make([]model.Range, parts)
	j := n
	for k := parts; k >= 1; k-- {
		i := from[k][j]
		ranges[k-1] = model.Range{First: i, Last: j}
		j = i
	}
	return ranges
}

// chunk is the size of the pieces tensors are copied in, between progress
// reports.
const chunk = 4 << 20

// plan is one file to write.
type plan struct {
	slice   commit.Slice
	tensors []int // indices in f.Tensors, in source order
}

// Write writes one GGUF file per range of layers, plus a client file, into
// outDir (created if needed), and returns what it wrote: the client file
// first, then the ranges in order. ranges must satisfy Validate. Each file
// is written atomically (gguf.WriteFile); if Write fails part-way, the
// files it completed stay. The source must be a whole model, not a slice.
func Write(f *gguf.File, ranges []model.Range, outDir string, opts Options) ([]Written, error) {
	if _, ok := f.Lookup(commit.KeyModel); ok {
		return nil, errors.New("slice: the source is itself a slice (it has tessera.commit keys); slice the whole model")
	}
	if _, ok, _ := commit.ReadSlice(f); ok {
		return nil, errors.New("slice: the source is itself a slice (it has tessera.slice keys); slice the whole model")
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("slice: %w", err)
	}
	if err := Validate(ranges, cfg.Layers); err != nil {
		return nil, err
	}
	byLayer := make([][]int, cfg.Layers)
	var client []int
	rope := -1
	for k, t := range f.Tensors {
		i, ok := commit.LayerOf(t.Name)
		switch {
		case !ok:
			client = append(client, k)
			if t.Name == RopeFreqs {
				rope = k
			}
		case i >= cfg.Layers:
			return nil, fmt.Errorf("slice: tensor %q belongs to layer %d, but the model has %d layers", t.Name, i, cfg.Layers)
		default:
			byLayer[i] = append(byLayer[i], k)
		}
	}
	for i, ts := range byLayer {
		if len(ts) == 0 {
			return nil, fmt.Errorf("slice: layer %d of %d has no tensors", i, cfg.Layers)
		}
	}

	var c commit.Commitments
	if opts.Commitments != nil {
		c = *opts.Commitments
		if err := checkCommitments(f, cfg, c); err != nil {
			return nil, err
		}
	} else {
		var copts []commit.Option
		if opts.Progress != nil {
			copts = append(copts, commit.WithProgress(func(done, total int64) {
				opts.Progress(Progress{Phase: Hashing, Done: done, Total: total})
			}))
		}
		if c, err = commit.Compute(f, copts...); err != nil {
			return nil, err
		}
	}

	plans := []plan{{slice: commit.Slice{Client: true}, tensors: client}}
	for _, r := range ranges {
		p := plan{slice: commit.Slice{Layers: r}}
		if rope >= 0 {
			p.tensors = append(p.tensors, rope)
		}
		for k, t := range f.Tensors {
			if i, ok := commit.LayerOf(t.Name); ok && i >= r.First && i < r.Last {
				p.tensors = append(p.tensors, k)
			}
		}
		plans = append(plans, p)
	}
	var total int64
	for _, p := range plans {
		for _, k := range p.tensors {
			total += int64(f.Tensors[k].Size)
		}
	}

	base := opts.Base
	if base == "" {
		base = "model"
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("slice: %w", err)
	}
	var (
		written []Written
		done    int64
	)
	for _, p := range plans {
		path := filepath.Join(outDir, FileName(base, p.slice))
		b := gguf.NewBuilder()
		if err := b.CopyKV(f); err != nil {
			return written, fmt.Errorf("slice: %w", err)
		}
		if err := c.SetKV(b, p.slice); err != nil {
			return written, fmt.Errorf("slice: %w", err)
		}
		for _, k := range p.tensors {
			t := f.Tensors[k]
			name := t.Name
			err := b.AddTensor(name, t.Type, t.Dims, func(w io.Writer) error {
				data, err := f.TensorData(name)
				if err != nil {
					return err
				}
				for len(data) > 0 {
					n := min(len(data), chunk)
					if _, err := w.Write(data[:n]); err != nil {
						return err
					}
					data = data[n:]
					done += int64(n)
					if opts.Progress != nil {
						opts.Progress(Progress{Phase: Writing, Done: done, Total: total, File: path})
					}
				}
				return nil
			})
			if err != nil {
				return written, fmt.Errorf("slice: %w", err)
			}
		}
		if err := gguf.WriteFile(path, b); err != nil {
			return written, fmt.Errorf("slice: %w", err)
		}
		written = append(written, Written{Path: path, Slice: p.slice, Tensors: len(p.tensors), Bytes: b.Size()})
	}
	if opts.Progress != nil && total == 0 {
		opts.Progress(Progress{Phase: Writing, Done: 0, Total: 0})
	}
	return written, nil
}

// checkCommitments checks that commitments given by the caller fit f: its
// hyperparameters, layer count and client tensors. (The tensor bytes are not
// re-hashed.)
func checkCommitments(f *gguf.File, cfg model.Config, c commit.Commitments) error {
	if got := commit.ConfigHash(cfg); got != c.Config {
		return fmt.Errorf("slice: the given commitments are for other hyperparameters (config hash %s, the source's is %s)", commit.Short(c.Config), commit.Short(got))
	}
	if len(c.Layers) != cfg.Layers {
		return fmt.Errorf("slice: the given commitments have %d layers, the source %d", len(c.Layers), cfg.Layers)
	}
	var names []string
	for _, t := range f.Tensors {
		if _, ok := commit.LayerOf(t.Name); !ok {
			names = append(names, t.Name)
		}
	}
	if len(names) != len(c.ClientTensors) {
		return fmt.Errorf("slice: the given commitments cover %d client tensors, the source has %d", len(c.ClientTensors), len(names))
	}
	leaves := make([]commit.Hash, len(c.ClientTensors))
	for i, t := range c.ClientTensors {
		if _, ok := f.Tensor(t.Name); !ok {
			return fmt.Errorf("slice: the given commitments cover tensor %q, which the source lacks", t.Name)
		}
		leaves[i] = t.Digest
	}
	if merkle.Root(leaves) != c.Client || commit.ModelRoot(c.Config, c.Client, c.Layers) != c.Model {
		return fmt.Errorf("slice: the given commitments are inconsistent: %w", commit.ErrMismatch)
	}
	return nil
}
