package route

import (
	"errors"
	"fmt"
	"slices"

	"github.com/tessera-net/tessera/model"
)

// ChooseRequest is what a node knows when it picks the layers to serve.
type ChooseRequest struct {
	// Layers is the model's layer count L.
	Layers int
	// Costs are the bytes a node needs to serve each layer (weights, plus
	// any per-layer reserve such as KV cache); len(Costs) == Layers when
	// Budget is set.
	Costs []uint64
	// Budget bounds the summed Costs of the range (0: no bound).
	Budget uint64
	// MaxLayers bounds the range's length (0: no bound).
	MaxLayers int
	// Within is the layers this node is able to load, e.g. those of its
	// slice file (zero: [0, Layers)).
	Within model.Range
	// Spans are the other nodes' announcements (not this node's own).
	Spans []Span
	// Aligned restricts the choice to ranges that start where a chain can
	// arrive (0 or a span's Last) and, when one is within reach, end where
	// a chain can go on (a span's First or Layers), so that clients whose
	// hops compute a node's whole range can route through it. When no
	// aligned range fits, any range is chosen.
	Aligned bool
}

// ErrNoFit is wrapped by ChooseRange's error when the budget holds no
// layer at all.
var ErrNoFit = errors.New("route: memory budget holds no layer")

func (r ChooseRequest) within() (model.Range, error) {
	if r.Layers <= 0 {
		return model.Range{}, fmt.Errorf("route: model has %d layers", r.Layers)
	}
	w := r.Within
	if w == (model.Range{}) {
		w = model.Range{First: 0, Last: r.Layers}
	}
	if w.First < 0 || w.Last > r.Layers || w.Len() <= 0 {
		return model.Range{}, fmt.Errorf("route: layers %s are not a non-empty part of the model's 0:%d", w, r.Layers)
	}
	if r.MaxLayers < 0 {
		return model.Range{}, fmt.Errorf("route: MaxLayers %d is negative", r.MaxLayers)
	}
	if r.Budget > 0 && len(r.Costs) != r.Layers {
		return model.Range{}, fmt.Errorf("route: %d layer costs for a model of %d layers", len(r.Costs), r.Layers)
	}
	return w, nil
}

// longest returns the end of the longest range starting at first that fits
// the budget and the length bound, and stays within w (first itself when
// not even layer first fits).
func (r ChooseRequest) longest(w model.Range, first int) int {
	last := w.Last
	if r.MaxLayers > 0 {
		last = min(last, first+r.MaxLayers)
	}
	if r.Budget == 0 {
		return last
	}
	var sum uint64
	for i := first; i < last; i++ {
		if r.Costs[i] > r.Budget-sum {
			return i
		}
		sum += r.Costs[i]
	}
	return last
}

// ChooseRange picks the contiguous range a node should serve: among the
// longest ranges that fit its budget at each start, the one whose
// per-layer swarm throughputs (uncovered layers first, then by summed
// throughput), sorted ascending, are lexicographically smallest — Petals'
// rule, extended to ranges of unequal length: when one key is a prefix of
// the other, the longer range wins; remaining ties go to the lowest start.
// The error wraps ErrNoFit when the budget holds no layer of Within.
func ChooseRange(req ChooseRequest) (model.Range, error) {
	return chooseRange(req, model.Range{})
}

// chooseRange is ChooseRange, except that prefer wins ties with the best
// range (the rule "stay unless strictly better" of a serving node).
func chooseRange(req ChooseRequest, prefer model.Range) (model.Range, error) {
	w, err := req.within()
	if err != nil {
		return model.Range{}, err
	}
	windows := req.windows(w)
	if len(windows) == 0 && req.Aligned {
		req.Aligned = false
		windows = req.windows(w)
	}
	if len(windows) == 0 {
		smallest := slices.Min(req.Costs[w.First:w.Last])
		return model.Range{}, fmt.Errorf("%w: %d bytes, and the smallest layer of %s needs %d", ErrNoFit, req.Budget, w, smallest)
	}
	values := layerValues(Loads(req.Spans, req.Layers))
	keyOf := func(r model.Range) []float64 {
		key := slices.Clone(values[r.First:r.Last])
		slices.Sort(key)
		return key
	}
	best, bestKey := windows[0], keyOf(windows[0])
	for _, r := range windows[1:] {
		if key := keyOf(r); compareKeys(key, bestKey) < 0 {
			best, bestKey = r, key
		}
	}
	if prefer != best && slices.Contains(windows, prefer) && compareKeys(keyOf(prefer), bestKey) == 0 {
		return prefer, nil
	}
	return best, nil
}

