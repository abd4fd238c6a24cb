package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/tokenizer"
)

// openModelFile opens path, or the model embedded in the binary when path
// is empty.
func openModelFile(path string) (*gguf.File, string, error) {
	if path == "" {
		f, err := models.Default()
		return f, models.DefaultName + " (embedded)", err
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("open model: %w", err)
	}
	return f, path, nil
}

// localModel is a whole model loaded in this process.
type localModel struct {
	file  *gguf.File
	name  string
	model *model.Model
	tok   *tokenizer.Tokenizer
	pool  *kernels.Pool
}

// loadLocalModel loads the tokenizer, the client parts and every layer.
func loadLocalModel(path string, threads int) (*localModel, error) {
	return loadModel(path, threads, true)
}

// loadClientModel loads only the tokenizer, embedding and head: the parts
// that stay with the user when layers run on nodes.
func loadClientModel(path string, threads int) (*localModel, error) {
	return loadModel(path, threads, false)
}

func loadModel(path string, threads int, allLayers bool) (*localModel, error) {
	f, name, err := openModelFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	pool := kernels.NewPool(threads)
	var layers model.Range
	if allLayers {
		layers = model.Range{First: 0, Last: cfg.Layers}
	}
	m, err := model.Load(f, model.Options{Layers: layers, Client: true, Pool: pool})
	if err != nil {
		pool.Close()
		f.Close()
		return nil, err
	}
	return &localModel{file: f, name: name, model: m, tok: tok, pool: pool}, nil
}

func (l *localModel) Close() {
	l.pool.Close()
	l.file.Close()
}

// modelCommitments computes f's commitments, or checks them for a slice
// file: it hashes every tensor the file holds, which reads the whole file
// and is most of a big model's load time. With progress set it shows a
// progress bar there (the slice command's).
func modelCommitments(f *gguf.File, path string, progress io.Writer) (commit.Commitments, error) {
	if progress == nil {
		return commit.Of(f)
	}
	var total int64
	for _, t := range f.Tensors {
		total += int64(t.Size)
	}
	name := models.DefaultName + " (embedded)"
	if path != "" {
		name = filepath.Base(path)
	}
	bar := newSliceBar(progress, total, "loading "+name)
	c, err := commit.Of(f, commit.WithProgress(func(done, _ int64) { _ = bar.Set64(done) }))
	_ = bar.Finish()
	return c, err
}

// terminal returns w if it is a terminal, else nil: progress bars redraw
// their line, which only a terminal shows as intended (a log file would
// keep every redraw).
func terminal(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}
