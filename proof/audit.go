package proof

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/tessera-net/tessera/merkle"
	"github.com/tessera-net/tessera/model"
)

// AuditConfig sets how much an Auditor checks.
type AuditConfig struct {
	// Budget is the verifier's CPU as a fraction of the worker's that the
	// audit aims at (0: DefaultBudget). The number of cells audited per
	// receipt is drawn so that its expectation is Budget × (the receipt's
	// work) ÷ (the average cost of checking a cell), both estimated by the
	// cost model below; see docs/proof-figures.md for the measured ratio.
	Budget float64
	// Cells, if positive, audits exactly this many cells of every receipt
	// instead (capped at the receipt's cells).
	Cells int
	// Tolerances of the checks (zero: DefaultTolerances).
	Tolerances Tolerances
	// KVCacheBytes caps the verified keys and values kept for attention
	// checks (0: 256 MiB); when full the cache is dropped and refilled.
	KVCacheBytes int64
}

// DefaultBudget is the default verifier CPU ÷ worker CPU target.
const DefaultBudget = 0.02

// Cost model, in units of the time a worker takes to stream one byte of
// weights through a matrix-vector product for one position. Measured on
// amd64 (AVX-512 VNNI kernels, SHA-NI) with layers of the shape of a
// 1B-parameter model and with kjv-tiny (docs/proof-figures.md), the
// verifier's CPU time is close to proportional to the bytes of openings it
// receives, about 100 units per byte all included (decoding, hashing,
// Merkle paths, Freivalds products, norms, SwiGLU, allocation), plus the
// attention recomputation, which grows with the position: about 15 units
// per multiply-add. Machines whose kernels are slower relative to their
// scalar code audit proportionally less than the budget, never more.
const (
	costByte      = 100
	costAttention = 15
)

// AuditStats count an Auditor's work and results.
type AuditStats struct {
	Receipts   int   // receipts observed
	Audited    int   // receipts audited (at least one cell)
	Cells      int   // cells fully checked
	KVOpenings int   // key/value openings verified for attention checks
	Openings   int   // openings received
	Bytes      int64 // bytes of openings received
	Failed     int   // audits that found a failing equation
	Refused    int   // openings refused, missing or not matching their receipt
	Cost       float64
	Work       float64   // the receipts' worker cost (same units as Cost)
	Worst      Residuals // largest residual of each equation over honest cells
}

// Add accumulates o into s.
func (s *AuditStats) Add(o AuditStats) {
	s.Receipts += o.Receipts
	s.Audited += o.Audited
	s.Cells += o.Cells
	s.KVOpenings += o.KVOpenings
	s.Openings += o.Openings
	s.Bytes += o.Bytes
	s.Failed += o.Failed
	s.Refused += o.Refused
	s.Cost += o.Cost
	s.Work += o.Work
	for i := range s.Worst {
		s.Worst[i] = max(s.Worst[i], o.Worst[i])
	}
}

// Auditor audits the receipts of one hop's session (level L1 of DESIGN
// section 5): after each receipt it may choose random cells, the client
// fetches their openings from the node, and Check verifies them. It is
// deterministic given its random source, which the caller provides and
// must keep secret from the node. Not safe for concurrent use.
type Auditor struct {
	vk    *VerificationKey
	cfg   AuditConfig
	rng   *rand.Rand
	first int
	last  int

	receipts []*Receipt // by step
	posStep  []uint64   // step that last computed each position
	kv       map[int]*kvCache
	kvBytes  int64
	pending  *plan
	stats    AuditStats

	// Observe runs for every receipt: what the budget needs that does
	// not change between receipts is computed once.
	work  []float64 // layerWork of layers first..last-1
	sizes openingSizes
}

// openingSizes are the costed bytes of the openings of a cell (all
// vectors, keys and values, input, residual outputs) for Merkle paths of
// path hashes.
type openingSizes struct {
	path, all, kv, h, out int
}

