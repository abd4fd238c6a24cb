package proof

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tessera-net/tessera/model"
)

// Trace retention defaults of a TraceStore.
const (
	DefaultTraceWindow = 16       // forward calls whose full traces are kept
	DefaultTraceBytes  = 64 << 20 // bound on the bytes of full traces kept
)

// ErrGone is wrapped by TraceStore.Open's error for a cell whose vectors
// are no longer retained (outside the window, or recomputed since).
var ErrGone = errors.New("proof: trace no longer retained")

// TraceStore is what a node keeps of one session's traces to answer
// openings: the full traces of its most recent forward calls (a bounded
// window), and for every position the keys and values of its latest
// computation with that step's commitment, since auditing attention at any
// later position needs them. The keys and values cost as much memory as
// the session's KV cache. Not safe for concurrent use.
type TraceStore struct {
	// Window is the number of most recent forward calls whose full traces
	// are kept (0: DefaultTraceWindow); the newest is always kept.
	Window int
	// MaxBytes bounds the bytes of full traces kept (0: DefaultTraceBytes).
	MaxBytes int64
	// Parallel runs the hashing of each commitment (nil: goroutines); a
	// node passes its kernel pool's.
	Parallel Parallel
	// Recycle, if set, supplies trace buffers and takes back those that
	// leave the window or are released: a node shares one across its
	// sessions.
	Recycle *TracePool

	steps   map[uint64]*storedStep
	order   []uint64 // steps holding full traces, oldest first
	bytes   int64
	posStep []uint64
	k, v    [][]float32 // per layer: positions × KVDim
	kvDim   int
	free    []*model.Trace
}

type storedStep struct {
	step  uint64
	tc    *TraceCommitment
	trace *model.Trace // nil once out of the window
	live  int          // positions whose latest computation is this step
	bytes int64
}

// NewTrace returns a trace to record the next forward call into, one of
// need bytes (model.TraceBytes) if it can, reusing one that left the
// window or, from Recycle, another session's.
func (s *TraceStore) NewTrace(need int64) *model.Trace {
	for i, t := range s.free {
		if t.Capacity() >= need {
			s.free = slices.Delete(s.free, i, i+1)
			return t
		}
	}
	return s.Recycle.Get(need)
}

// Release hands every trace the store holds to its Recycle pool and
// empties the store; it must not be used afterwards. A node calls it when
// the session ends.
func (s *TraceStore) Release() {
	for _, st := range s.steps {
		if st.trace != nil {
			s.Recycle.Put(st.trace)
			st.trace = nil
		}
	}
	for _, t := range s.free {
		s.Recycle.Put(t)
	}
	*s = TraceStore{}
}

// Add commits the trace of forward call step (which computed tr's
// positions) and keeps it; the store owns tr from now on. It returns the
// commitment, whose Root goes into the receipt.
func (s *TraceStore) Add(step uint64, cfg model.Config, tr *model.Trace) (*TraceCommitment, error) {
	tc, err := CommitTraceOn(tr, s.Parallel)
	if err != nil {
		return nil, err
	}
	if err := s.Keep(step, cfg, tr, tc); err != nil {
		return nil, err
	}
	return tc, nil
}

// Keep is Add for a trace already committed with CommitTrace (tc), so that
// a node can hash a call's trace on another goroutine while the store
// serves openings of earlier calls; the store owns tr from now on.
func (s *TraceStore) Keep(step uint64, cfg model.Config, tr *model.Trace, tc *TraceCommitment) error {
	if tc.First != tr.FirstLayer || tc.Layers != tr.Layers || tc.Start != tr.Start || tc.N != tr.N {
		return fmt.Errorf("proof: commitment of step %d is not the trace's", step)
	}
	if s.steps == nil {
		s.steps = map[uint64]*storedStep{}
		s.kvDim = cfg.KVDim()
		s.k = make([][]float32, tr.Layers)
		s.v = make([][]float32, tr.Layers)
	}
	if _, dup := s.steps[step]; dup || len(s.k) != tr.Layers {
		return fmt.Errorf("proof: trace of step %d added twice or with another shape", step)
	}
	end := tr.Start + tr.N
	// Positions from tr.Start are recomputed by this step.
	for j := tr.Start; j < len(s.posStep); j++ {
		s.release(s.posStep[j])
	}
	if len(s.posStep) > tr.Start {
		s.posStep = s.posStep[:tr.Start]
	}
	for len(s.posStep) < end {
		s.posStep = append(s.posStep, step)
	}
	for li := 0; li < tr.Layers; li++ {
		if need := end * s.kvDim; len(s.k[li]) < need {
			s.k[li] = grow(s.k[li], need)
			s.v[li] = grow(s.v[li], need)
		}
		for p := tr.Start; p < end; p++ {
			c, _ := tr.Cell(tr.FirstLayer+li, p)
			copy(s.k[li][p*s.kvDim:], c.K)
			copy(s.v[li][p*s.kvDim:], c.V)
		}
	}
	st := &storedStep{step: step, tc: tc, trace: tr, live: tr.N, bytes: int64(tr.Layers*tr.N) * int64(cellBytes(cfg))}
	s.steps[step] = st
	s.order = append(s.order, step)
	s.bytes += st.bytes
	s.evict()
	return nil
}

