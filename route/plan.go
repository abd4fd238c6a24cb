package route

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tessera-net/tessera/model"
)

// Candidate is a node a client may route through.
type Candidate struct {
	Peer string // peer id
	// Operator is who runs the node; "" means the node is its own operator.
	Operator string
	Range    model.Range // layers served
	// Throughput is the node's announced tokens/s through Range; zero or
	// less means not measured.
	Throughput float64
	// RTT is the measured round-trip time to the node; zero means not
	// measured.
	RTT time.Duration
	// FreeSlots is the announced number of sessions the node can open now:
	// a node announcing 0 is used only when nothing else covers its
	// layers; negative means unknown.
	FreeSlots int
	// Exact marks a node that serves sessions only for its whole Range
	// (forward protocol version 1): even with PlanRequest.Subranges, a hop
	// on it computes all of Range.
	Exact bool
}

// Op returns the candidate's operator: Operator, or Peer when empty.
func (c Candidate) Op() string { return cmpOr(c.Operator, c.Peer) }

// Defaults for what was not measured.
const (
	// DefaultUnmeasuredRTT stands for the RTT of a candidate not yet
	// pinged.
	DefaultUnmeasuredRTT = 100 * time.Millisecond
	// DefaultUnmeasuredLayerTime stands for the per-token compute time of
	// one layer of a candidate that announced no throughput.
	DefaultUnmeasuredLayerTime = 20 * time.Millisecond
)

// PlanRequest asks for a chain of nodes computing layers [From, To).
type PlanRequest struct {
	From, To   int
	Candidates []Candidate
	// Exclude lists peers not to use (dead, timed out, failed a check).
	Exclude []string
	// PrevOperator and NextOperator are the operators of the hops just
	// before From and just after To ("" if none, or when those hops run on
	// the client), when routing a replacement for part of a chain: the
	// plan avoids placing a hop of the same operator next to them.
	PrevOperator, NextOperator string
	// Subranges lets a hop compute any contiguous part of a candidate's
	// range (unless the candidate is Exact); otherwise each hop computes a
	// candidate's whole range, as a node serving exactly its range
	// requires.
	Subranges bool
	// UnmeasuredRTT and UnmeasuredLayerTime replace what was not measured
	// (0: DefaultUnmeasuredRTT, DefaultUnmeasuredLayerTime).
	UnmeasuredRTT       time.Duration
	UnmeasuredLayerTime time.Duration
}

// Hop is one node of a planned chain.
type Hop struct {
	Peer     string
	Operator string      // the candidate's operator (Op)
	Range    model.Range // layers this hop computes
	// Latency is the hop's estimated per-token time: RTT plus the compute
	// time of Range at the announced throughput.
	Latency time.Duration
}

// Route is a planned chain.
type Route struct {
	Hops    []Hop
	Latency time.Duration // summed estimated per-token latency of the hops
	// SameOperator counts adjacent hops run by one operator, including
	// against PrevOperator and NextOperator; it is non-zero only when no
	// route without such a pair exists.
	SameOperator int
	// Busy counts hops on candidates that announced no free slot; it is
	// non-zero only when no route avoiding them exists.
	Busy int
}

// UncoveredError is Plan's error when the candidates cannot cover the
// layers asked for; Missing is the first range that cannot be routed.
type UncoveredError struct {
	From, To int
	Missing  model.Range
	// Served lists the ranges the usable candidates serve, sorted.
	Served []model.Range
	// StartsInside is set when, without sub-ranges, some candidate serves
	// layer Missing.First but none starts there.
	StartsInside bool
	// EndsBeyond is set when, without sub-ranges, the candidates starting
	// at Missing.First all serve layers past To.
	EndsBeyond bool
}

func (e *UncoveredError) Error() string {
	served := "nothing"
	if len(e.Served) > 0 {
		parts := make([]string, len(e.Served))
		for i, r := range e.Served {
			parts[i] = r.String()
		}
		served = strings.Join(parts, ", ")
	}
	if e.StartsInside {
		return fmt.Sprintf("route: cannot cover layers %d:%d: no node's range starts at layer %d, so layers %s cannot be routed (nodes serve %s, and each hop computes a node's whole range)",
			e.From, e.To, e.Missing.First, e.Missing, served)
	}
	if e.EndsBeyond {
		return fmt.Sprintf("route: cannot cover layers %d:%d: the nodes starting at layer %d all serve past layer %d, so layers %s cannot be routed (nodes serve %s, and each hop computes a node's whole range)",
			e.From, e.To, e.Missing.First, e.To, e.Missing, served)
	}
	return fmt.Sprintf("route: cannot cover layers %d:%d: no node serves layers %s (nodes serve %s)", e.From, e.To, e.Missing, served)
}

// cost orders routes: fewest busy hops, then fewest same-operator
// neighbours, then least latency, then fewest hops.
type cost struct {
	busy, same int
	lat        time.Duration
	hops       int
}

func (a cost) compare(b cost) int {
	return cmp.Or(cmp.Compare(a.busy, b.busy), cmp.Compare(a.same, b.same), cmp.Compare(a.lat, b.lat), cmp.Compare(a.hops, b.hops))
}

// label is a partial route ending at a layer boundary.
type label struct {
	cost cost
	op   string // operator of the last hop ("" at the start without PrevOperator)
	hop  Hop
	prev *label
}

