package route

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

func cand(peer, op string, a, b int, tp float64, rtt time.Duration) Candidate {
	return Candidate{Peer: peer, Operator: op, Range: r(a, b), Throughput: tp, RTT: rtt, FreeSlots: -1}
}

func hops(rt Route) string {
	var parts []string
	for _, h := range rt.Hops {
		parts = append(parts, fmt.Sprintf("%s@%s", h.Peer, h.Range))
	}
	return strings.Join(parts, " ")
}

func TestPlan(t *testing.T) {
	cases := []struct {
		name string
		req  PlanRequest
		want string
		same int
		busy int
	}{
		{
			name: "single node",
			req:  PlanRequest{From: 0, To: 4, Candidates: []Candidate{cand("a", "", 0, 4, 10, ms)}},
			want: "a@0:4",
		},
		{
			name: "min latency: two fast hops beat one slow node",
			req: PlanRequest{From: 0, To: 4, Candidates: []Candidate{
				cand("slow", "", 0, 4, 2, ms), // 500 ms/token
				cand("a", "", 0, 2, 20, ms),   // 50 ms
				cand("b", "", 2, 4, 20, ms),   // 50 ms
			}},
			want: "a@0:2 b@2:4",
		},
		{
			name: "min latency: RTT counts",
			req: PlanRequest{From: 0, To: 4, Candidates: []Candidate{
				cand("far", "", 0, 4, 100, 300*ms),
				cand("a", "", 0, 2, 100, 10*ms),
				cand("b", "", 2, 4, 100, 10*ms),
				cand("c", "", 2, 4, 100, 50*ms),
			}},
			want: "a@0:2 b@2:4",
		},
		{
			name: "no two consecutive hops on one operator when an alternative exists",
			req: PlanRequest{From: 0, To: 4, Candidates: []Candidate{
				cand("a", "alice", 0, 2, 100, ms),
				cand("b", "alice", 2, 4, 100, ms),    // fastest, but alice again
				cand("c", "carol", 2, 4, 10, 200*ms), // much slower
			}},
			want: "a@0:2 c@2:4",
		},
		{
			name: "the operator defaults to the peer",
			req: PlanRequest{From: 0, To: 4, Subranges: true, Candidates: []Candidate{
				cand("a", "", 0, 4, 1000, ms), // using it twice in a row is never chosen
				cand("b", "", 2, 3, 1, ms),
			}},
			want: "a@0:4",
		},
		{
			name: "same operator only when nothing else exists",
			req: PlanRequest{From: 0, To: 4, Candidates: []Candidate{
				cand("a", "alice", 0, 2, 100, ms),
				cand("b", "alice", 2, 4, 100, ms),
			}},
			want: "a@0:2 b@2:4", same: 1,
		},
		{
			name: "replacement next to the previous and next hops' operators",
			req: PlanRequest{From: 2, To: 4, PrevOperator: "alice", NextOperator: "bob", Candidates: []Candidate{
				cand("a2", "alice", 2, 4, 1000, ms),
				cand("b2", "bob", 2, 4, 1000, ms),
				cand("c", "carol", 2, 4, 1, 100*ms),
			}},
			want: "c@2:4",
		},
		{
			name: "a replacement may take several nodes",
			req: PlanRequest{From: 2, To: 6, Candidates: []Candidate{
				cand("x", "", 2, 3, 10, ms), cand("y", "", 3, 6, 10, ms), cand("z", "", 0, 6, 10, ms),
			}},
			want: "x@2:3 y@3:6",
		},
		{
			name: "excluded peers are not used",
			req: PlanRequest{From: 0, To: 2, Exclude: []string{"a"}, Candidates: []Candidate{
				cand("a", "", 0, 2, 100, ms), cand("b", "", 0, 2, 1, 100*ms),
			}},
			want: "b@0:2",
		},
		{
			name: "busy nodes only as a last resort",
			req: PlanRequest{From: 0, To: 2, Candidates: []Candidate{
				{Peer: "a", Range: r(0, 2), Throughput: 100, RTT: ms, FreeSlots: 0},
				{Peer: "b", Range: r(0, 2), Throughput: 1, RTT: 100 * ms, FreeSlots: 3},
			}},
			want: "b@0:2",
		},
		{
			name: "a busy node when nothing else covers",
			req: PlanRequest{From: 0, To: 2, Candidates: []Candidate{
				{Peer: "a", Range: r(0, 2), Throughput: 100, RTT: ms, FreeSlots: 0},
			}},
			want: "a@0:2", busy: 1,
		},
		{
			name: "sub-ranges of overlapping nodes",
			req: PlanRequest{From: 0, To: 6, Subranges: true, Candidates: []Candidate{
				cand("a", "", 0, 4, 10, ms), cand("b", "", 2, 6, 20, ms),
			}},
			// a@0:2 = 1+50 ms, b@2:6 = 1+50 ms: 102 ms; a@0:4 b@4:6 = 101+26 ms
			want: "a@0:2 b@2:6",
		},
		{
			name: "a node of protocol version 1 serves only its whole range",
			req: PlanRequest{From: 0, To: 6, Subranges: true, Candidates: []Candidate{
				{Peer: "old", Range: r(0, 4), Throughput: 10, RTT: ms, FreeSlots: -1, Exact: true},
				cand("a", "", 0, 2, 1, 500*ms), cand("b", "", 2, 6, 20, ms),
			}},
			// old@0:2 would be cheapest, but old computes 0:4 or nothing.
			want: "old@0:4 b@4:6",
		},
		{
			name: "unmeasured nodes cost the defaults",
			req: PlanRequest{From: 0, To: 2, Candidates: []Candidate{
				cand("u", "", 0, 2, 0, 0),      // 100 + 2×20 = 140 ms
				cand("m", "", 0, 2, 10, 90*ms), // 90 + 100 = 190 ms
			}},
			want: "u@0:2",
		},
		{
			name: "ties: fewer hops",
			req: PlanRequest{From: 0, To: 2, Candidates: []Candidate{
				// a+b: 2×(100+20) ms; d: 200 + 2×20 ms
				cand("a", "", 0, 1, 0, 0), cand("b", "", 1, 2, 0, 0), cand("d", "", 0, 2, 0, 200*ms),
			}},
			want: "d@0:2",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt, err := Plan(c.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := hops(rt); got != c.want || rt.SameOperator != c.same || rt.Busy != c.busy {
				t.Errorf("Plan = %s (same %d, busy %d), want %s (same %d, busy %d)", got, rt.SameOperator, rt.Busy, c.want, c.same, c.busy)
			}
			var sum time.Duration
			for i, h := range rt.Hops {
				sum += h.Latency
				if i > 0 && h.Range.First != rt.Hops[i-1].Range.Last {
					t.Errorf("hops not contiguous: %s", hops(rt))
				}
			}
			if sum != rt.Latency || rt.Hops[0].Range.First != c.req.From || rt.Hops[len(rt.Hops)-1].Range.Last != c.req.To {
				t.Errorf("route %s latency %v (hops sum %v) does not cover %d:%d", hops(rt), rt.Latency, sum, c.req.From, c.req.To)
			}
		})
	}
}

