package proof

import (
	"errors"
	"fmt"

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

// NewTrace returns a trace to record the next forward call into, reusing
// one that left the window when possible.
func (s *TraceStore) NewTrace() *model.Trace {
	if n := len(s.free); n > 0 {
		t := s.free[n-1]
		s.free = s.free[:n-1]
		return t
	}
	return new(model.Trace)
}

// Add commits the trace of forward call step (which computed tr's
// positions) and keeps it; the store owns tr from now on. It returns the
// commitment, whose Root goes into the receipt.
func (s *TraceStore) Add(step uint64, cfg model.Config, tr *model.Trace) (*TraceCommitment, error) {
	tc, err := CommitTrace(tr)
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
