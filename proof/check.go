package proof

import (
	"fmt"
	"math"

	"github.com/tessera-net/tessera/model"
)

// The equations an audit checks for one cell (DESIGN section 5), in data
// flow order.
const (
	EqInput     = iota // the first layer's H is the receipt's input row
	EqX1               // X1 = RMSNorm(H)·attn_norm
	EqQ                // Freivalds: RoPE⁻¹(Q) = W_q·X̂1 (+ b_q)
	EqK                // Freivalds: RoPE⁻¹(K) = W_k·X̂1 (+ b_k)
	EqV                // Freivalds: V = W_v·X̂1 (+ b_v)
	EqAttention        // Att = attention(Q, K and V of positions 0..pos)
	EqO                // Freivalds: O = W_o·Âtt
	EqX2               // X2 = RMSNorm(H+O)·ffn_norm
	EqGate             // Freivalds: Gate = W_gate·X̂2
	EqUp               // Freivalds: Up = W_up·X̂2
	EqDown             // Freivalds: Down = W_down·(silu(Gate)⊙Up)^
	EqResidual         // the next layer's H (or the output row) = (H+O)+Down, exactly
	NumEqs
)

var eqNames = [NumEqs]string{"input", "x1", "q", "k", "v", "attention", "o", "x2", "gate", "up", "down", "residual"}

// EqName names equation e.
func EqName(e int) string {
	if e < 0 || e >= NumEqs {
		return fmt.Sprintf("eq%d", e)
	}
	return eqNames[e]
}

// eqOf maps a matrix to its equation.
var eqOfMat = [NumMats]int{EqQ, EqK, EqV, EqO, EqGate, EqUp, EqDown}

// Tolerances bound the deviations an honest node can show. See
// docs/proof-figures.md for how they were calibrated.
type Tolerances struct {
	// Freivalds bounds |r·y − s·x̂ − r·b| / (Σ|r_i y_i| + Σ|s_j x̂_j|).
	Freivalds float64
	// Norm bounds max|X − RMSNorm(·)·w| / max|RMSNorm(·)·w| for X1 and X2.
	Norm float64
	// Attention bounds max|Att − attention(…)| / max|attention(…)|.
	Attention float64
}

// DefaultTolerances were calibrated on honest runs (TestCalibration, and
// docs/proof-figures.md): over 26,376 honest matrix products of every
// supported weight type the largest Freivalds residual was 5.0e-8 (median
// 4.5e-9); 1e-6 leaves a margin of 20. The elementwise recomputations
// (norms, attention) are bit-exact on the node's architecture; 1e-5
// absorbs the fused multiply-adds other architectures may use.
var DefaultTolerances = Tolerances{Freivalds: 1e-6, Norm: 1e-5, Attention: 1e-5}

// Finding is a failed check: which equation of which cell, by how much.
type Finding struct {
	Equation   int
	Step       uint64
	Layer, Pos int
	Value      float64 // the measured deviation
	Limit      float64 // the tolerance it exceeded
	Detail     string
}

func (f *Finding) Error() string {
	s := fmt.Sprintf("proof: step %d layer %d position %d: equation %s fails: deviation %.3g > %.3g",
		f.Step, f.Layer, f.Pos, EqName(f.Equation), f.Value, f.Limit)
	if f.Detail != "" {
		s += " (" + f.Detail + ")"
	}
	return s
}

// CellData is what the checks of one cell read.
type CellData struct {
	Step       uint64
	Layer, Pos int
	Cell       *CellOpening // all vectors
	// NextH is the next layer's H at Pos (nil when Layer is the receipt's
	// last layer, or to skip EqResidual).
	NextH []float32
	// OutRow is the receipt's output row at Pos, checked when Layer is the
	// last layer (nil to skip).
	OutRow []float32
	// InRow is the receipt's input row at Pos, checked when Layer is the
	// first layer (nil to skip).
	InRow []float32
	// K and V hold positions 0..Pos (Pos+1 rows of KVDim); the last row
	// must be the cell's own K and V. Nil skips EqAttention.
	K, V  []float32
	DType uint8
}

