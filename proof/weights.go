package proof

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/quant"
)

// Weights are a model's public weights, as held by a whole model file or a
// slice: what re-checking evidence and re-executing need. The file's
// tensors must match Commit (commit.Of checks that).
type Weights struct {
	File   *gguf.File
	Commit commit.Commitments
	Config model.Config
	Pool   *kernels.Pool

	freqs  []float32
	mu     sync.Mutex
	layers map[int]*layerWeights
	models map[model.Range]*model.Model
}

type layerWeights struct {
	params layerParams
	mats   [NumMats]kernels.Matrix
	bias   [NumMats][]float32
	deq    [NumMats][]float32 // dequantized rows, cached for small matrices
}

// ErrNoWeights is wrapped by the errors of checks that need layers the
// Weights do not hold (a slice of other layers): the evidence is neither
// proven nor refuted here, and whoever holds those layers can judge it.
var ErrNoWeights = errors.New("proof: the weights needed are not held")

// Holds reports whether the file holds every layer of r (a slice file
// holds its own range; commit.Of checked that it holds all of it).
func (w *Weights) Holds(r model.Range) bool {
	if r.First < 0 || r.Last > w.Config.Layers || r.First >= r.Last {
		return false
	}
	for i := r.First; i < r.Last; i++ {
		if _, ok := w.File.Tensor(fmt.Sprintf("blk.%d.attn_norm.weight", i)); !ok {
			return false
		}
	}
	return true
}

// deqCacheLimit bounds the values of a matrix kept dequantized.
const deqCacheLimit = 1 << 22

