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
	buf  []float32
}

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

func cellFloats(c Config) int {
	qDim := c.Heads * c.HeadDim
	return 4*c.Dim + 2*qDim + 2*c.KVDim() + 2*c.FF + c.Dim
}

func (t *Trace) reset(c Config, first, layers, start, n int) {
	t.FirstLayer, t.Layers, t.Start, t.N, t.cfg = first, layers, start, n, c
	t.cell = cellFloats(c)
	need := t.cell * layers * n
	if cap(t.buf) < need {
		t.buf = make([]float32, need)
	}
	t.buf = t.buf[:need]
}

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
	c := t.cfg
	qDim := c.Heads * c.HeadDim
	b := t.buf[(li*t.N+pi)*t.cell : (li*t.N+pi+1)*t.cell]
	take := func(n int) []float32 {
		v := b[:n:n]
		b = b[n:]
		return v
	}
	return Cell{
		Layer: t.FirstLayer + li, Pos: t.Start + pi,
		H: take(c.Dim), X1: take(c.Dim), Q: take(qDim), K: take(c.KVDim()), V: take(c.KVDim()),
		Att: take(qDim), O: take(c.Dim), X2: take(c.Dim), Gate: take(c.FF), Up: take(c.FF), Down: take(c.Dim),
	}
}

// record copies one stage's per-position rows (n rows of width w starting
// at src) into the cells of layer li through field.
func (t *Trace) record(li, n, w int, src []float32, field func(*Cell) []float32) {
	if t == nil {
		return
	}
	for p := 0; p < n; p++ {
		c := t.cellAt(li, p)
		copy(field(&c), src[p*w:(p+1)*w])
	}
}
