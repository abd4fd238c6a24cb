package model

import (
	"fmt"
	"math"

	"github.com/tessera-net/tessera/kernels"
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
	// cap is the positions the cache has room for. Per loaded layer, kt
	// holds the keys transposed, KVHeads × HeadDim rows of cap values
	// (value d of head g at position j at kt[(g*HeadDim+d)*cap+j]), so that
	// attention scores a query against consecutive positions with vector
	// code; v holds the values by position (positions × KVDim).
	cap   int
	kt, v [][]float32
}

// NewSession starts an empty sequence of at most maxLen positions.
func (m *Model) NewSession(maxLen int) (*Session, error) {
	if maxLen <= 0 {
		return nil, fmt.Errorf("model: session length %d must be positive", maxLen)
	}
	n := len(m.layers)
	return &Session{model: m, maxLen: maxLen, kt: make([][]float32, n), v: make([][]float32, n)}, nil
}

// Len is the number of positions held in the KV cache.
func (s *Session) Len() int { return s.len }

// MaxLen is the most positions the session accepts.
func (s *Session) MaxLen() int { return s.maxLen }

// Reserve grows the KV cache to hold n positions (at most MaxLen) now, and
// touches its memory, so that the steps up to n neither copy the cache
// nor fault its pages in: a caller that knows how long a session will
// get (a benchmark, a request with a token limit) pays for it up front.
func (s *Session) Reserve(n int) {
	s.ensure(min(n, s.maxLen))
	// Fresh memory from the OS is only mapped on first touch: write a
	// zero into every 4 KiB page, in the slots past Len (the pages of
	// the slots before it are mapped already).
	kvDim := s.model.Config.KVDim()
	for i := range s.kt {
		for j := 0; j < len(s.kt[i]); j += 1024 {
			if j%s.cap >= s.len {
				s.kt[i][j] = 0
			}
		}
		for j := s.len * kvDim; j < len(s.v[i]); j += 1024 {
			s.v[i][j] = 0
		}
	}
}

// ensure grows the cache to hold n positions, doubling to amortise copies.
func (s *Session) ensure(n int) {
	if n <= s.cap {
		return
	}
	kvDim := s.model.Config.KVDim()
	c := min(max(n, 2*s.cap, 16), s.maxLen)
	for i := range s.kt {
		nk := make([]float32, kvDim*c)
		for r := 0; r < kvDim; r++ {
			copy(nk[r*c:r*c+s.len], s.kt[i][r*s.cap:r*s.cap+s.len])
		}
		nv := make([]float32, c*kvDim)
		copy(nv, s.v[i][:s.len*kvDim])
		s.kt[i], s.v[i] = nk, nv
	}
	s.cap = c
}