// Residuals are the measured deviations of a cell's equations (-1: not
// checked). Audits keep the largest, which calibration reads.
type Residuals [NumEqs]float64

// matChecker checks y = W·x (+ b) for a layer's matrix m.
type matChecker interface {
	residual(layer, m int, x []float32, y []float64) (float64, error)
	limit() float64
}

// layerParams are the public parameters of a layer the checks need.
type layerParams struct {
	attnNorm, ffnNorm []float32
}

type cellChecker struct {
	cfg   model.Config
	freqs []float32
	tol   Tolerances
	ops   elementwise
	mats  matChecker
	layer func(i int) (layerParams, error)
}

// checkCell runs every check of d and returns the residuals and the
// first failing equation (nil if all pass). An error means the data is
// unusable (wrong shapes, missing key): neither pass nor fail.
func (cc *cellChecker) checkCell(d *CellData) (res Residuals, fail *Finding, err error) {
	for i := range res {
		res[i] = -1
	}
	cfg := cc.cfg
	c := d.Cell
	if c == nil || c.Mask != MaskAll {
		return res, nil, fmt.Errorf("proof: cell (%d, %d) is not fully opened", d.Layer, d.Pos)
	}
	for k := range c.Vecs {
		if len(c.Vecs[k]) != VecLen(cfg, k) {
			return res, nil, fmt.Errorf("proof: cell (%d, %d): vector %s has %d values", d.Layer, d.Pos, VecName(k), len(c.Vecs[k]))
		}
	}
	lp, err := cc.layer(d.Layer)
	if err != nil {
		return res, nil, err
	}
	v := &c.Vecs
	check := func(eq int, val, lim float64, detail string) {
		res[eq] = val
		if fail == nil && !(val <= lim) {
			fail = &Finding{Equation: eq, Step: d.Step, Layer: d.Layer, Pos: d.Pos, Value: val, Limit: lim, Detail: detail}
		}
	}
	exact := func(eq int, got, want []float32, what string) {
		for i := range want {
			if got[i] != want[i] || math.IsNaN(float64(got[i])) {
				check(eq, math.Abs(float64(got[i])-float64(want[i])), 0, fmt.Sprintf("%s differs at index %d: %v, want %v", what, i, got[i], want[i]))
				return
			}
		}
		check(eq, 0, 0, "")
	}
	if d.InRow != nil {
		if len(d.InRow) != cfg.Dim {
			return res, nil, fmt.Errorf("proof: input row of %d values", len(d.InRow))
		}
		exact(EqInput, v[VecH], d.InRow, "H of the first layer vs the receipt's input row")
	}
	dim := cfg.Dim
	x := make([]float32, max(dim, cfg.FF))
	ops := &cc.ops
	ops.rmsNorm(x[:dim], v[VecH], lp.attnNorm, cfg.NormEps)
	check(EqX1, relDev(v[VecX1], x[:dim]), cc.tol.Norm, "")

	cos, sin := ops.rope(cfg, cc.freqs, d.Pos)
	y := make([]float64, max(cfg.Heads*cfg.HeadDim, cfg.FF, dim))
	mat := func(m int, in []float32, out []float64) error {
		r, err := cc.mats.residual(d.Layer, m, in, out)
		if err != nil {
			return err
		}
		check(eqOfMat[m], r, cc.mats.limit(), "")
		return nil
	}
	qd, kvd := cfg.Heads*cfg.HeadDim, cfg.KVDim()
	unrope(y[:qd], v[VecQ], cfg, cfg.Heads, cos, sin)
	if err := mat(MatQ, v[VecX1], y[:qd]); err != nil {
		return res, nil, err
	}
	unrope(y[:kvd], v[VecK], cfg, cfg.KVHeads, cos, sin)
	if err := mat(MatK, v[VecX1], y[:kvd]); err != nil {
		return res, nil, err
	}
	if err := mat(MatV, v[VecX1], toF64(y[:0], v[VecV])); err != nil {
		return res, nil, err
	}
	if d.K != nil {
		t := d.Pos + 1
		if len(d.K) != t*kvd || len(d.V) != t*kvd {
			return res, nil, fmt.Errorf("proof: attention of position %d needs %d keys and values", d.Pos, t)
		}
		att := make([]float32, qd)
		ops.attention(att, v[VecQ], d.K, d.V, t, cfg)
		check(EqAttention, relDev(v[VecAtt], att), cc.tol.Attention, "")
	}
	if err := mat(MatO, v[VecAtt], toF64(y[:0], v[VecO])); err != nil {
		return res, nil, err
	}
	ho := make([]float32, dim)
	for i := range ho {
		ho[i] = v[VecH][i] + v[VecO][i]
	}
	ops.rmsNorm(x[:dim], ho, lp.ffnNorm, cfg.NormEps)
	check(EqX2, relDev(v[VecX2], x[:dim]), cc.tol.Norm, "")
	if err := mat(MatGate, v[VecX2], toF64(y[:0], v[VecGate])); err != nil {
		return res, nil, err
	}
	if err := mat(MatUp, v[VecX2], toF64(y[:0], v[VecUp])); err != nil {
		return res, nil, err
	}
	act := make([]float32, cfg.FF)
	ops.swiglu(act, v[VecGate], v[VecUp])
	if err := mat(MatDown, act, toF64(y[:0], v[VecDown])); err != nil {
		return res, nil, err
	}
	next := make([]float32, dim)
	for i := range next {
		next[i] = ho[i] + v[VecDown][i]
	}
	switch {
	case d.NextH != nil:
		if len(d.NextH) != dim {
			return res, nil, fmt.Errorf("proof: next H of %d values", len(d.NextH))
		}
		exact(EqResidual, d.NextH, next, "the next layer's H vs (H+O)+Down")
	case d.OutRow != nil:
		if len(d.OutRow) != dim {
			return res, nil, fmt.Errorf("proof: output row of %d values", len(d.OutRow))
		}
		for i := range next {
			next[i] = RoundDType(next[i], d.DType)
		}
		exact(EqResidual, d.OutRow, next, "the receipt's output row vs (H+O)+Down")
	}
	return res, fail, nil
}