func cellBytes(c model.Config) int {
	n := 0
	for k := 0; k < NumVecs; k++ {
		n += 4 * VecLen(c, k)
	}
	return n
}

func grow(b []float32, n int) []float32 {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]float32, n, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// release drops one live position of step, forgetting the step when
// nothing refers to it.
func (s *TraceStore) release(step uint64) {
	st := s.steps[step]
	if st == nil {
		return
	}
	st.live--
	if st.live <= 0 && st.trace == nil {
		delete(s.steps, step)
	}
}

// evict moves the oldest full traces out of the window.
func (s *TraceStore) evict() {
	window := s.Window
	if window <= 0 {
		window = DefaultTraceWindow
	}
	limit := s.MaxBytes
	if limit <= 0 {
		limit = DefaultTraceBytes
	}
	for len(s.order) > 1 && (len(s.order) > window || s.bytes > limit) {
		old := s.steps[s.order[0]]
		s.order = s.order[1:]
		s.bytes -= old.bytes
		if len(s.free) < 2 {
			s.free = append(s.free, old.trace)
		} else {
			s.Recycle.Put(old.trace)
		}
		old.trace = nil
		if old.live <= 0 {
			delete(s.steps, old.step)
		}
	}
}

// Open answers references: full vectors from traces in the window, keys
// and values of any position from the latest step that computed it.
func (s *TraceStore) Open(refs []CellRef) ([]*CellOpening, error) {
	out := make([]*CellOpening, 0, len(refs))
	for _, ref := range refs {
		st := s.steps[ref.Step]
		if st == nil {
			return nil, fmt.Errorf("%w: step %d", ErrGone, ref.Step)
		}
		tc := st.tc
		if tc.Index(ref.Layer, ref.Pos) < 0 {
			return nil, fmt.Errorf("proof: cell (%d, %d) is not in step %d (layers %d+%d, positions %d+%d)",
				ref.Layer, ref.Pos, ref.Step, tc.First, tc.Layers, tc.Start, tc.N)
		}
		var vecs [NumVecs][]float32
		switch {
		case st.trace != nil:
			c, err := st.trace.Cell(ref.Layer, ref.Pos)
			if err != nil {
				return nil, err
			}
			vecs = CellVectors(c)
		case ref.Mask&^MaskKV == 0 && ref.Pos < len(s.posStep) && s.posStep[ref.Pos] == ref.Step:
			li, p := ref.Layer-tc.First, ref.Pos
			vecs[VecK] = s.k[li][p*s.kvDim : (p+1)*s.kvDim]
			vecs[VecV] = s.v[li][p*s.kvDim : (p+1)*s.kvDim]
		default:
			return nil, fmt.Errorf("%w: vectors of cell (%d, %d) of step %d", ErrGone, ref.Layer, ref.Pos, ref.Step)
		}
		o, err := Open(tc, ref.Step, ref, vecs)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Retained reports the steps whose full traces are kept and the bytes
// they hold.
func (s *TraceStore) Retained() (steps int, bytes int64) { return len(s.order), s.bytes }

// DefaultTracePoolBytes bounds the trace buffers a TracePool keeps.
const DefaultTracePoolBytes = DefaultTraceBytes

// TracePool keeps trace buffers that sessions no longer need, for other
// sessions to record into. Without it every session allocates its first
// window of traces anew: for a node serving 1B-shape layers, megabytes
// zeroed per session on the decode path, and garbage the collector must
// then mark and sweep while the kernel threads run. Safe for concurrent
// use; the nil pool keeps nothing.
type TracePool struct {
	// MaxBytes bounds the capacity of the buffers kept (0:
	// DefaultTracePoolBytes); buffers beyond it are left to the garbage
	// collector.
	MaxBytes int64

	mu     sync.Mutex
	free   []*model.Trace
	bytes  int64
	reused uint64
}

// Get returns the smallest kept trace buffer of at least need bytes, or
// else the largest (recording grows it), or a new one.
func (p *TracePool) Get(need int64) *model.Trace {
	if p == nil {
		return new(model.Trace)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		return new(model.Trace)
	}
	i, _ := slices.BinarySearchFunc(p.free, need, func(e *model.Trace, c int64) int { return cmp.Compare(e.Capacity(), c) })
	i = min(i, len(p.free)-1)
	t := p.free[i]
	p.free = slices.Delete(p.free, i, i+1)
	p.bytes -= t.Capacity()
	p.reused++
	return t
}

// Put keeps t for a later Get if the bound allows; the caller must not
// use t afterwards.
func (p *TracePool) Put(t *model.Trace) {
	if p == nil || t == nil {
		return
	}
	limit := p.MaxBytes
	if limit <= 0 {
		limit = DefaultTracePoolBytes
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+t.Capacity() > limit {
		return
	}
	p.bytes += t.Capacity()
	// Kept in order of capacity, so that Get finds the best fit.
	i, _ := slices.BinarySearchFunc(p.free, t.Capacity(), func(e *model.Trace, c int64) int { return cmp.Compare(e.Capacity(), c) })
	p.free = slices.Insert(p.free, i, t)
}

// Kept reports the buffers the pool holds and their bytes.
func (p *TracePool) Kept() (traces int, bytes int64) {
	if p == nil {
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free), p.bytes
}

// Reused reports how many buffers Get has handed out again.
func (p *TracePool) Reused() uint64 {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reused
}