// windows lists, by start, the longest range at each start within w that
// fits the budget; if Aligned, only ranges starting where a chain can
// arrive (0 or a span's Last), cut back to end where a chain can go on
// (a span's First or Layers) when such an end is within reach.
func (r ChooseRequest) windows(w model.Range) []model.Range {
	var starts, ends []int
	if r.Aligned {
		starts, ends = []int{0}, []int{r.Layers}
		for _, s := range r.Spans {
			starts = append(starts, s.Range.Last)
			ends = append(ends, s.Range.First)
		}
	}
	var out []model.Range
	for first := w.First; first < w.Last; first++ {
		last := r.longest(w, first)
		if r.Aligned {
			if !slices.Contains(starts, first) {
				continue
			}
			end := first
			for _, b := range ends {
				if b > end && b <= last {
					end = b
				}
			}
			if end > first {
				last = end
			}
		}
		if last > first {
			out = append(out, model.Range{First: first, Last: last})
		}
	}
	return out
}

// layerValues orders layers by need: an uncovered layer is -1, below any
// covered layer's summed throughput.
func layerValues(loads []LayerLoad) []float64 {
	v := make([]float64, len(loads))
	for i, l := range loads {
		if l.Servers == 0 {
			v[i] = -1
		} else {
			v[i] = l.Throughput
		}
	}
	return v
}

// compareKeys orders sorted throughput keys: lexicographically, except
// that of two keys equal over the shorter one's length, the longer one is
// smaller (it serves strictly more).
func compareKeys(a, b []float64) int {
	for i := range min(len(a), len(b)) {
		switch {
		case a[i] < b[i]:
			return -1
		case a[i] > b[i]:
			return 1
		}
	}
	switch {
	case len(a) > len(b):
		return -1
	case len(a) < len(b):
		return 1
	}
	return 0
}

// DefaultQuality is Rebalance's default quality threshold, as in Petals: a
// node moves when the swarm bottleneck would rise by a third or more.
const DefaultQuality = 0.75

// RebalanceRequest is what a serving node knows when it re-checks its
// place.
type RebalanceRequest struct {
	// Choose describes the model, this node's budget and the other nodes
	// (Choose.Spans must not include this node).
	Choose ChooseRequest
	// Current is the range this node serves now.
	Current model.Range
	// Throughput is this node's measured throughput (tokens/s); an
	// unmeasured node (0) counts as 1 token/s.
	Throughput float64
	// Quality in (0, 1] is how much better the swarm must get to justify a
	// move: the node moves when bottleneck-before < Quality ×
	// bottleneck-after (0: DefaultQuality).
	Quality float64
}

// Decision is Rebalance's answer.
type Decision struct {
	Move   bool
	To     model.Range // the range to serve: the new one, or Current
	Before Balance     // the swarm with this node at Current
	After  Balance     // the swarm with this node at the best range (equal to Before when that is Current)
	Reason string      // why, for logs
}

