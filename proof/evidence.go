package proof

import (
	"errors"
	"fmt"
	"math"

	"github.com/tessera-net/tessera/model"
)

// Kinds of evidence.
const (
	EvidenceCell   uint8 = 1 // an audited cell whose equation fails
	EvidenceReexec uint8 = 2 // a re-execution whose output differs
)

// EqReexec is the "equation" of re-execution evidence: the receipt's
// output (or trace root) differs from what the layers compute on its
// inputs.
const EqReexec = NumEqs

// Fraud is the error an audit returns when a node's own signed receipt and
// trace openings show a failing equation. Its Evidence can be checked by
// anyone holding the slice's weights (CheckEvidence).
type Fraud struct {
	Finding  Finding
	Evidence *Evidence
}

func (f *Fraud) Error() string { return "fraud: " + f.Finding.Error() }

// Evidence is a self-contained proof that a node computed wrongly: its
// signed receipts of steps 0..s of the session (the last one is the
// receipt at fault; the earlier ones fix which step computed each
// earlier position), the openings and rows the failing check reads, and
// the failing equation as the auditor saw it. For re-execution evidence,
// Inputs holds every step's input hidden state instead of openings.
type Evidence struct {
	Kind     uint8
	Model    Hash
	Finding  Finding
	Receipts []*Receipt
	Openings []*CellOpening
	Rows     []*RowOpening
	Inputs   [][]float32
}

// Node is the public key of the node the evidence accuses.
func (e *Evidence) Node() []byte {
	if len(e.Receipts) == 0 {
		return nil
	}
	return e.Receipts[len(e.Receipts)-1].Key
}

// evidence collects what CheckEvidence needs to re-check finding f.
func (a *Auditor) evidence(f *Finding, p *plan, got map[CellRef]*CellOpening, d *CellData) *Evidence {
	r := p.r
	ev := &Evidence{Kind: EvidenceCell, Model: r.Model, Finding: *f, Receipts: append([]*Receipt(nil), a.receipts[:r.Step+1]...)}
	dim := a.vk.Config.Dim
	add := func(layer, pos int) {
		if o := got[CellRef{Step: r.Step, Layer: layer, Pos: pos}]; o != nil {
			ev.Openings = append(ev.Openings, o)
		}
	}
	row := func(h []float32, output bool) {
		ev.Rows = append(ev.Rows, OpenRow(h, r.Start, r.N, dim, f.Pos, output))
	}
	switch f.Equation {
	case EqInput:
		add(f.Layer, f.Pos)
		row(p.in, false)
	case EqResidual:
		add(f.Layer, f.Pos)
		if f.Layer+1 < r.Last {
			add(f.Layer+1, f.Pos)
		} else {
			row(p.out, true)
		}
	case EqAttention:
		add(f.Layer, f.Pos)
		for j := 0; j < f.Pos; j++ {
			if o := a.kvOpening(f.Layer, j, got); o != nil {
				ev.Openings = append(ev.Openings, o)
			}
		}
	default:
		add(f.Layer, f.Pos)
	}
	return ev
}

// kvOpening finds the key/value opening of (layer, pos) among this audit's
// openings or the cache.
func (a *Auditor) kvOpening(layer, pos int, got map[CellRef]*CellOpening) *CellOpening {
	step := a.posStep[pos]
	if o := got[CellRef{Step: step, Layer: layer, Pos: pos}]; o != nil {
		return o
	}
	if c := a.kv[layer]; c != nil && pos < len(c.ops) {
		return c.ops[pos]
	}
	return nil
}

const evidenceMagic = "tessera-evidence\x00\x00\x00\x01"

// Marshal encodes the evidence (a file: magic, then the fields; see
// UnmarshalEvidence).
func (e *Evidence) Marshal() []byte {
	w := enc{}
	w.raw([]byte(evidenceMagic))
	w.u8(e.Kind)
	w.hash(e.Model)
	encodeFinding(&w, &e.Finding)
	w.u32(uint32(len(e.Receipts)))
	for _, r := range e.Receipts {
		w.raw(r.Marshal())
	}
	w.u32(uint32(len(e.Openings)))
	for _, o := range e.Openings {
		o.encode(&w)
	}
	w.u32(uint32(len(e.Rows)))
	for _, ro := range e.Rows {
		ro.encode(&w)
	}
	w.u32(uint32(len(e.Inputs)))
	for _, in := range e.Inputs {
		w.f32s(in)
	}
	return w.b
}