// kvCache holds, per position, the verified opening of a layer's key and
// value (nil: not yet fetched).
type kvCache struct {
	ops []*CellOpening
}

// plan is the audit of one receipt in progress.
type plan struct {
	r       *Receipt
	in, out []float32 // the call's input and output hidden states
	refs    []CellRef
	cells   []CellRef // the cells fully checked
}

// NewAuditor returns an auditor of a session of layers [first, last)
// that vk covers, drawing its choices from rng.
func NewAuditor(vk *VerificationKey, first, last int, cfg AuditConfig, rng *rand.Rand) (*Auditor, error) {
	if !vk.Covers(model.Range{First: first, Last: last}) {
		return nil, fmt.Errorf("proof: the verification key covers layers %s, not %d:%d", vk.Range, first, last)
	}
	if cfg.Budget == 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Tolerances == (Tolerances{}) {
		cfg.Tolerances = DefaultTolerances
	}
	if cfg.KVCacheBytes == 0 {
		cfg.KVCacheBytes = 256 << 20
	}
	a := &Auditor{vk: vk, cfg: cfg, rng: rng, first: first, last: last, kv: map[int]*kvCache{}, sizes: openingSizes{path: -1}}
	for i := first; i < last; i++ {
		a.work = append(a.work, a.layerWork(i))
	}
	return a, nil
}

// Stats returns the counters so far.
func (a *Auditor) Stats() AuditStats { return a.stats }

// layerWork is the worker cost of one layer for one position: the bytes
// of its weight matrices.
func (a *Auditor) layerWork(i int) float64 {
	var n float64
	for _, mk := range a.vk.Layer(i).Mats {
		rb, _ := mk.Type.RowBytes(mk.Cols)
		n += float64(rb * mk.Rows)
	}
	return n
}

// cellCost estimates the verifier's cost of auditing cell (layer, pos) of
// r whose attention needs newKV openings of keys and values: the bytes of
// every opening the audit asks for (as Observe plans them) and the
// arithmetic that does not scale with them.
func (a *Auditor) cellCost(r *Receipt, layer, pos, newKV int) float64 {
	sz := a.openingSizes(merkle.ProofLen(0, max(1, r.Cells())))
	opened := sz.all + newKV*sz.kv
	if layer+1 < r.Last {
		opened += sz.h
	}
	if layer != r.First {
		opened += sz.h
	}
	if layer != r.Last-1 {
		opened += sz.out
	}
	return float64(costByte*float64(opened)) + a.checkCost(layer, pos)
}

// openingSizes returns the costed opening sizes for Merkle paths of path
// hashes, recomputing them when the path length changes (calls of
// another number of positions).
func (a *Auditor) openingSizes(path int) openingSizes {
	if a.sizes.path != path {
		c := a.vk.Config
		size := func(m Mask) int { return OpeningSize(c, m, path) + 200 }
		a.sizes = openingSizes{path: path, all: size(MaskAll), kv: size(MaskKV), h: size(MaskH), out: size(MaskOut)}
	}
	return a.sizes
}

// checkCost is the part of a cell's checks that does not scale with the
// bytes opened: the attention over positions 0..pos.
func (a *Auditor) checkCost(layer, pos int) float64 {
	c := a.vk.Config
	return float64(costAttention * float64(2*(pos+1)*c.Heads*c.HeadDim))
}

