package route

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/model"
)

func r(a, b int) model.Range { return model.Range{First: a, Last: b} }

func span(peer string, a, b int, tp float64) Span {
	return Span{Peer: peer, Range: r(a, b), Throughput: tp}
}

func ones(n int, v uint64) []uint64 {
	c := make([]uint64, n)
	for i := range c {
		c[i] = v
	}
	return c
}

func TestChooseRange(t *testing.T) {
	cases := []struct {
		name string
		req  ChooseRequest
		want model.Range
	}{
		{
			name: "empty swarm, no budget: everything",
			req:  ChooseRequest{Layers: 8},
			want: r(0, 8),
		},
		{
			name: "empty swarm, budget of 3 layers: the first 3",
			req:  ChooseRequest{Layers: 8, Costs: ones(8, 10), Budget: 35},
			want: r(0, 3),
		},
		{
			name: "the gap wins over any covered layer",
			req: ChooseRequest{Layers: 6, Costs: ones(6, 1), Budget: 2,
				Spans: []Span{span("a", 0, 2, 1), span("b", 4, 6, 1)}},
			want: r(2, 4),
		},
		{
			name: "a gap at the end: the longest range ending there",
			req: ChooseRequest{Layers: 6, Costs: ones(6, 1), Budget: 3,
				Spans: []Span{span("a", 0, 5, 9)}},
			want: r(3, 6),
		},
		{
			name: "least-served range (Petals' rule)",
			req: ChooseRequest{Layers: 9, Costs: ones(9, 1), Budget: 3,
				Spans: []Span{span("a", 0, 3, 10), span("b", 3, 6, 2), span("c", 6, 9, 10), span("d", 0, 9, 1)}},
			want: r(3, 6),
		},
		{
			name: "weakest layer first, then the next weakest",
			// per-layer: 5 5 1 3 3 1 4 4
			req: ChooseRequest{Layers: 8, MaxLayers: 2,
				Spans: []Span{span("a", 0, 2, 5), span("b", 2, 3, 1), span("c", 3, 5, 3), span("d", 5, 6, 1), span("e", 6, 8, 4)}},
			// windows holding a 1: [1,3)=(1,5) [2,4)=(1,3) [4,6)=(1,3) [5,7)=(1,4): ties go to the lowest start
			want: r(2, 4),
		},
		{
			name: "uneven layer sizes: the range is as long as the budget allows at that start",
			req: ChooseRequest{Layers: 6, Costs: []uint64{5, 5, 1, 1, 1, 5}, Budget: 4,
				Spans: []Span{span("a", 0, 2, 1), span("b", 5, 6, 1)}},
			want: r(2, 5),
		},
		{
			name: "within a slice file's layers",
			req: ChooseRequest{Layers: 8, Within: r(4, 8),
				Spans: []Span{span("a", 0, 4, 1)}},
			want: r(4, 8),
		},
		{
			name: "unmeasured nodes still cover",
			req: ChooseRequest{Layers: 4, MaxLayers: 2,
				Spans: []Span{span("a", 0, 2, 0)}},
			want: r(2, 4),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ChooseRange(c.req)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("ChooseRange = %s, want %s", got, c.want)
			}
		})
	}
}

func TestChooseRangeErrors(t *testing.T) {
	_, err := ChooseRange(ChooseRequest{Layers: 4, Costs: ones(4, 100), Budget: 99})
	if !errors.Is(err, ErrNoFit) || !strings.Contains(err.Error(), "needs 100") {
		t.Errorf("budget below one layer: %v", err)
	}
	for _, req := range []ChooseRequest{
		{Layers: 0},
		{Layers: 4, Budget: 10, Costs: ones(3, 1)},
		{Layers: 4, Within: r(2, 6)},
		{Layers: 4, MaxLayers: -1},
	} {
		if _, err := ChooseRange(req); err == nil {
			t.Errorf("ChooseRange(%+v) succeeded", req)
		}
	}
}