// storeKeys writes the keys of n positions from start (n × KVDim, by
// position) into layer li's transposed cache.
func (s *Session) storeKeys(li, start, n int, k []float32) {
	kvDim := s.model.Config.KVDim()
	kt := s.kt[li]
	for r := 0; r < kvDim; r++ {
		row := kt[r*s.cap+start : r*s.cap+start+n]
		for p := range row {
			row[p] = k[p*kvDim+r]
		}
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
	m.par.init()
	sc.prepare(cfg, n)
	sc.grow(&sc.scores, cfg.Heads*(start+n))
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
	tr.record(li, n, cellH, h)

	for p := 0; p < n; p++ {
		rmsNorm(sc.x[p*dim:(p+1)*dim], h[p*dim:(p+1)*dim], l.attnNorm, cfg.NormEps)
	}
	tr.record(li, n, cellX1, sc.x)
	vNew := s.v[li][start*kvDim : (start+n)*kvDim]
	if l.wqkv.Rows > 0 {
		// One product for q, k and v: per position [q | k | v].
		w := qDim + 2*kvDim
		m.pool.MatMul(sc.qkv, l.wqkv, sc.x, n)
		for p := 0; p < n; p++ {
			row := sc.qkv[p*w : (p+1)*w]
			copy(sc.q[p*qDim:(p+1)*qDim], row[:qDim])
			copy(sc.k[p*kvDim:(p+1)*kvDim], row[qDim:qDim+kvDim])
			copy(vNew[p*kvDim:(p+1)*kvDim], row[qDim+kvDim:])
		}
	} else {
		m.pool.MatMul(sc.q, l.wq, sc.x, n)
		m.pool.MatMul(sc.k, l.wk, sc.x, n)
		m.pool.MatMul(vNew, l.wv, sc.x, n)
	}
	if l.bq != nil {
		addRows(sc.q, l.bq)
		addRows(sc.k, l.bk)
		addRows(vNew, l.bv)
	}
	for p := 0; p < n; p++ {
		m.rope(sc, p, sc.q[p*qDim:(p+1)*qDim], cfg.Heads)
		m.rope(sc, p, sc.k[p*kvDim:(p+1)*kvDim], cfg.KVHeads)
	}
	tr.record(li, n, cellQ, sc.q)
	tr.record(li, n, cellK, sc.k)
	tr.record(li, n, cellV, vNew)
	s.storeKeys(li, start, n, sc.k)
	m.attentionAll(sc, s.kt[li], s.cap, s.v[li], start, n)
	tr.record(li, n, cellAtt, sc.att)
	m.pool.MatMul(sc.o, l.wo, sc.att, n)
	tr.record(li, n, cellO, sc.o)
	addInto(h, sc.o)

	for p := 0; p < n; p++ {
		rmsNorm(sc.x[p*dim:(p+1)*dim], h[p*dim:(p+1)*dim], l.ffnNorm, cfg.NormEps)
	}
	tr.record(li, n, cellX2, sc.x)
	ff := cfg.FF
	switch {
	case l.wGateUp.Rows == 0:
		m.pool.MatMul(sc.gate, l.wGate, sc.x, n)
		m.pool.MatMul(sc.up, l.wUp, sc.x, n)
	case tr != nil:
		// The trace wants gate and up each by position.
		m.pool.MatMul(sc.gu, l.wGateUp, sc.x, n)
		for p := 0; p < n; p++ {
			copy(sc.gate[p*ff:(p+1)*ff], sc.gu[2*p*ff:(2*p+1)*ff])
			copy(sc.up[p*ff:(p+1)*ff], sc.gu[(2*p+1)*ff:(2*p+2)*ff])
		}
	default:
		// Per position [gate | up]: SwiGLU reads them in place.
		m.pool.MatMul(sc.gu, l.wGateUp, sc.x, n)
		m.swiGLU(sc.gate, sc.gu[:n*2*ff], ff, ff)
	}
	if l.wGateUp.Rows == 0 || tr != nil {
		tr.record(li, n, cellGate, sc.gate)
		tr.record(li, n, cellUp, sc.up)
		m.swiGLU(sc.gate, sc.gate, ff, 0)
	}
	m.pool.MatMul(sc.o, l.wDown, sc.gate, n)
	tr.record(li, n, cellDown, sc.o)
	addInto(h, sc.o)
}

// swiGLU writes SwiGLU of the n positions into dst (n × ff): position p's
// gate is src[p*stride : p*stride+ff] and its up is sc.up's row p when
// upOff is 0, or src[p*stride+upOff : …+ff] otherwise (fused gate/up rows,
// stride 2·ff). It spreads the positions' values over the pool's threads:
// each value is computed alone, so the split does not change the bits.
func (m *Model) swiGLU(dst, src []float32, ff, upOff int) {
	j := &m.par.glu
	j.dst, j.src, j.up, j.ff, j.upOff = dst, src, m.scratch.up, ff, upOff
	m.pool.Parallel(len(dst), swiGLUGrain, m.par.gluFn)
	*j = gluJob{}
}

// gluJob is the state of one swiGLU call, read by Model.par.gluFn (a
// closure made once, so that decoding does not allocate one per call).
type gluJob struct {
	dst, src, up []float32
	ff, upOff    int
}

func (j *gluJob) run(lo, hi int) {
	ff := j.ff
	stride := len(j.src) / (len(j.dst) / ff)
	for lo < hi {
		p, i := lo/ff, lo%ff
		e := min(ff, i+hi-lo)
		g := j.src[p*stride+i : p*stride+e]
		var u []float32
		if j.upOff > 0 {
			u = j.src[p*stride+j.upOff+i : p*stride+j.upOff+e]
		} else {
			u = j.up[p*ff+i : p*ff+e]
		}
		SwiGLU(j.dst[p*ff+i:p*ff+e], g, u)
		lo += e - i
	}
}

// Parallel grains: the least work worth handing to another thread
// (variables so that tests can force the parallel paths on small models).
var (
	swiGLUGrain = 4096    // values (an exp each)
	attnGrain   = 1 << 16 // multiply-adds of a forward's attention
)

// attnJob is the state of one attentionAll call, read by Model.par.attnFn.
type attnJob struct {
	sc       *scratch
	kt, v    []float32
	ldk      int
	start, n int
	cfg      Config
	scale    float32
}

// run computes heads [lo, hi) for every position of the pass.
func (j *attnJob) run(lo, hi int) {
	cfg, sc := j.cfg, j.sc
	hd := cfg.HeadDim
	qDim := cfg.Heads * hd
	maxT := j.start + j.n
	group := cfg.Heads / cfg.KVHeads
	for h := lo; h < hi; h++ {
		g := h / group
		scores := sc.scores[h*maxT : (h+1)*maxT]
		for p := 0; p < j.n; p++ {
			o := p*qDim + h*hd
			attendHead(sc.att[o:o+hd], sc.q[o:o+hd], j.kt[g*hd*j.ldk:], j.ldk, j.v[g*hd:], cfg.KVDim(), j.start+p+1, j.scale, scores)
		}
	}
}

// parJobs holds the model's elementwise work handed to Pool.Parallel.
type parJobs struct {
	attn   attnJob
	attnFn func(lo, hi int)
	glu    gluJob
	gluFn  func(lo, hi int)
}

func (p *parJobs) init() {
	if p.attnFn == nil {
		p.attnFn = p.attn.run
		p.gluFn = p.glu.run
	}
}

// attentionAll computes attention for the n positions of the pass from
// sc.q into sc.att, over layer caches kt (transposed, stride ldk) and v,
// spreading the heads over the pool's threads. Each head's outputs are
// computed by one thread in a fixed order, so the split does not change
// the bits.
func (m *Model) attentionAll(sc *scratch, kt []float32, ldk int, v []float32, start, n int) {
	cfg := m.Config
	j := &m.par.attn
	*j = attnJob{sc: sc, kt: kt, v: v, ldk: ldk, start: start, n: n, cfg: cfg,
		scale: float32(1 / math.Sqrt(float64(cfg.HeadDim)))}
	if work := n * (start + n) * cfg.Heads * cfg.HeadDim; work < attnGrain {
		j.run(0, cfg.Heads)
	} else {
		m.pool.Parallel(cfg.Heads, 1, m.par.attnFn)
	}
	*j = attnJob{}
}

// scratch holds the buffers of one forward pass, reused across calls so
// decoding allocates nothing per token.
type scratch struct {
	x, q, k, att, o, gate, up []float32
	qkv, gu                   []float32 // outputs of the joined products
	scores                    []float32 // Heads × positions
	cos, sin                  []float32 // n × RopeDim/2
	headIn                    []float32
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
	sc.grow(&sc.k, n*cfg.KVDim())
	sc.grow(&sc.qkv, n*(qDim+2*cfg.KVDim()))
	sc.grow(&sc.att, n*qDim)
	sc.grow(&sc.o, n*cfg.Dim)
	sc.grow(&sc.gate, n*cfg.FF)
	sc.grow(&sc.up, n*cfg.FF)
	sc.grow(&sc.gu, n*2*cfg.FF)
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
			// float32() keeps each product rounded: Go may fuse a
			// multiply-add (it does on arm64), which would change the bits.
			x[a] = float32(x0*cos[i]) - float32(x1*sin[i])
			x[b] = float32(x0*sin[i]) + float32(x1*cos[i])
		}
	}
}

