package swarm

import (
	"slices"
	"testing"
)

// TestCallLogLatest: the state a log describes follows Forward's
// semantics: each call discards the positions from its start on, then
// appends its own; a call skipping positions changes nothing.
func TestCallLogLatest(t *testing.T) {
	const dim = 2
	v := func(xs ...float32) []float32 { return xs }
	cases := []struct {
		name  string
		calls [][]float32 // start, then n·dim values
		want  []float32
	}{
		{"empty", nil, nil},
		{"prefill and decode", [][]float32{{0, 1, 1, 2, 2}, {2, 3, 3}}, v(1, 1, 2, 2, 3, 3)},
		{"rewind to 1", [][]float32{{0, 1, 1, 2, 2, 3, 3}, {1, 9, 9}}, v(1, 1, 9, 9)},
		{"rewind to 0 then grow", [][]float32{{0, 1, 1, 2, 2}, {0, 7, 7}, {1, 8, 8}}, v(7, 7, 8, 8)},
		{"a skipping call is ignored", [][]float32{{0, 1, 1}, {3, 5, 5}}, v(1, 1)},
	}
	for _, tc := range cases {
		var l callLog
		for _, c := range tc.calls {
			l.add(int(c[0]), (len(c)-1)/dim, 0, c[1:])
		}
		if got := l.latest(len(l.calls), dim); !slices.Equal(got, tc.want) {
			t.Errorf("%s: state %v, want %v", tc.name, got, tc.want)
		}
	}
	// The state after the first k calls.
	var l callLog
	l.add(0, 2, 0, v(1, 1, 2, 2))
	l.add(2, 1, 0, v(3, 3))
	l.add(1, 1, 0, v(4, 4))
	if got := l.latest(2, dim); !slices.Equal(got, v(1, 1, 2, 2, 3, 3)) {
		t.Errorf("after 2 calls: %v", got)
	}
	if got := l.input(2, dim); !slices.Equal(got, v(4, 4)) {
		t.Errorf("input of call 2: %v", got)
	}
}

// TestHistorySnapshot: a snapshot does not change when calls are added
// after it, and set replaces a boundary's log.
func TestHistorySnapshot(t *testing.T) {
	var h history
	h.record(0, 0, 1, 0, []float32{1, 2})
	snap := h.snapshot(0)
	h.record(0, 1, 1, 0, []float32{3, 4})
	if len(snap.calls) != 1 || !slices.Equal(snap.latest(1, 2), []float32{1, 2}) {
		t.Fatalf("snapshot changed: %+v", snap)
	}
	if got := h.latest(0, 2); !slices.Equal(got, []float32{1, 2, 3, 4}) {
		t.Fatalf("latest %v", got)
	}
	h.set(0, &callLog{})
	if got := h.latest(0, 2); got != nil {
		t.Fatalf("after set: %v", got)
	}
	if got := h.latest(5, 2); got != nil {
		t.Fatalf("unknown boundary: %v", got)
	}
}

// BenchmarkHistoryRecord is the client's cost of recording one decode
// step's input at one boundary, for a 2048-wide model.
func BenchmarkHistoryRecord(b *testing.B) {
	var h history
	x := make([]float32, 2048)
	p := 0
	for b.Loop() {
		if p == 4096 {
			h = history{}
			p = 0
		}
		h.record(0, p, 1, 0, x)
		p++
	}
}