func TestRebalance(t *testing.T) {
	cases := []struct {
		name    string
		req     RebalanceRequest
		move    bool
		to      model.Range
		because string
	}{
		{
			name: "already best",
			req: RebalanceRequest{Choose: ChooseRequest{Layers: 6, MaxLayers: 3, Spans: []Span{span("a", 0, 3, 5)}},
				Current: r(3, 6), Throughput: 5},
			to: r(3, 6), because: "already",
		},
		{
			name: "badly unbalanced: a duplicate of a well-served range moves to the starved one",
			req: RebalanceRequest{Choose: ChooseRequest{Layers: 6, MaxLayers: 3,
				Spans: []Span{span("a", 0, 3, 10), span("b", 3, 6, 1)}},
				Current: r(0, 3), Throughput: 10},
			move: true, to: r(3, 6), because: "raises",
		},
		{
			name: "slightly unbalanced: stays",
			// others: 0:3 at 10, 3:6 at 9, so 3:6 is the best place; but
			// before: 20 | 9 → 9, after: 10 | 19 → 10: not a third better.
			req: RebalanceRequest{Choose: ChooseRequest{Layers: 6, MaxLayers: 3,
				Spans: []Span{span("a", 0, 3, 10), span("b", 3, 6, 9)}},
				Current: r(0, 3), Throughput: 10},
			to: r(0, 3), because: "staying",
		},
		{
			name: "gain below the quality threshold: stays",
			// before: 0:3 = 4+4 = 8, 3:6 = 6 → 6; after: 0:3 = 4, 3:6 = 10 → 4.
			// Choose says 0:3 (it is the least served without us), so
			// we are already there.
			req: RebalanceRequest{Choose: ChooseRequest{Layers: 6, MaxLayers: 3,
				Spans: []Span{span("a", 0, 3, 4), span("b", 3, 6, 6)}},
				Current: r(0, 3), Throughput: 4},
			to: r(0, 3), because: "already",
		},
		{
			name: "never opens a gap",
			// we are the only server of 0:2; the longer gap 4:7 is the
			// best place, but moving there would uncover 0:2
			req: RebalanceRequest{Choose: ChooseRequest{Layers: 7, MaxLayers: 3,
				Spans: []Span{span("a", 2, 4, 100)}},
				Current: r(0, 2), Throughput: 100},
			to: r(0, 2), because: "unserved",
		},
		{
			name: "fills a gap when its own layers stay covered",
			req: RebalanceRequest{Choose: ChooseRequest{Layers: 6, MaxLayers: 2,
				Spans: []Span{span("a", 0, 4, 5)}},
				Current: r(0, 2), Throughput: 5},
			move: true, to: r(4, 6), because: "covers 2 unserved",
		},
		{
			name: "custom quality: a 25% gain moves at quality 0.9",
			// others: 0:3 at 10, 3:6 at 6; self 2 at 0:3. before: 12 | 6 → 6;
			// after (self at 3:6): 10 | 8 → 8. 6 < 0.9×8 = 7.2 → move; at 0.75 (6 < 6) no.
			req: RebalanceRequest{Choose: ChooseRequest{Layers: 6, MaxLayers: 3,
				Spans: []Span{span("a", 0, 3, 10), span("b", 3, 6, 6)}},
				Current: r(0, 3), Throughput: 2, Quality: 0.9},
			move: true, to: r(3, 6), because: "raises",
		},
		{
			name: "same at the default quality: stays",
			req: RebalanceRequest{Choose: ChooseRequest{Layers: 6, MaxLayers: 3,
				Spans: []Span{span("a", 0, 3, 10), span("b", 3, 6, 6)}},
				Current: r(0, 3), Throughput: 2},
			to: r(0, 3), because: "staying",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Rebalance(c.req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Move != c.move || d.To != c.to || !strings.Contains(d.Reason, c.because) {
				t.Errorf("Rebalance = %+v, want move=%v to %s because %q", d, c.move, c.to, c.because)
			}
		})
	}
	if _, err := Rebalance(RebalanceRequest{Choose: ChooseRequest{Layers: 4}, Current: r(0, 2), Quality: 1.5}); err == nil {
		t.Error("quality 1.5 accepted")
	}
	if _, err := Rebalance(RebalanceRequest{Choose: ChooseRequest{Layers: 4}, Current: r(3, 5)}); err == nil {
		t.Error("current range past the model accepted")
	}
}