// Observe records an accepted receipt (after the client's L0 checks) and
// returns the openings to request, or nil if the receipt is not audited.
// in and out are the call's input and output hidden states as hashed in
// the receipt; the auditor keeps them until Check.
func (a *Auditor) Observe(r *Receipt, in, out []float32) []CellRef {
	a.pending = nil
	if r.Step != uint64(len(a.receipts)) || r.First != a.first || r.Last != a.last {
		return nil // the caller checks receipts first; this cannot happen
	}
	a.receipts = append(a.receipts, r)
	a.stats.Receipts++
	// Positions from r.Start are recomputed: cached keys and values there
	// are no longer the ones later steps attend to.
	if r.Start < len(a.posStep) {
		a.posStep = a.posStep[:r.Start]
		for _, c := range a.kv {
			for j := r.Start; j < len(c.ops); j++ {
				if c.ops[j] != nil {
					a.kvBytes -= int64(c.ops[j].Size())
					c.ops[j] = nil
				}
			}
		}
	}
	for len(a.posStep) < r.Start+r.N {
		a.posStep = append(a.posStep, r.Step)
	}
	var work float64
	for i := r.First; i < r.Last; i++ {
		work += a.work[i-a.first]
	}
	work = float64(work * float64(r.N))
	a.stats.Work += work

	cells := r.Cells()
	k := a.cfg.Cells
	if k <= 0 {
		lambda := a.cfg.Budget * work / a.expectedCost(r)
		k = int(lambda)
		if a.rng.Float64() < lambda-float64(k) {
			k++
		}
	}
	k = min(k, cells)
	if k == 0 {
		return nil
	}
	p := &plan{r: r, in: in, out: out}
	picked := map[int]bool{}
	for len(p.cells) < k {
		idx := a.rng.IntN(cells)
		if picked[idx] {
			continue
		}
		picked[idx] = true
		p.cells = append(p.cells, CellRef{Step: r.Step, Layer: r.First + idx/r.N, Pos: r.Start + idx%r.N, Mask: MaskAll})
	}
	want := map[CellRef]Mask{}
	add := func(ref CellRef) {
		key := ref
		key.Mask = 0
		want[key] |= ref.Mask
	}
	for _, c := range p.cells {
		add(c)
		if c.Layer+1 < r.Last {
			add(CellRef{Step: r.Step, Layer: c.Layer + 1, Pos: c.Pos, Mask: MaskH})
		}
		// Boundary checks at this position: the trace starts from the
		// input the receipt signs and ends at its output.
		if c.Layer != r.First {
			add(CellRef{Step: r.Step, Layer: r.First, Pos: c.Pos, Mask: MaskH})
		}
		if c.Layer != r.Last-1 {
			add(CellRef{Step: r.Step, Layer: r.Last - 1, Pos: c.Pos, Mask: MaskOut})
		}
		cache := a.kv[c.Layer]
		for j := 0; j < c.Pos; j++ {
			if cache != nil && j < len(cache.ops) && cache.ops[j] != nil {
				continue
			}
			add(CellRef{Step: a.posStep[j], Layer: c.Layer, Pos: j, Mask: MaskKV})
		}
	}
	for key, m := range want {
		key.Mask = m
		p.refs = append(p.refs, key)
	}
	slices.SortFunc(p.refs, func(x, y CellRef) int {
		switch {
		case x.Step != y.Step:
			return cmpU64(x.Step, y.Step)
		case x.Layer != y.Layer:
			return x.Layer - y.Layer
		}
		return x.Pos - y.Pos
	})
	a.pending = p
	a.stats.Audited++
	return p.refs
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ErrRefused is wrapped by Check's error when the node's answer is not a
// valid opening of what was asked: missing, extra, or not leading to the
// trace root it signed. The client cannot prove this to others (the
// answer is not signed), but it stops trusting the node.
var ErrRefused = errors.New("proof: node did not open its trace")

// Check verifies the openings answering the last Observe's request, in
// the order requested. It returns nil when every check passes, a
// *Fraud holding re-checkable evidence when an equation fails, or an
// error wrapping ErrRefused when the openings themselves are invalid.
func (a *Auditor) Check(ops []*CellOpening) error {
	p := a.pending
	a.pending = nil
	if p == nil {
		return errors.New("proof: no audit pending")
	}
	refuse := func(format string, args ...any) error {
		a.stats.Refused++
		return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
	}
	if len(ops) != len(p.refs) {
		return refuse("%d openings for %d references", len(ops), len(p.refs))
	}
	c := a.vk.Config
	got := map[CellRef]*CellOpening{}
	var cost float64
	for i, o := range ops {
		if o.Ref() != p.refs[i] {
			return refuse("opening %d is of cell (%d, %d) step %d, asked (%d, %d) step %d",
				i, o.Layer, o.Pos, o.Step, p.refs[i].Layer, p.refs[i].Pos, p.refs[i].Step)
		}
		if o.Step >= uint64(len(a.receipts)) {
			return refuse("opening of unknown step %d", o.Step)
		}
		if err := VerifyOpening(c, a.receipts[o.Step], o); err != nil {
			return refuse("%v", err)
		}
		a.stats.Bytes += int64(o.Size())
		a.stats.Openings++
		cost += float64(costByte * float64(o.Size()+200))
		key := o.Ref()
		key.Mask = 0
		got[key] = o
	}
	r := p.r
	at := func(layer, pos int) *CellOpening { return got[CellRef{Step: r.Step, Layer: layer, Pos: pos}] }
	dim := c.Dim
	row := func(h []float32, pos int) []float32 { return h[(pos-r.Start)*dim : (pos-r.Start+1)*dim] }
	cc := cellChecker{cfg: c, freqs: a.vk.RopeFreqs, tol: a.cfg.Tolerances, ops: nodeOps,
		mats: &vkMats{vk: a.vk, tol: a.cfg.Tolerances.Freivalds},
		layer: func(i int) (layerParams, error) {
			l := a.vk.Layer(i)
			return layerParams{attnNorm: l.AttnNorm, ffnNorm: l.FFNNorm}, nil
		}}
	for _, cell := range p.cells {
		full := at(cell.Layer, cell.Pos)
		d := &CellData{Step: r.Step, Layer: cell.Layer, Pos: cell.Pos, Cell: full, DType: r.DType}
		if next := at(cell.Layer+1, cell.Pos); next != nil {
			d.NextH = next.Vecs[VecH]
		} else {
			d.OutRow = row(p.out, cell.Pos)
		}
		if cell.Layer == r.First {
			d.InRow = row(p.in, cell.Pos)
		}
		newKV := 0
		d.K, d.V, newKV = a.gatherKV(cell, full, got)
		cost += a.checkCost(cell.Layer, cell.Pos)
		res, f, err := cc.checkCell(d)
		if err != nil {
			return refuse("%v", err)
		}
		a.stats.Cells++
		a.stats.KVOpenings += newKV
		if f == nil {
			f = a.checkBoundaries(r, cell.Pos, got, p)
		}
		if f != nil {
			a.stats.Failed++
			a.addCost(cost)
			return &Fraud{Finding: *f, Evidence: a.evidence(f, p, got, d)}
		}
		for i, v := range res {
			a.stats.Worst[i] = max(a.stats.Worst[i], v)
		}
	}
	a.addCost(cost)
	return nil
}

// addCost accounts an audit's cost.
func (a *Auditor) addCost(cost float64) { a.stats.Cost += cost }

// expectedCost is the cost model's estimate of auditing one random cell
// of r: at the middle of its positions, averaged over its layers, with
// the keys and values the cache does not hold yet.
func (a *Auditor) expectedCost(r *Receipt) float64 {
	pos := r.Start + r.N/2
	var sum float64
	for l := r.First; l < r.Last; l++ {
		missing := 0
		c := a.kv[l]
		for j := 0; j < pos; j++ {
			if c == nil || j >= len(c.ops) || c.ops[j] == nil {
				missing++
			}
		}
		sum += a.cellCost(r, l, pos, missing)
	}
	return sum / float64(r.Layers())
}

// checkBoundaries checks that the trace at pos starts from the receipt's
// input row and ends at its output row.
func (a *Auditor) checkBoundaries(r *Receipt, pos int, got map[CellRef]*CellOpening, p *plan) *Finding {
	dim := a.vk.Config.Dim
	i := (pos - r.Start) * dim
	if o := got[CellRef{Step: r.Step, Layer: r.First, Pos: pos}]; o != nil && o.Mask.Has(VecH) {
		if f := compareExact(EqInput, r.Step, r.First, pos, o.Vecs[VecH], p.in[i:i+dim], r.DType, false); f != nil {
			return f
		}
	}
	if o := got[CellRef{Step: r.Step, Layer: r.Last - 1, Pos: pos}]; o != nil && o.Mask&MaskOut == MaskOut {
		next := make([]float32, dim)
		for k := range next {
			next[k] = (o.Vecs[VecH][k] + o.Vecs[VecO][k]) + o.Vecs[VecDown][k]
		}
		if f := compareExact(EqResidual, r.Step, r.Last-1, pos, p.out[i:i+dim], next, r.DType, true); f != nil {
			return f
		}
	}
	return nil
}

// compareExact compares got with want (rounded to dtype when round is
// set) bit for bit.
func compareExact(eq int, step uint64, layer, pos int, got, want []float32, dtype uint8, round bool) *Finding {
	for k := range want {
		w := want[k]
		if round {
			w = RoundDType(w, dtype)
		}
		if got[k] != w || math.IsNaN(float64(got[k])) {
			return &Finding{Equation: eq, Step: step, Layer: layer, Pos: pos,
				Value: math.Abs(float64(got[k]) - float64(w)), Limit: 0,
				Detail: fmt.Sprintf("index %d: %v, want %v", k, got[k], w)}
		}
	}
	return nil
}

// gatherKV assembles the keys and values of positions 0..cell.Pos for the
// attention check from the cache and the new openings, then caches the new
// ones. It returns the number of new openings used.
func (a *Auditor) gatherKV(cell CellRef, full *CellOpening, got map[CellRef]*CellOpening) (k, v []float32, fresh int) {
	kvd := a.vk.Config.KVDim()
	cache := a.kv[cell.Layer]
	k = make([]float32, 0, (cell.Pos+1)*kvd)
	v = make([]float32, 0, (cell.Pos+1)*kvd)
	var news []*CellOpening
	for j := 0; j < cell.Pos; j++ {
		var o *CellOpening
		if cache != nil && j < len(cache.ops) && cache.ops[j] != nil {
			o = cache.ops[j]
		} else {
			o = got[CellRef{Step: a.posStep[j], Layer: cell.Layer, Pos: j}]
			if o == nil || o.Mask&MaskKV != MaskKV {
				return nil, nil, 0 // cannot happen: Observe asked for it
			}
			news = append(news, o)
		}
		k = append(k, o.Vecs[VecK]...)
		v = append(v, o.Vecs[VecV]...)
	}
	k = append(k, full.Vecs[VecK]...)
	v = append(v, full.Vecs[VecV]...)
	if len(news) > 0 {
		var add int64
		for _, o := range news {
			add += int64(o.Size())
		}
		if a.kvBytes+add > a.cfg.KVCacheBytes {
			a.dropKV()
		}
		cache = a.kv[cell.Layer]
		if cache == nil {
			cache = &kvCache{}
			a.kv[cell.Layer] = cache
		}
		for len(cache.ops) < cell.Pos {
			cache.ops = append(cache.ops, nil)
		}
		for _, o := range news {
			cache.ops[o.Pos] = o
		}
		a.kvBytes += add
	}
	return k, v, len(news)
}

// dropKV empties the key/value cache.
func (a *Auditor) dropKV() {
	a.kv = map[int]*kvCache{}
	a.kvBytes = 0
}

// Receipts returns the receipts observed, by step.
func (a *Auditor) Receipts() []*Receipt { return a.receipts }