// vkMats checks matrices with a verification key's Freivalds vectors.
type vkMats struct {
	vk  *VerificationKey
	tol float64
	a   activation
}

func (v *vkMats) limit() float64 { return v.tol }

func (v *vkMats) residual(layer, m int, x []float32, y []float64) (float64, error) {
	l := v.vk.Layer(layer)
	if l == nil {
		return 0, fmt.Errorf("proof: the verification key does not hold layer %d", layer)
	}
	mk := &l.Mats[m]
	if len(x) != mk.Cols || len(y) != mk.Rows {
		return 0, fmt.Errorf("proof: layer %d %s: %d inputs and %d outputs for a %d×%d matrix", layer, MatName(m), len(x), len(y), mk.Rows, mk.Cols)
	}
	v.a.compute(x, actOf(mk.Type))
	worst := 0.0
	for k := range mk.S {
		worst = max(worst, freivalds(mk, k, &v.a, y))
	}
	return worst, nil
}

// CheckCell checks one fully opened cell with a verification key: the
// norms, RoPE and attention recomputed, every matrix product by its
// Freivalds vectors, and the residual into the next layer. It returns
// the residuals and the first failing equation, or an error when the
// data cannot be checked (shapes, layers outside the key).
func CheckCell(vk *VerificationKey, tol Tolerances, d *CellData) (Residuals, *Finding, error) {
	cc := cellChecker{
		cfg: vk.Config, freqs: vk.RopeFreqs, tol: tol, ops: nodeOps,
		mats: &vkMats{vk: vk, tol: tol.Freivalds},
		layer: func(i int) (layerParams, error) {
			l := vk.Layer(i)
			if l == nil {
				return layerParams{}, fmt.Errorf("proof: the verification key does not hold layer %d", i)
			}
			return layerParams{attnNorm: l.AttnNorm, ffnNorm: l.FFNNorm}, nil
		},
	}
	return cc.checkCell(d)
}