// TestRebalanceConverges runs rounds of nodes re-checking in turn from a
// badly skewed start (everyone on the first third) and checks that the
// swarm settles (no moves in a full round) with every layer covered, within
// a bounded number of rounds.
func TestRebalanceConverges(t *testing.T) {
	const layers = 9
	spans := []Span{span("a", 0, 3, 4), span("b", 0, 3, 3), span("c", 0, 3, 5), span("d", 0, 3, 2), span("e", 3, 6, 1), span("f", 6, 9, 1)}
	for round := range 10 {
		moved := false
		for i := range spans {
			others := slices.Delete(slices.Clone(spans), i, i+1)
			d, err := Rebalance(RebalanceRequest{Choose: ChooseRequest{Layers: layers, MaxLayers: 3, Spans: others},
				Current: spans[i].Range, Throughput: spans[i].Throughput})
			if err != nil {
				t.Fatal(err)
			}
			if d.Move {
				spans[i].Range = d.To
				moved = true
			}
		}
		if !moved {
			b := BalanceOf(spans, layers)
			if b.Uncovered != 0 || b.Bottleneck < 4 {
				t.Fatalf("settled after %d rounds at %+v: %v", round, b, spans)
			}
			return
		}
	}
	t.Fatalf("no settlement after 10 rounds: %v", spans)
}

func TestSegmentsAndGaps(t *testing.T) {
	spans := []Span{span("b", 0, 3, 2), span("a", 0, 2, 1), span("c", 5, 7, 4)}
	segs := Segments(spans, 8)
	want := []struct {
		r     model.Range
		peers string
		tp    float64
	}{{r(0, 2), "a,b", 3}, {r(2, 3), "b", 2}, {r(3, 5), "", 0}, {r(5, 7), "c", 4}, {r(7, 8), "", 0}}
	if len(segs) != len(want) {
		t.Fatalf("segments %+v", segs)
	}
	for i, w := range want {
		s := segs[i]
		if s.Range != w.r || strings.Join(s.Peers, ",") != w.peers || s.Throughput != w.tp || s.Gap() != (w.peers == "") {
			t.Errorf("segment %d = %+v, want %+v", i, s, w)
		}
	}
	if g := Gaps(spans, 8); !slices.Equal(g, []model.Range{r(3, 5), r(7, 8)}) {
		t.Errorf("gaps %v", g)
	}
	if b := BalanceOf(spans, 8); b.Uncovered != 3 || b.Bottleneck != 2 {
		t.Errorf("balance %+v", b)
	}
	if b := BalanceOf(nil, 3); b.Uncovered != 3 || b.Bottleneck != 0 {
		t.Errorf("empty balance %+v", b)
	}
}

func TestChooseRangeAligned(t *testing.T) {
	spans := []Span{span("a", 0, 2, 10), span("b", 2, 5, 3)}
	// Unaligned, Petals' rule takes the longest range holding the gap.
	free := ChooseRequest{Layers: 6, MaxLayers: 3, Spans: spans}
	if got, _ := ChooseRange(free); got != r(3, 6) {
		t.Errorf("unaligned: %s, want 3:6", got)
	}
	// Aligned, it starts where b ends, so whole-range hops can use it.
	free.Aligned = true
	if got, _ := ChooseRange(free); got != r(5, 6) {
		t.Errorf("aligned: %s, want 5:6", got)
	}
	// With 4 layers of budget, 2:6 starts on a boundary and holds the gap
	// and the weak 2:5 too.
	free.MaxLayers = 4
	if got, _ := ChooseRange(free); got != r(2, 6) {
		t.Errorf("aligned, 4 layers: %s, want 2:6", got)
	}
	// Within 0:4 (a slice file): from 0 the end is cut back to 2, where
	// b starts; from 2 no span starts within reach, so 2:4, the weaker.
	free.Within = r(0, 4)
	if got, _ := ChooseRange(free); got != r(2, 4) {
		t.Errorf("aligned within 0:4: %s, want 2:4", got)
	}
	// With only one span the gap after it is reachable.
	one := ChooseRequest{Layers: 6, MaxLayers: 3, Aligned: true, Spans: []Span{span("a", 0, 2, 10)}}
	if got, _ := ChooseRange(one); got != r(2, 5) {
		t.Errorf("aligned after 0:2: %s, want 2:5", got)
	}
	free.Within = model.Range{}
	// An empty swarm: boundaries 0 and L only; a budget short of L gives
	// no aligned range, so any range is chosen.
	if got, _ := ChooseRange(ChooseRequest{Layers: 6, MaxLayers: 2, Aligned: true}); got != r(0, 2) {
		t.Errorf("aligned in an empty swarm: %s, want 0:2", got)
	}
	// A starved aligned range beats a starved unaligned one.
	req := ChooseRequest{Layers: 6, MaxLayers: 3, Aligned: true,
		Spans: []Span{span("a", 0, 3, 10), span("b", 3, 6, 1), span("c", 0, 6, 1)}}
	if got, _ := ChooseRange(req); got != r(3, 6) {
		t.Errorf("aligned least served: %s, want 3:6", got)
	}
}