// attention computes causal multi-head attention for one query position
// over the first t cached positions (kCache and vCache by position, t ×
// KVDim), with grouped-query sharing of K/V heads. It lays the keys out
// as the session cache holds them and computes exactly as Forward does.
func attention(out, q, kCache, vCache []float32, t int, cfg Config, scores []float32) {
	hd, kvDim := cfg.HeadDim, cfg.KVDim()
	group := cfg.Heads / cfg.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	kt := make([]float32, kvDim*t)
	for j := 0; j < t; j++ {
		for r := 0; r < kvDim; r++ {
			kt[r*t+j] = kCache[j*kvDim+r]
		}
	}
	for h := 0; h < cfg.Heads; h++ {
		g := h / group
		attendHead(out[h*hd:(h+1)*hd], q[h*hd:(h+1)*hd], kt[g*hd*t:], t, vCache[g*hd:], kvDim, t, scale, scores)
	}
}

// attendHead computes one head's attention output out (HeadDim values)
// for query q over the first t positions: keys transposed in kt (value d
// of position j at kt[d*ldk+j]) and values by position in v (position j
// at v[j*ldv:]). scores needs room for t values. The arithmetic is
// float32 in a fixed order (kernels.ScoresT, ExpShift and AddWeightedRows
// give the same bits on every CPU): score_j = (q·k_j)·scale, softmax with
// the sum of the exponentials in float64, then out = Σ_j (e_j·(1/sum))·v_j.
func attendHead(out, q, kt []float32, ldk int, v []float32, ldv, t int, scale float32, scores []float32) {
	scores = scores[:t]
	kernels.ScoresT(scores, q, kt, ldk)
	maxScore := float32(math.Inf(-1))
	for j, d := range scores {
		s := d * scale
		scores[j] = s
		if s > maxScore {
			maxScore = s
		}
	}
	kernels.ExpShift(scores, scores, maxScore)
	var sum float64
	for _, e := range scores {
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for j := range scores {
		scores[j] *= inv
	}
	clear(out)
	kernels.AddWeightedRows(out, scores, v, ldv)
}

// rmsNorm writes x / sqrt(mean(x²) + eps) · w into dst.
func rmsNorm(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(float64(v) * float64(v)) // rounded product: no fused multiply-add
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
