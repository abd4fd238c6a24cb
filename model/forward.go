package model

import (
	"fmt"
	"math"

	"github.com/tessera-net/tessera/quant"
)

// Embed writes the embedding of each token into dst (len(tokens)×Dim).
func (m *Model) Embed(dst []float32, tokens []int) error {
	if !m.Client {
		return fmt.Errorf("embed: %w (load with Client: true)", ErrNotLoaded)
	}
	dim := m.Config.Dim
	if len(dst) != len(tokens)*dim {
		return fmt.Errorf("model: embed: dst has %d values, want %d", len(dst), len(tokens)*dim)
	}
	rowBytes := len(m.embed.Data) / m.embed.Rows
	for i, tok := range tokens {
		if tok < 0 || tok >= m.Config.Vocab {
			return fmt.Errorf("model: embed: token id %d outside vocabulary of %d", tok, m.Config.Vocab)
		}
		row := m.embed.Data[tok*rowBytes : (tok+1)*rowBytes]
		if err := quant.Dequantize(m.embed.Type, dst[i*dim:(i+1)*dim], row); err != nil {
			return fmt.Errorf("model: embed token %d: %w", tok, err)
		}
	}
	return nil
}

// Head applies the final RMSNorm and the output projection to one hidden
// state, writing Vocab logits.
func (m *Model) Head(logits, hidden []float32) error {
	if !m.Client {
		return fmt.Errorf("head: %w (load with Client: true)", ErrNotLoaded)
	}
	if len(hidden) != m.Config.Dim || len(logits) != m.Config.Vocab {
		return fmt.Errorf("model: head: got %d hidden and %d logits, want %d and %d", len(hidden), len(logits), m.Config.Dim, m.Config.Vocab)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.scratch.grow(&m.scratch.headIn, m.Config.Dim)
	rmsNorm(x, hidden, m.outputNorm, m.Config.NormEps)
	m.pool.MatVec(logits, m.head, x)
	return nil
}

// Session is the per-sequence state of the loaded layers: their KV cache.
// A session belongs to one Model and must not be used by two goroutines at
// once.
type Session struct {
	model  *Model
	maxLen int
	len    int
	k, v   [][]float32 // per loaded layer: positions × KVDim
}

// NewSession starts an empty sequence of at most maxLen positions.
func (m *Model) NewSession(maxLen int) (*Session, error) {
	if maxLen <= 0 {
		return nil, fmt.Errorf("model: session length %d must be positive", maxLen)
	}
	n := len(m.layers)
	return &Session{model: m, maxLen: maxLen, k: make([][]float32, n), v: make([][]float32, n)}, nil
}

// Len is the number of positions held in the KV cache.
func (s *Session) Len() int { return s.len }

// MaxLen is the most positions the session accepts.
func (s *Session) MaxLen() int { return s.maxLen }

// ensure grows the cache to hold n positions, doubling to amortise copies.
func (s *Session) ensure(n int) {
	kvDim := s.model.Config.KVDim()
	for i := range s.k {
		if len(s.k[i]) >= n*kvDim {
			continue
		}
		c := max(n, 2*len(s.k[i])/kvDim, 16)
		c = min(c, s.maxLen)
		nk := make([]float32, c*kvDim)
		nv := make([]float32, c*kvDim)
		copy(nk, s.k[i][:s.len*kvDim])
		copy(nv, s.v[i][:s.len*kvDim])
		s.k[i], s.v[i] = nk, nv
	}
}

// Forward runs the loaded layers over n consecutive positions starting at
// position start, transforming hidden (n×Dim) in place. start may be below
// Len to rewind the session (the cache beyond start is discarded); it may
// not skip positions. Prefill passes many positions, decode one; both give
// bit-identical results for the same position.
func (m *Model) Forward(s *Session, start int, hidden []float32, n int) error {
	return m.ForwardTrace(s, start, hidden, n, nil)
}

// ForwardTrace is Forward that also records every (layer, position) cell
// into tr (when tr is not nil) for later verification. Recording does not
// change the computed bits.
func (m *Model) ForwardTrace(s *Session, start int, hidden []float32, n int, tr *Trace) error {
	if s.model != m {
		return fmt.Errorf("model: forward: session belongs to another model")
	}
	cfg := m.Config
	if n <= 0 || len(hidden) != n*cfg.Dim {
		return fmt.Errorf("model: forward: %d hidden values for %d positions of dim %d", len(hidden), n, cfg.Dim)
	}
	if start < 0 || start > s.len {
		return fmt.Errorf("model: forward: start position %d but the session holds %d positions", start, s.len)
	}
	if start+n > s.maxLen {
		return fmt.Errorf("model: forward: positions up to %d exceed the session limit of %d", start+n, s.maxLen)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s.ensure(start + n)
	s.len = start
	sc := &m.scratch
	sc.prepare(cfg, n)
	sc.grow(&sc.scores, start+n)
	m.ropeTables(sc, start, n)
	if tr != nil {
		tr.reset(cfg, m.Range.First, len(m.layers), start, n)
	}
	for li := range m.layers {
		m.forwardLayer(li, s, start, hidden, n, tr)
	}
	s.len = start + n
	return nil
}

func (m *Model) forwardLayer(li int, s *Session, start int, h []float32, n int, tr *Trace) {
	cfg := m.Config
	l := &m.layers[li]
	sc := &m.scratch
	dim, kvDim, qDim := cfg.Dim, cfg.KVDim(), cfg.Heads*cfg.HeadDim
	tr.record(li, n, dim, h, func(c *Cell) []float32 { return c.H })

	for p := 0; p < n; p++ {
		rmsNorm(sc.x[p*dim:(p+1)*dim], h[p*dim:(p+1)*dim], l.attnNorm, cfg.NormEps)
	}
	tr.record(li, n, dim, sc.x, func(c *Cell) []float32 { return c.X1 })
	m.pool.MatMul(sc.q, l.wq, sc.x, n)
	kNew := s.k[li][start*kvDim : (start+n)*kvDim]
	vNew := s.v[li][start*kvDim : (start+n)*kvDim]
	m.pool.MatMul(kNew, l.wk, sc.x, n)
	m.pool.MatMul(vNew, l.wv, sc.x, n)
	if l.bq != nil {
		addRows(sc.q, l.bq)
		addRows(kNew, l.bk)
		addRows(vNew, l.bv)
	}
	for p := 0; p < n; p++ {
		m.rope(sc, p, sc.q[p*qDim:(p+1)*qDim], cfg.Heads)
		m.rope(sc, p, kNew[p*kvDim:(p+1)*kvDim], cfg.KVHeads)
	}
	tr.record(li, n, qDim, sc.q, func(c *Cell) []float32 { return c.Q })
	tr.record(li, n, kvDim, kNew, func(c *Cell) []float32 { return c.K })
	tr.record(li, n, kvDim, vNew, func(c *Cell) []float32 { return c.V })
	for p := 0; p < n; p++ {
		attention(sc.att[p*qDim:(p+1)*qDim], sc.q[p*qDim:(p+1)*qDim], s.k[li], s.v[li], start+p+1, cfg, sc.scores)
	}
	tr.record(li, n, qDim, sc.att, func(c *Cell) []float32 { return c.Att })
	m.pool.MatMul(sc.o, l.wo, sc.att, n)
	tr.record(li, n, dim, sc.o, func(c *Cell) []float32 { return c.O })
	addInto(h, sc.o)

	for p := 0; p < n; p++ {
		rmsNorm(sc.x[p*dim:(p+1)*dim], h[p*dim:(p+1)*dim], l.ffnNorm, cfg.NormEps)
	}
	tr.record(li, n, dim, sc.x, func(c *Cell) []float32 { return c.X2 })
	m.pool.MatMul(sc.gate, l.wGate, sc.x, n)
	m.pool.MatMul(sc.up, l.wUp, sc.x, n)
	tr.record(li, n, cfg.FF, sc.gate, func(c *Cell) []float32 { return c.Gate })
	tr.record(li, n, cfg.FF, sc.up, func(c *Cell) []float32 { return c.Up })
	SwiGLU(sc.gate, sc.gate, sc.up)
	m.pool.MatMul(sc.o, l.wDown, sc.gate, n)
	tr.record(li, n, dim, sc.o, func(c *Cell) []float32 { return c.Down })
	addInto(h, sc.o)
}

// scratch holds the buffers of one forward pass, reused across calls so
// decoding allocates nothing per token.
type scratch struct {
	x, q, att, o, gate, up []float32
	scores                 []float32
	cos, sin               []float32 // n × RopeDim/2
	headIn                 []float32
}

func (sc *scratch) grow(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n, max(n, 2*cap(*buf)))
	}
	*buf = (*buf)[:n]
	return *buf
}