// Rebalance decides whether a node should leave Current for the range
// ChooseRange picks given the other nodes (Current wins ties). As in
// Petals, it then simulates the other nodes re-checking in turn (each
// keeping its range's length and moving only to a strictly better place,
// never opening a gap), for a bounded number of rounds, and compares the
// swarm before and after. It moves only when
//
//   - its departure leaves every layer of Current that the new range does
//     not cover served by some other node (a move never opens a gap), and
//   - the swarm afterwards covers layers nobody serves now, or its
//     bottleneck rises so that before < Quality × after ("badly
//     unbalanced").
//
// Small gains do not move a node, so nodes that re-check now and then
// settle instead of oscillating.
func Rebalance(req RebalanceRequest) (Decision, error) {
	q := req.Quality
	if q == 0 {
		q = DefaultQuality
	}
	if !(q > 0 && q <= 1) {
		return Decision{}, fmt.Errorf("route: rebalance quality %v is not in (0, 1]", req.Quality)
	}
	c := req.Choose
	if req.Current.First < 0 || req.Current.Last > c.Layers || req.Current.Len() <= 0 {
		return Decision{}, fmt.Errorf("route: current range %s is not a non-empty part of the model's 0:%d", req.Current, c.Layers)
	}
	to, err := chooseRange(c, req.Current)
	if err != nil {
		return Decision{}, err
	}
	tp := rate(req.Throughput)
	if tp == 0 {
		tp = 1
	}
	self := Span{Peer: "\x00self", Range: req.Current, Throughput: tp}
	d := Decision{To: req.Current, Before: BalanceOf(append(slices.Clip(c.Spans), self), c.Layers)}
	d.After = d.Before
	if to == req.Current {
		d.Reason = "already serving the best range " + to.String()
		return d, nil
	}
	if i, ok := opensGap(c.Spans, c.Layers, req.Current, to); ok {
		d.Reason = fmt.Sprintf("staying at %s: moving to %s would leave layer %d unserved", req.Current, to, i)
		return d, nil
	}
	self.Range = to
	d.After = BalanceOf(settle(append(slices.Clone(c.Spans), self), c.Layers, c.Aligned), c.Layers)
	switch {
	case d.After.Uncovered < d.Before.Uncovered:
		d.Move, d.To = true, to
		d.Reason = fmt.Sprintf("moving %s → %s covers %d unserved layers", req.Current, to, d.Before.Uncovered-d.After.Uncovered)
	case d.After.Uncovered == d.Before.Uncovered && d.Before.Bottleneck < q*d.After.Bottleneck:
		d.Move, d.To = true, to
		d.Reason = fmt.Sprintf("moving %s → %s raises the swarm bottleneck from %.3g to %.3g tokens/s", req.Current, to, d.Before.Bottleneck, d.After.Bottleneck)
	default:
		d.Reason = fmt.Sprintf("staying at %s: moving to %s would change the bottleneck only from %.3g to %.3g tokens/s", req.Current, to, d.Before.Bottleneck, d.After.Bottleneck)
	}
	return d, nil
}

// opensGap reports a layer of from, outside to, that no other span covers.
func opensGap(others []Span, layers int, from, to model.Range) (int, bool) {
	loads := Loads(others, layers)
	for i := max(from.First, 0); i < min(from.Last, layers); i++ {
		if (i < to.First || i >= to.Last) && loads[i].Servers == 0 {
			return i, true
		}
	}
	return 0, false
}

// settleRounds bounds the simulated rounds of Rebalance.
const settleRounds = 4

// settle lets each span but the last (the moving node) re-check in turn,
// keeping its length and moving only to a strictly better place that opens
// no gap, until a round moves nobody or settleRounds have passed. It
// returns spans, updated in place.
func settle(spans []Span, layers int, aligned bool) []Span {
	for range settleRounds {
		moved := false
		for i := range len(spans) - 1 {
			s := spans[i]
			if s.Range.Len() <= 0 || s.Range.First < 0 || s.Range.Last > layers {
				continue
			}
			others := slices.Delete(slices.Clone(spans), i, i+1)
			to, err := chooseRange(ChooseRequest{Layers: layers, MaxLayers: s.Range.Len(), Spans: others, Aligned: aligned}, s.Range)
			if err != nil || to == s.Range || to.Len() != s.Range.Len() {
				continue
			}
			if _, gap := opensGap(others, layers, s.Range, to); gap {
				continue
			}
			spans[i].Range = to
			moved = true
		}
		if !moved {
			break
		}
	}
	return spans
}
