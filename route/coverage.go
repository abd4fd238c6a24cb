package route

import (
	"math"
	"slices"
	"strings"

	"github.com/tessera-net/tessera/model"
)

// Span is one node's announced service: the layers it serves and how fast.
type Span struct {
	Peer string // peer id
	// Operator is who runs the node; "" means the node is its own operator
	// (Peer).
	Operator string
	Range    model.Range
	// Throughput is tokens per second through the whole range; zero or
	// less (or not finite) means not measured and counts as zero.
	Throughput float64
}

// Op returns the span's operator: Operator, or Peer when Operator is empty.
func (s Span) Op() string { return cmpOr(s.Operator, s.Peer) }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// rate is a throughput as used in sums: non-finite and negative values
// count as zero.
func rate(t float64) float64 {
	if t > 0 && !math.IsInf(t, 0) {
		return t
	}
	return 0
}

// LayerLoad is what the swarm offers at one layer.
type LayerLoad struct {
	Servers    int     // spans covering the layer
	Throughput float64 // their summed throughput, tokens/s
}

// Loads returns, for each of the model's layers, the spans covering it and
// their summed throughput. Span ranges are clipped to [0, layers).
func Loads(spans []Span, layers int) []LayerLoad {
	loads := make([]LayerLoad, max(layers, 0))
	for _, s := range spans {
		for i := max(s.Range.First, 0); i < min(s.Range.Last, layers); i++ {
			loads[i].Servers++
			loads[i].Throughput += rate(s.Throughput)
		}
	}
	return loads
}

// Segment is a maximal run of layers served by the same set of nodes.
type Segment struct {
	Range      model.Range
	Peers      []string // peers serving every layer of Range, sorted; none for a gap
	Throughput float64  // their summed throughput, tokens/s
}

// Gap reports whether no node serves the segment.
func (s Segment) Gap() bool { return len(s.Peers) == 0 }

// Segments splits [0, layers) into maximal runs of layers served by the
// same set of spans, in layer order. Gaps are segments with no peers.
func Segments(spans []Span, layers int) []Segment {
	if layers <= 0 {
		return nil
	}
	type member struct {
		peer string
		tp   float64
	}
	at := func(i int) []member {
		var ms []member
		for _, s := range spans {
			if s.Range.First <= i && i < s.Range.Last {
				ms = append(ms, member{s.Peer, rate(s.Throughput)})
			}
		}
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.peer, b.peer) })
		return ms
	}
	var out []Segment
	var cur []member
	for i := range layers {
		ms := at(i)
		if i > 0 && slices.Equal(ms, cur) {
			out[len(out)-1].Range.Last = i + 1
			continue
		}
		cur = ms
		seg := Segment{Range: model.Range{First: i, Last: i + 1}}
		for _, m := range ms {
			seg.Peers = append(seg.Peers, m.peer)
			seg.Throughput += m.tp
		}
		out = append(out, seg)
	}
	return out
}

// Gaps returns the maximal ranges of [0, layers) that no span covers, in
// order.
func Gaps(spans []Span, layers int) []model.Range {
	var gaps []model.Range
	for i, l := range Loads(spans, layers) {
		if l.Servers > 0 {
			continue
		}
		if n := len(gaps); n > 0 && gaps[n-1].Last == i {
			gaps[n-1].Last = i + 1
		} else {
			gaps = append(gaps, model.Range{First: i, Last: i + 1})
		}
	}
	return gaps
}

// Balance summarises how well the swarm serves a model.
type Balance struct {
	Uncovered  int     // layers no span covers
	Bottleneck float64 // least summed throughput over the covered layers (0 if none is covered)
}

// BalanceOf returns the balance of spans over [0, layers).
func BalanceOf(spans []Span, layers int) Balance {
	b := Balance{Bottleneck: math.Inf(1)}
	for _, l := range Loads(spans, layers) {
		if l.Servers == 0 {
			b.Uncovered++
			continue
		}
		b.Bottleneck = min(b.Bottleneck, l.Throughput)
	}
	if math.IsInf(b.Bottleneck, 1) {
		b.Bottleneck = 0
	}
	return b
}