func (sc *scratch) prepare(cfg Config, n int) {
	qDim := cfg.Heads * cfg.HeadDim
	sc.grow(&sc.x, n*cfg.Dim)
	sc.grow(&sc.q, n*qDim)
	sc.grow(&sc.att, n*qDim)
	sc.grow(&sc.o, n*cfg.Dim)
	sc.grow(&sc.gate, n*cfg.FF)
	sc.grow(&sc.up, n*cfg.FF)
	sc.grow(&sc.cos, n*cfg.RopeDim/2)
	sc.grow(&sc.sin, n*cfg.RopeDim/2)
}

// ropeTables computes the rotation of every pair for positions
// start..start+n-1 once per forward pass; every layer and head reuses them.
// The angle follows ggml: theta_i = pos·scale·base^(-2i/d) / freqFactor_i,
// with the per-pair power accumulated in float32 as ggml does.
func (m *Model) ropeTables(sc *scratch, start, n int) {
	cfg := m.Config
	half := cfg.RopeDim / 2
	thetaScale := float32(math.Pow(cfg.RopeBase, -2.0/float64(cfg.RopeDim)))
	for p := 0; p < n; p++ {
		theta := float32(start + p)
		for i := 0; i < half; i++ {
			t := theta
			if m.ropeFreqs != nil {
				t /= m.ropeFreqs[i]
			}
			t *= float32(cfg.RopeScale)
			sin, cos := math.Sincos(float64(t))
			sc.cos[p*half+i] = float32(cos)
			sc.sin[p*half+i] = float32(sin)
			theta *= thetaScale
		}
	}
}