// NewWeights wraps an open model file whose commitments c were checked
// (commit.Of). pool runs the matrix products.
func NewWeights(f *gguf.File, c commit.Commitments, pool *kernels.Pool) (*Weights, error) {
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	if commit.ConfigHash(cfg) != c.Config {
		return nil, errors.New("proof: the commitments are not of this file's configuration")
	}
	w := &Weights{File: f, Commit: c, Config: cfg, Pool: pool, layers: map[int]*layerWeights{}, models: map[model.Range]*model.Model{}}
	if _, ok := f.Tensor("rope_freqs.weight"); ok {
		if w.freqs, err = tensorVector(f, "rope_freqs.weight", cfg.RopeDim/2); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Close releases the models loaded for re-execution.
func (w *Weights) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for r, m := range w.models {
		m.Close()
		delete(w.models, r)
	}
}

func (w *Weights) layer(i int) (*layerWeights, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if l, ok := w.layers[i]; ok {
		return l, nil
	}
	cfg := w.Config
	if i < 0 || i >= cfg.Layers {
		return nil, fmt.Errorf("proof: layer %d outside the model's %d layers", i, cfg.Layers)
	}
	if !w.Holds(model.Range{First: i, Last: i + 1}) {
		return nil, fmt.Errorf("%w: layer %d", ErrNoWeights, i)
	}
	l := &layerWeights{}
	var err error
	if l.params.attnNorm, err = tensorVector(w.File, fmt.Sprintf("blk.%d.attn_norm.weight", i), cfg.Dim); err != nil {
		return nil, fmt.Errorf("%w (does the file hold layer %d?)", err, i)
	}
	if l.params.ffnNorm, err = tensorVector(w.File, fmt.Sprintf("blk.%d.ffn_norm.weight", i), cfg.Dim); err != nil {
		return nil, err
	}
	for m := 0; m < NumMats; m++ {
		name := MatTensor(i, m)
		info, ok := w.File.Tensor(name)
		if !ok {
			return nil, fmt.Errorf("proof: tensor %s is missing", name)
		}
		rows, cols := matShape(cfg, m)
		if len(info.Dims) != 2 || info.Dims[0] != uint64(cols) || info.Dims[1] != uint64(rows) {
			return nil, fmt.Errorf("proof: tensor %s has shape %v", name, info.Dims)
		}
		data, err := w.File.TensorData(name)
		if err != nil {
			return nil, fmt.Errorf("proof: %w", err)
		}
		if l.mats[m], err = kernels.NewMatrix(info.Type, rows, cols, data); err != nil {
			return nil, fmt.Errorf("proof: %s: %w", name, err)
		}
		if cfg.QKVBias && (m == MatQ || m == MatK || m == MatV) {
			if l.bias[m], err = tensorVector(w.File, fmt.Sprintf("blk.%d.%s.bias", i, matTensors[m]), rows); err != nil {
				return nil, err
			}
		}
	}
	w.layers[i] = l
	return l, nil
}

// Model returns the layers r loaded from the file, for re-execution.
func (w *Weights) Model(r model.Range) (*model.Model, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m, ok := w.models[r]; ok {
		return m, nil
	}
	if !w.Holds(r) {
		return nil, fmt.Errorf("%w: layers %s", ErrNoWeights, r)
	}
	m, err := model.Load(w.File, model.Options{Layers: r, Pool: w.Pool})
	if err != nil {
		return nil, err
	}
	w.models[r] = m
	return m, nil
}

func (w *Weights) checker(tol Tolerances) *cellChecker {
	return &cellChecker{cfg: w.Config, freqs: w.freqs, tol: tol, ops: canonOps,
		mats: &weightMats{w: w},
		layer: func(i int) (layerParams, error) {
			l, err := w.layer(i)
			if err != nil {
				return layerParams{}, err
			}
			return l.params, nil
		}}
}

// weightMats checks y = W·x̂ (+ b) with the full product, computed in
// float64 from the dequantized weights and the activation converted
// exactly as the kernels convert it (for q4_1/q5_1 with the kernels'
// f16-rounded block sums), so the verdict does not depend on the machine:
// every product that meets an addition is rounded explicitly (float64(x*y))
// so that no compiler fuses it (see detmath.go).
//
// Its verdict is sound whatever the node's kernels: it compares each
// output's deviation with a worst-case bound on the float32 rounding of
// any implementation of the same arithmetic, B_i = 4·(n_b + 8)·2⁻²⁴·T_i
// (+ terms for the bias add and RoPE), where n_b is the row's number of
// blocks and T_i = Σ_b max_{j∈b}|W_ij| · Σ_{j∈b}|x̂_j| bounds the sum of
// the magnitudes the row adds up. An honest node never exceeds it; the
// residual is max(max_i |δ_i|/B_i, Σ_i|δ_i| / Σ_i B_i) and fails above 1.
type weightMats struct {
	w   *Weights
	a   activation
	row []float32
}

func (m *weightMats) limit() float64 { return 1 }

const eps32 = 1.0 / (1 << 24)

func (m *weightMats) residual(layer, mat int, x []float32, y []float64) (float64, error) {
	l, err := m.w.layer(layer)
	if err != nil {
		return 0, err
	}
	w := l.mats[mat]
	if len(x) != w.Cols || len(y) != w.Rows {
		return 0, fmt.Errorf("proof: layer %d %s: %d inputs and %d outputs for a %d×%d matrix", layer, MatName(mat), len(x), len(y), w.Rows, w.Cols)
	}
	m.a.compute(x, actOf(w.Type))
	rb, err := w.Type.RowBytes(w.Cols)
	if err != nil {
		return 0, err
	}
	if cap(m.row) < w.Cols {
		m.row = make([]float32, w.Cols)
	}
	row := m.row[:w.Cols]
	bs := w.Type.BlockSize()
	nb := w.Cols / bs
	bb := w.Type.BlockBytes()
	absX := make([]float64, nb) // Σ_{j∈b} |x̂_j|
	for j, v := range m.a.x {
		absX[j/bs] += math.Abs(v)
	}
	var ymax float64
	for _, v := range y {
		ymax = max(ymax, math.Abs(v))
	}
	rope := mat == MatQ || mat == MatK
	m.w.mu.Lock()
	cached := l.deq[mat]
	if cached == nil && w.Rows*w.Cols <= deqCacheLimit {
		cached = make([]float32, w.Rows*w.Cols)
		if err := quant.Dequantize(w.Type, cached, w.Data[:rb*w.Rows]); err != nil {
			m.w.mu.Unlock()
			return 0, err
		}
		l.deq[mat] = cached
	}
	m.w.mu.Unlock()
	var worst, dev, bound float64
	for i := 0; i < w.Rows; i++ {
		src := w.Data[i*rb : (i+1)*rb]
		if cached != nil {
			row = cached[i*w.Cols : (i+1)*w.Cols]
		} else if err := quant.Dequantize(w.Type, row, src); err != nil {
			return 0, err
		}
		var want, t float64
		for b := 0; b < nb; b++ {
			var wmax float64
			for j := b * bs; j < (b+1)*bs; j++ {
				want += float64(float64(row[j]) * m.a.x[j])
				wmax = max(wmax, math.Abs(float64(row[j])))
			}
			t += float64(wmax * absX[b])
		}
		for b, c := range m.a.corr {
			mn := float64(quant.FP16ToFP32(binary.LittleEndian.Uint16(src[b*bb+2:])))
			want += float64(mn * c)
			t += float64(math.Abs(mn) * absX[b])
		}
		bi := float64(4*float64(nb+8)*eps32*t) + float64(4*eps32*math.Abs(y[i])) + 1e-35
		if bias := l.bias[mat]; bias != nil {
			want += float64(bias[i])
			bi += float64(4 * eps32 * math.Abs(float64(bias[i])))
		}
		if rope {
			bi += float64(16 * eps32 * (math.Abs(y[i]) + ymax))
		}
		d := math.Abs(y[i] - want)
		worst = max(worst, d/bi)
		dev += d
		bound += bi
	}
	return max(worst, dev/bound), nil
}
