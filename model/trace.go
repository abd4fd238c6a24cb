package model

import "fmt"

// Trace records, for every (layer, position) cell of one forward pass, the
// vectors a verifier needs to re-check that cell's arithmetic (DESIGN
// section 5): the layer input, both normed inputs, q and k after RoPE, v,
// the attention output, both projections and the MLP's gate, up and down.
// A Trace is reused across passes; its vectors are views into one buffer.
type Trace struct {
	FirstLayer, Layers int // cells cover layers [FirstLayer, FirstLayer+Layers)
	Start, N           int // and positions [Start, Start+N)

	cfg  Config
	cell int // floats per cell
	// off and width place each vector in a cell, in Cell's field order.
	off, width [numCellVecs]int
	buf        []float32
}

// cellVec names a vector of a cell; the order is Cell's field order, which
// is also the layout of a cell in Trace.buf.
type cellVec int

const (
	cellH cellVec = iota
	cellX1
	cellQ
	cellK
	cellV
	cellAtt
	cellO
	cellX2
	cellGate
	cellUp
	cellDown
	numCellVecs
)

// Cell is one (layer, position) record of a Trace.
type Cell struct {
	Layer, Pos int
	H          []float32 // layer input (residual stream)
	X1         []float32 // RMSNorm(H)·attn_norm
	Q, K, V    []float32 // projections (+bias), q and k after RoPE
	Att        []float32 // attention output, input of Wo
	O          []float32 // Wo·Att
	X2         []float32 // RMSNorm(H+O)·ffn_norm
	Gate, Up   []float32 // W_gate·X2, W_up·X2
	Down       []float32 // W_down·(silu(Gate)⊙Up); the next input is H+O+Down
}

func cellWidths(c Config) [numCellVecs]int {
	qDim, kvDim := c.Heads*c.HeadDim, c.KVDim()
	return [numCellVecs]int{c.Dim, c.Dim, qDim, kvDim, kvDim, qDim, c.Dim, c.Dim, c.FF, c.FF, c.Dim}
}

func (t *Trace) reset(c Config, first, layers, start, n int) {
	t.FirstLayer, t.Layers, t.Start, t.N, t.cfg = first, layers, start, n, c
	t.width = cellWidths(c)
	t.cell = 0
	for v, w := range t.width {
		t.off[v] = t.cell
		t.cell += w
	}
	need := t.cell * layers * n
	if cap(t.buf) < need {
		t.buf = make([]float32, need)
	}
	t.buf = t.buf[:need]
}

// TraceBytes is the buffer a Trace needs to record n positions through
// layers layers of a model with config c.
func TraceBytes(c Config, layers, n int) int64 {
	cell := 0
	for _, w := range cellWidths(c) {
		cell += w
	}
	return 4 * int64(cell) * int64(layers) * int64(n)
}

// Capacity is the bytes of the buffer the trace records into: what it
// holds in memory, whatever the shape of its last pass.
func (t *Trace) Capacity() int64 { return 4 * int64(cap(t.buf)) }

// Cell returns the record of layer (a model layer index) at position pos.
func (t *Trace) Cell(layer, pos int) (Cell, error) {
	li, pi := layer-t.FirstLayer, pos-t.Start
	if li < 0 || li >= t.Layers || pi < 0 || pi >= t.N {
		return Cell{}, fmt.Errorf("model: trace holds layers %d:%d and positions %d:%d, not (%d, %d)",
			t.FirstLayer, t.FirstLayer+t.Layers, t.Start, t.Start+t.N, layer, pos)
	}
	return t.cellAt(li, pi), nil
}

func (t *Trace) cellAt(li, pi int) Cell {
	base := (li*t.N + pi) * t.cell
	vec := func(v cellVec) []float32 {
		lo := base + t.off[v]
		return t.buf[lo : lo+t.width[v] : lo+t.width[v]]
	}
	return Cell{
		Layer: t.FirstLayer + li, Pos: t.Start + pi,
		H: vec(cellH), X1: vec(cellX1), Q: vec(cellQ), K: vec(cellK), V: vec(cellV),
		Att: vec(cellAtt), O: vec(cellO), X2: vec(cellX2), Gate: vec(cellGate), Up: vec(cellUp), Down: vec(cellDown),
	}
}

// record copies one stage's per-position rows (n rows of vector v's width
// from src) into the cells of layer li. It runs for every stage of every
// traced layer, so it does no more than the copy: no Cell is built.
func (t *Trace) record(li, n int, v cellVec, src []float32) {
	if t == nil {
		return
	}
	w := t.width[v]
	for p := 0; p < n; p++ {
		lo := (li*t.N+p)*t.cell + t.off[v]
		copy(t.buf[lo:lo+w], src[p*w:(p+1)*w])
	}
}