// rope rotates the first RopeDim dimensions of each head of v (heads ×
// HeadDim) for the p-th position of the current pass.
func (m *Model) rope(sc *scratch, p int, v []float32, heads int) {
	cfg := m.Config
	half := cfg.RopeDim / 2
	cos := sc.cos[p*half : (p+1)*half]
	sin := sc.sin[p*half : (p+1)*half]
	for h := 0; h < heads; h++ {
		x := v[h*cfg.HeadDim : (h+1)*cfg.HeadDim]
		for i := 0; i < half; i++ {
			a, b := 2*i, 2*i+1
			if cfg.RopeNeox {
				a, b = i, i+half
			}
			x0, x1 := x[a], x[b]
			x[a] = x0*cos[i] - x1*sin[i]
			x[b] = x0*sin[i] + x1*cos[i]
		}
	}
}

// attention computes causal multi-head attention for one query position
// over the first t cached positions, with grouped-query sharing of K/V heads.
func attention(out, q, kCache, vCache []float32, t int, cfg Config, scores []float32) {
	hd := cfg.HeadDim
	kvDim := cfg.KVDim()
	group := cfg.Heads / cfg.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	scores = scores[:t]
	for h := 0; h < cfg.Heads; h++ {
		qh := q[h*hd : (h+1)*hd]
		kvOff := (h / group) * hd
		maxScore := float32(math.Inf(-1))
		for j := 0; j < t; j++ {
			kj := kCache[j*kvDim+kvOff : j*kvDim+kvOff+hd]
			var dot float32
			for d, qv := range qh {
				dot += qv * kj[d]
			}
			s := dot * scale
			scores[j] = s
			if s > maxScore {
				maxScore = s
			}
		}
		var sum float64
		for j := range scores {
			e := float32(math.Exp(float64(scores[j] - maxScore)))
			scores[j] = e
			sum += float64(e)
		}
		inv := float32(1 / sum)
		oh := out[h*hd : (h+1)*hd]
		clear(oh)
		for j := 0; j < t; j++ {
			w := scores[j] * inv
			vj := vCache[j*kvDim+kvOff : j*kvDim+kvOff+hd]
			for d := range oh {
				oh[d] += w * vj[d]
			}
		}
	}
}

// rmsNorm writes x / sqrt(mean(x²) + eps) · w into dst.
func rmsNorm(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	scale := float32(1 / math.Sqrt(float64(float32(ss/float64(len(x)))+eps)))
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

func addInto(dst, src []float32) {
	for i := range dst {
		dst[i] += src[i]
	}
}

// addRows adds bias to every row of m.
func addRows(m, bias []float32) {
	for off := 0; off < len(m); off += len(bias) {
		addInto(m[off:off+len(bias)], bias)
	}
}
