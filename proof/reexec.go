package proof

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/tessera-net/tessera/model"
)

// ReexecStep is one forward call to re-execute: the node's receipt and the
// input hidden state the client sent (Output, the node's answer, is
// optional and only used to report how far it is from the recomputation).
type ReexecStep struct {
	Receipt *Receipt
	Input   []float32
	Output  []float32
}

// ReexecResult is the outcome of a spot re-execution (level L2).
type ReexecResult struct {
	Steps int // steps re-executed
	// Mismatch is the first step whose output differs from the receipt's
	// H(out), or -1.
	Mismatch int
	// RelDev is the relative L2 distance between the node's output and the
	// recomputation at Mismatch (when the step's Output was given).
	RelDev float64
	// TraceMismatch is the first step whose trace root differs from the
	// receipt's (the output may still match), or -1.
	TraceMismatch int
}

// OK reports whether every output and trace root matched exactly.
func (r *ReexecResult) OK() bool { return r.Mismatch < 0 && r.TraceMismatch < 0 }

// Reexecute re-runs a session's forward calls, steps 0, 1, … in order, on
// m (which must hold exactly the receipts' layers) from a fresh session,
// and compares every output and trace root with the receipts, bit for bit:
// the kernels are deterministic for any thread count, so an honest node on
// the same instruction set gives the same bits. The receipts must form a
// chain (CheckSequence), the inputs must hash to their H(in) and the
// outputs given to their H(out); a mismatch returns evidence that anyone
// holding the weights can re-check.
func Reexecute(m *model.Model, steps []ReexecStep) (*ReexecResult, *Evidence, error) {
	return ReexecuteContext(context.Background(), m, steps)
}

// ReexecuteContext is Reexecute, stopping between steps with ctx's error
// once ctx is done.
func ReexecuteContext(ctx context.Context, m *model.Model, steps []ReexecStep) (*ReexecResult, *Evidence, error) {
	if len(steps) == 0 {
		return nil, nil, errors.New("proof: nothing to re-execute")
	}
	rs := make([]*Receipt, len(steps))
	for i, s := range steps {
		rs[i] = s.Receipt
	}
	if err := CheckSequence(rs[0].Key, rs); err != nil {
		return nil, nil, err
	}
	if layerRange(rs[0]) != m.Range {
		return nil, nil, fmt.Errorf("proof: the receipts cover layers %d:%d, the model holds %s", rs[0].First, rs[0].Last, m.Range)
	}
	dim := m.Config.Dim
	for i, s := range steps {
		r := s.Receipt
		if s.Output != nil && (len(s.Output) != r.N*dim || HiddenRoot(s.Output, r.N, dim) != r.HOut) {
			return nil, nil, fmt.Errorf("proof: step %d: the output given does not hash to the receipt's H(out)", i)
		}
	}
	res := &ReexecResult{Mismatch: -1, TraceMismatch: -1}
	f, err := replay(ctx, m, rs, func(i int) []float32 { return steps[i].Input }, func(i int, out []float32) {
		if o := steps[i].Output; o != nil && len(o) == len(out) {
			var d, n float64
			for k := range out {
				d += float64(sq(float64(o[k]) - float64(out[k])))
				n += float64(sq(float64(out[k])))
			}
			res.RelDev = math.Sqrt(d / max(n, math.SmallestNonzeroFloat64))
		}
	}, res)
	if err != nil {
		return nil, nil, err
	}
	if f == nil {
		return res, nil, nil
	}
	ev := &Evidence{Kind: EvidenceReexec, Model: rs[0].Model, Finding: *f, Receipts: rs[:f.Step+1]}
	for i := 0; i <= int(f.Step); i++ {
		ev.Inputs = append(ev.Inputs, steps[i].Input)
	}
	return res, ev, nil
}

func sq(x float64) float64 { return x * x }

// replay runs the receipts' calls and returns the first mismatch.
func replay(ctx context.Context, m *model.Model, rs []*Receipt, input func(int) []float32, onMismatch func(int, []float32), res *ReexecResult) (*Finding, error) {
	dim := m.Config.Dim
	maxLen := 1
	for _, r := range rs {
		maxLen = max(maxLen, r.Start+r.N)
	}
	s, err := m.NewSession(maxLen)
	if err != nil {
		return nil, err
	}
	var tr model.Trace
	for i, r := range rs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("proof: re-execution stopped before step %d: %w", i, err)
		}
		in := input(i)
		if len(in) != r.N*dim {
			return nil, fmt.Errorf("proof: step %d: input of %d values, want %d", i, len(in), r.N*dim)
		}
		if HiddenRoot(in, r.N, dim) != r.HIn {
			return nil, fmt.Errorf("proof: step %d: the input does not hash to the receipt's H(in)", i)
		}
		if r.Start > s.Len() {
			return nil, fmt.Errorf("proof: step %d starts at position %d after %d", i, r.Start, s.Len())
		}
		h := append([]float32(nil), in...)
		if err := m.ForwardTrace(s, r.Start, h, r.N, &tr); err != nil {
			return nil, err
		}
		for k := range h {
			h[k] = RoundDType(h[k], r.DType)
		}
		if res != nil {
			res.Steps = i + 1
		}
		if HiddenRoot(h, r.N, dim) != r.HOut {
			if res != nil {
				res.Mismatch = i
			}
			if onMismatch != nil {
				onMismatch(i, h)
			}
			return &Finding{Equation: EqReexec, Step: r.Step, Layer: r.First, Pos: r.Start, Value: 1, Detail: "the output differs from the receipt's H(out)"}, nil
		}
		tc, err := CommitTrace(&tr)
		if err != nil {
			return nil, err
		}
		if tc.Root() != r.TraceRoot {
			if res != nil {
				res.TraceMismatch = i
			}
			return &Finding{Equation: EqReexec, Step: r.Step, Layer: r.First, Pos: r.Start, Value: 1, Detail: "the output matches but the trace root differs"}, nil
		}
	}
	return nil, nil
}

// checkReexec re-runs re-execution evidence with the weights.
func (w *Weights) checkReexec(e *Evidence, rs []*Receipt) (*Finding, error) {
	if len(e.Inputs) != len(rs) {
		return nil, fmt.Errorf("proof: re-execution evidence holds %d inputs for %d receipts", len(e.Inputs), len(rs))
	}
	m, err := w.Model(layerRange(rs[0]))
	if err != nil {
		return nil, err
	}
	f, err := replay(context.Background(), m, rs, func(i int) []float32 { return e.Inputs[i] }, nil, nil)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, fmt.Errorf("%w: every step re-executes to the receipts' outputs and trace roots", ErrNotProven)
	}
	return f, nil
}