func TestPlanUncovered(t *testing.T) {
	cases := []struct {
		name string
		req  PlanRequest
		want string
	}{
		{
			name: "nothing",
			req:  PlanRequest{From: 0, To: 4},
			want: "no node serves layers 0:4 (nodes serve nothing)",
		},
		{
			name: "a hole in the middle",
			req:  PlanRequest{From: 0, To: 8, Candidates: []Candidate{cand("a", "", 0, 3, 1, 0), cand("b", "", 5, 8, 1, 0)}},
			want: "no node serves layers 3:5 (nodes serve 0:3, 5:8)",
		},
		{
			name: "the end",
			req:  PlanRequest{From: 0, To: 8, Subranges: true, Candidates: []Candidate{cand("a", "", 0, 6, 1, 0)}},
			want: "no node serves layers 6:8",
		},
		{
			name: "the only node there is excluded",
			req:  PlanRequest{From: 0, To: 4, Exclude: []string{"b"}, Candidates: []Candidate{cand("a", "", 0, 2, 1, 0), cand("b", "", 2, 4, 1, 0)}},
			want: "no node serves layers 2:4",
		},
		{
			name: "served, but no range starts at the boundary",
			req:  PlanRequest{From: 0, To: 6, Candidates: []Candidate{cand("a", "", 0, 3, 1, 0), cand("b", "", 2, 6, 1, 0)}},
			want: "no node's range starts at layer 3, so layers 3:6 cannot be routed",
		},
		{
			name: "a replacement cannot use a node serving past its end",
			req:  PlanRequest{From: 2, To: 4, Candidates: []Candidate{cand("a", "", 2, 6, 1, 0)}},
			want: "serve past layer 4, so layers 2:4 cannot be routed",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Plan(c.req)
			var ue *UncoveredError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Plan error = %v, want an *UncoveredError containing %q", err, c.want)
			}
		})
	}
	if _, err := Plan(PlanRequest{From: 3, To: 3}); err == nil {
		t.Error("empty range planned")
	}
}

// TestPlanScale keeps planning fast with many nodes and sub-ranges.
func TestPlanScale(t *testing.T) {
	var cands []Candidate
	for i := range 300 {
		a := (i * 7) % 80
		cands = append(cands, cand(fmt.Sprintf("p%03d", i), fmt.Sprintf("op%d", i%40), a, min(a+8+i%5, 80), float64(1+i%9), time.Duration(1+i%50)*ms))
	}
	rt, err := Plan(PlanRequest{From: 0, To: 80, Subranges: true, Candidates: cands})
	if err != nil {
		t.Fatal(err)
	}
	if rt.SameOperator != 0 || len(rt.Hops) == 0 {
		t.Errorf("route %s same %d", hops(rt), rt.SameOperator)
	}
}

// BenchmarkPlan: planning over 300 nodes of an 80-layer model, whole ranges
// and sub-ranges (the routing overhead of a session start or a failover).
func BenchmarkPlan(b *testing.B) {
	var cands []Candidate
	for i := range 300 {
		a := (i * 7) % 80
		cands = append(cands, cand(fmt.Sprintf("p%03d", i), fmt.Sprintf("op%d", i%40), a, min(a+8+i%5, 80), float64(1+i%9), time.Duration(1+i%50)*ms))
	}
	for _, sub := range []bool{false, true} {
		b.Run(fmt.Sprintf("subranges=%v", sub), func(b *testing.B) {
			for b.Loop() {
				if _, err := Plan(PlanRequest{From: 0, To: 80, Subranges: sub, Candidates: cands}); err != nil && sub {
					b.Fatal(err)
				}
			}
		})
	}
}