func encodeFinding(w *enc, f *Finding) {
	w.u32(uint32(f.Equation))
	w.u64(f.Step)
	w.u32(uint32(f.Layer))
	w.u32(uint32(f.Pos))
	w.f64(sanitize(f.Value))
	w.f64(sanitize(f.Limit))
	w.str(truncate(f.Detail, MaxString))
}

func decodeFinding(d *dec) Finding {
	f := Finding{Equation: int(d.u32()), Step: d.u64(), Layer: int(d.u32()), Pos: int(d.u32())}
	f.Value, f.Limit = d.f64(), d.f64()
	f.Detail = d.str(MaxString)
	if d.err == nil && (f.Equation < 0 || f.Equation > EqReexec) {
		d.fail("unknown equation %d", f.Equation)
	}
	return f
}

// sanitize maps infinities to the largest float64 so that encodings stay
// finite.
func sanitize(v float64) float64 {
	switch {
	case math.IsNaN(v):
		return 0
	case math.IsInf(v, 1):
		return math.MaxFloat64
	case math.IsInf(v, -1):
		return -math.MaxFloat64
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// UnmarshalEvidence decodes an evidence file. It checks the encoding, not
// the claims (see CheckEvidence).
func UnmarshalEvidence(b []byte) (*Evidence, error) {
	d := dec{b: b, what: "evidence"}
	d.magic(evidenceMagic)
	e := &Evidence{Kind: d.u8(), Model: d.hash()}
	if d.err == nil && e.Kind != EvidenceCell && e.Kind != EvidenceReexec {
		d.fail("unknown kind %d", e.Kind)
	}
	e.Finding = decodeFinding(&d)
	n := d.count(MaxItems, ReceiptSize)
	for i := 0; i < n && d.err == nil; i++ {
		r, err := UnmarshalReceipt(d.take(ReceiptSize))
		if err != nil && d.err == nil {
			d.err = err
			break
		}
		e.Receipts = append(e.Receipts, r)
	}
	n = d.count(MaxItems, 22)
	for i := 0; i < n && d.err == nil; i++ {
		o := new(CellOpening)
		o.decode(&d)
		e.Openings = append(e.Openings, o)
	}
	n = d.count(MaxItems, 9)
	for i := 0; i < n && d.err == nil; i++ {
		ro := new(RowOpening)
		ro.decode(&d)
		e.Rows = append(e.Rows, ro)
	}
	n = d.count(MaxItems, 4)
	for i := 0; i < n && d.err == nil; i++ {
		e.Inputs = append(e.Inputs, d.f32s(MaxVector))
	}
	d.done()
	if d.err != nil {
		return nil, d.err
	}
	if len(e.Receipts) == 0 {
		return nil, fmt.Errorf("%w: evidence holds no receipt", ErrMalformed)
	}
	return e, nil
}

// ErrNotProven is wrapped by CheckEvidence's error when the evidence is
// well formed and authentic but does not show a failing equation.
var ErrNotProven = errors.New("proof: evidence does not show a failure")

// CheckEvidence re-checks evidence with the model's weights: the receipts
// are authentic and form the session's chain from step 0, the openings
// and rows lead to the receipts' roots, and the claimed equation fails
// when recomputed with the weights themselves: for a matrix product, the
// full product in float64, failing only where the deviation exceeds a
// worst-case bound on float32 rounding (see weightMats), so that no honest
// node can be convicted whatever its kernels; the other equations are
// recomputed as the audit does. It returns the failing equation as
// recomputed, or an error saying why the evidence does not hold. An audit
// failure near the Freivalds tolerance can be real yet not provable this
// way (the bound is worst-case): the client distrusts the node, but the
// evidence does not convict it.
func CheckEvidence(e *Evidence, w *Weights, tol Tolerances) (*Finding, error) {
	if tol == (Tolerances{}) {
		tol = DefaultTolerances
	}
	if e.Model != w.Commit.Model {
		return nil, fmt.Errorf("proof: the evidence is about model %x, the weights are of model %x", e.Model[:6], w.Commit.Model[:6])
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	rs := e.Receipts
	r := rs[len(rs)-1]
	cfg := w.Config
	if e.Kind == EvidenceReexec {
		return w.checkReexec(e, rs)
	}
	f := e.Finding
	// Which step last computed each position before r.
	posStep := make([]uint64, r.Start+r.N)
	for _, x := range rs {
		for j := x.Start; j < x.Start+x.N && j < len(posStep); j++ {
			posStep[j] = x.Step
		}
	}
	ops := map[CellRef]*CellOpening{}
	for _, o := range e.Openings {
		if o.Step >= uint64(len(rs)) {
			return nil, fmt.Errorf("proof: opening of step %d beyond the receipts", o.Step)
		}
		if err := VerifyOpening(cfg, rs[o.Step], o); err != nil {
			return nil, err
		}
		ops[CellRef{Step: o.Step, Layer: o.Layer, Pos: o.Pos}] = o
	}
	var in, out []float32
	for _, ro := range e.Rows {
		if err := VerifyRow(r, cfg.Dim, ro); err != nil {
			return nil, err
		}
		if ro.Pos != f.Pos {
			continue
		}
		if ro.Output {
			out = ro.Row
		} else {
			in = ro.Row
		}
	}
	cell := ops[CellRef{Step: r.Step, Layer: f.Layer, Pos: f.Pos}]
	if cell == nil {
		return nil, errors.New("proof: the evidence does not open the cell at fault")
	}
	notProven := func() (*Finding, error) {
		return nil, fmt.Errorf("%w: equation %s of step %d layer %d position %d holds", ErrNotProven, EqName(f.Equation), f.Step, f.Layer, f.Pos)
	}
	switch f.Equation {
	case EqInput:
		if in == nil || !cell.Mask.Has(VecH) || f.Layer != r.First {
			return nil, errors.New("proof: input evidence needs the first layer's H and the input row")
		}
		if g := compareExact(EqInput, r.Step, f.Layer, f.Pos, cell.Vecs[VecH], in, r.DType, false); g != nil {
			return g, nil
		}
		return notProven()
	case EqResidual:
		if cell.Mask&MaskOut != MaskOut {
			return nil, errors.New("proof: residual evidence needs H, O and Down of the cell")
		}
		next := make([]float32, cfg.Dim)
		for k := range next {
			next[k] = (cell.Vecs[VecH][k] + cell.Vecs[VecO][k]) + cell.Vecs[VecDown][k]
		}
		if f.Layer+1 < r.Last {
			nc := ops[CellRef{Step: r.Step, Layer: f.Layer + 1, Pos: f.Pos}]
			if nc == nil || !nc.Mask.Has(VecH) {
				return nil, errors.New("proof: residual evidence needs the next layer's H")
			}
			if g := compareExact(EqResidual, r.Step, f.Layer, f.Pos, nc.Vecs[VecH], next, r.DType, false); g != nil {
				return g, nil
			}
			return notProven()
		}
		if out == nil {
			return nil, errors.New("proof: residual evidence at the last layer needs the output row")
		}
		if g := compareExact(EqResidual, r.Step, f.Layer, f.Pos, out, next, r.DType, true); g != nil {
			return g, nil
		}
		return notProven()
	}
	if cell.Mask != MaskAll {
		return nil, errors.New("proof: the cell at fault is not fully opened")
	}
	d := &CellData{Step: r.Step, Layer: f.Layer, Pos: f.Pos, Cell: cell, DType: r.DType}
	if f.Equation == EqAttention {
		kvd := cfg.KVDim()
		d.K = make([]float32, 0, (f.Pos+1)*kvd)
		d.V = make([]float32, 0, (f.Pos+1)*kvd)
		for j := 0; j < f.Pos; j++ {
			o := ops[CellRef{Step: posStep[j], Layer: f.Layer, Pos: j}]
			if o == nil || o.Mask&MaskKV != MaskKV {
				return nil, fmt.Errorf("proof: attention evidence lacks the keys and values of position %d from step %d", j, posStep[j])
			}
			d.K = append(d.K, o.Vecs[VecK]...)
			d.V = append(d.V, o.Vecs[VecV]...)
		}
		d.K = append(d.K, cell.Vecs[VecK]...)
		d.V = append(d.V, cell.Vecs[VecV]...)
	}
	cc := w.checker(tol)
	res, g, err := cc.checkCell(d)
	if err != nil {
		return nil, err
	}
	if v := res[f.Equation]; v >= 0 && !(v <= limitOf(f.Equation, tol, cc.mats.limit())) {
		return &Finding{Equation: f.Equation, Step: r.Step, Layer: f.Layer, Pos: f.Pos, Value: v, Limit: limitOf(f.Equation, tol, cc.mats.limit())}, nil
	}
	if g != nil {
		return nil, fmt.Errorf("%w: equation %s holds; %s fails instead (resubmit evidence for it)", ErrNotProven, EqName(f.Equation), EqName(g.Equation))
	}
	return notProven()
}

// Validate checks what needs no weights: the receipts are authentic,
// chained from step 0 and name the evidence's model; cell evidence's
// finding lies inside the last receipt (step, layers, positions);
// re-execution evidence has an input for every receipt. CheckEvidence
// starts with it; a judge can call it first to refuse malformed evidence
// without looking for weights.
func (e *Evidence) Validate() error {
	rs := e.Receipts
	if len(rs) == 0 {
		return errors.New("proof: evidence holds no receipt")
	}
	if err := CheckSequence(rs[0].Key, rs); err != nil {
		return fmt.Errorf("proof: evidence receipts: %w", err)
	}
	r := rs[len(rs)-1]
	if r.Model != e.Model {
		return errors.New("proof: the receipts name another model")
	}
	if e.Kind == EvidenceReexec {
		if len(e.Inputs) != len(rs) {
			return fmt.Errorf("proof: re-execution evidence holds %d inputs for %d receipts", len(e.Inputs), len(rs))
		}
		return nil
	}
	f := e.Finding
	if f.Equation >= NumEqs || f.Step != r.Step || f.Layer < r.First || f.Layer >= r.Last || f.Pos < r.Start || f.Pos >= r.Start+r.N {
		return fmt.Errorf("proof: the finding (%s, step %d, layer %d, position %d) is outside the last receipt", EqName(f.Equation), f.Step, f.Layer, f.Pos)
	}
	return nil
}

func limitOf(eq int, tol Tolerances, mat float64) float64 {
	switch eq {
	case EqX1, EqX2:
		return tol.Norm
	case EqAttention:
		return tol.Attention
	case EqInput, EqResidual:
		return 0
	}
	return mat
}

// Describe explains a finding in a sentence.
func (f *Finding) Describe() string {
	switch f.Equation {
	case EqInput:
		return fmt.Sprintf("the trace of step %d starts at layer %d position %d from a hidden state other than the input the node signed", f.Step, f.Layer, f.Pos)
	case EqResidual:
		return fmt.Sprintf("step %d layer %d position %d: the layer's output is not (H+O)+Down", f.Step, f.Layer, f.Pos)
	case EqX1, EqX2:
		return fmt.Sprintf("step %d layer %d position %d: %s is not the RMS norm it should be (deviation %.3g)", f.Step, f.Layer, f.Pos, EqName(f.Equation), f.Value)
	case EqAttention:
		return fmt.Sprintf("step %d layer %d position %d: the attention output is not softmax(QKᵀ/√d)V over the committed keys and values (deviation %.3g)", f.Step, f.Layer, f.Pos, f.Value)
	case EqReexec:
		return fmt.Sprintf("step %d: re-executing the layers on the committed inputs gives another result (%s)", f.Step, f.Detail)
	}
	return fmt.Sprintf("step %d layer %d position %d: %s is not W_%s times its input (relative deviation %.3g)", f.Step, f.Layer, f.Pos, EqName(f.Equation), EqName(f.Equation), f.Value)
}

// layerRange is the receipts' layer range.
func layerRange(r *Receipt) model.Range { return model.Range{First: r.First, Last: r.Last} }