// Plan returns the chain covering [From, To) with the least estimated
// per-token latency (each hop: RTT + its layers' share of the candidate's
// range at the announced throughput), never putting two adjacent hops on
// one operator, nor a hop on a busy candidate, when a route without exists.
// Ties go to fewer hops, then to candidates in (range, peer) order. The
// error is an *UncoveredError naming the first range no usable candidate
// can route.
//
// The layers form a DAG of boundaries From..To; Plan keeps, per boundary,
// the best partial route and the best one ending on another operator, which
// is all an operator-adjacency cost needs. Cost O((To-From) · edges), where
// edges is the number of candidates (times the range length with
// Subranges).
func Plan(req PlanRequest) (Route, error) {
	if req.From < 0 || req.To <= req.From {
		return Route{}, fmt.Errorf("route: cannot plan layers %d:%d", req.From, req.To)
	}
	rtt0 := cmp.Or(req.UnmeasuredRTT, DefaultUnmeasuredRTT)
	layer0 := cmp.Or(req.UnmeasuredLayerTime, DefaultUnmeasuredLayerTime)
	cands := usable(req)

	labels := make([][]*label, req.To-req.From+1)
	labels[0] = []*label{{op: req.PrevOperator}}
	for p := req.From; p < req.To; p++ {
		for _, l := range labels[p-req.From] {
			for _, c := range cands {
				sub := req.Subranges && !c.Exact
				if c.Range.First > p || c.Range.Last <= p || (!sub && c.Range.First != p) {
					continue
				}
				if !sub && c.Range.Last > req.To {
					continue
				}
				lastB := min(c.Range.Last, req.To)
				firstB := lastB
				if sub {
					firstB = p + 1
				}
				for b := firstB; b <= lastB; b++ {
					h := Hop{Peer: c.Peer, Operator: c.Op(), Range: model.Range{First: p, Last: b}}
					h.Latency = hopLatency(c, b-p, rtt0, layer0)
					nc := l.cost
					nc.lat += h.Latency
					nc.hops++
					if c.FreeSlots == 0 {
						nc.busy++
					}
					if l.op != "" && l.op == h.Operator {
						nc.same++
					}
					if b == req.To && req.NextOperator != "" && req.NextOperator == h.Operator {
						nc.same++
					}
					i := b - req.From
					labels[i] = keepBest(labels[i], &label{cost: nc, op: h.Operator, hop: h, prev: l})
				}
			}
		}
	}
	end := labels[req.To-req.From]
	if len(end) == 0 {
		return Route{}, uncovered(req, cands)
	}
	best := end[0]
	r := Route{Latency: best.cost.lat, SameOperator: best.cost.same, Busy: best.cost.busy}
	for l := best; l.prev != nil; l = l.prev {
		r.Hops = append(r.Hops, l.hop)
	}
	slices.Reverse(r.Hops)
	return r, nil
}

// usable returns the candidates with a sensible range that are not
// excluded, in (range, peer) order.
func usable(req PlanRequest) []Candidate {
	var out []Candidate
	for _, c := range req.Candidates {
		if c.Peer == "" || c.Range.First < 0 || c.Range.Len() <= 0 || slices.Contains(req.Exclude, c.Peer) {
			continue
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(a.Range.First, b.Range.First), cmp.Compare(a.Range.Last, b.Range.Last), strings.Compare(a.Peer, b.Peer))
	})
	return out
}

// hopLatency estimates a hop computing n layers of c per token.
func hopLatency(c Candidate, n int, rtt0, layer0 time.Duration) time.Duration {
	rtt := c.RTT
	if rtt <= 0 {
		rtt = rtt0
	}
	tp := rate(c.Throughput)
	if tp == 0 {
		return rtt + time.Duration(n)*layer0
	}
	sec := float64(n) / (float64(c.Range.Len()) * tp)
	return rtt + time.Duration(min(sec*1e9, math.MaxInt64/4))
}

// keepBest adds l to the labels of one boundary and keeps only the best
// label and the best one whose operator differs from the best's: any
// extension is at least as cheap from one of those two. Earlier labels win
// ties.
func keepBest(ls []*label, l *label) []*label {
	all := append(ls, l)
	best := all[0]
	for _, x := range all[1:] {
		if x.cost.compare(best.cost) < 0 {
			best = x
		}
	}
	var second *label
	for _, x := range all {
		if x != best && x.op != best.op && (second == nil || x.cost.compare(second.cost) < 0) {
			second = x
		}
	}
	if second == nil {
		return []*label{best}
	}
	return []*label{best, second}
}

// uncovered explains why no route reaches req.To.
func uncovered(req PlanRequest, cands []Candidate) *UncoveredError {
	// Furthest boundary reachable, ignoring costs.
	reach := make([]bool, req.To-req.From+1)
	reach[0] = true
	far := req.From
	for p := req.From; p < req.To; p++ {
		if !reach[p-req.From] {
			continue
		}
		far = p
		for _, c := range cands {
			sub := req.Subranges && !c.Exact
			if c.Range.First > p || c.Range.Last <= p || (!sub && (c.Range.First != p || c.Range.Last > req.To)) {
				continue
			}
			for b := p + 1; b <= min(c.Range.Last, req.To); b++ {
				if sub || b == c.Range.Last {
					reach[b-req.From] = true
				}
			}
		}
	}
	e := &UncoveredError{From: req.From, To: req.To, Missing: model.Range{First: far, Last: req.To}}
	for _, c := range cands {
		sub := req.Subranges && !c.Exact
		e.Served = append(e.Served, c.Range)
		if c.Range.First > far && c.Range.First < e.Missing.Last {
			e.Missing.Last = c.Range.First
		}
		if !sub && c.Range.First < far && far < c.Range.Last {
			e.StartsInside = true
		}
		if !sub && c.Range.First == far && c.Range.Last > req.To {
			e.EndsBeyond = true
		}
	}
	e.Served = slices.Compact(e.Served)
	return e
}
