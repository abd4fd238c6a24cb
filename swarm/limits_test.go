package swarm_test

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

func TestParseRate(t *testing.T) {
	cases := []struct {
		in    string
		limit rate.Limit
		burst int
		err   bool
	}{
		{"10/s", 10, 10, false},
		{"60/min", 1, 60, false},
		{"3600/h", 1, 3600, false},
		{"0.5/s", 0.5, 1, false},
		{"0", rate.Inf, 0, false},
		{"unlimited", rate.Inf, 0, false},
		{"10", 0, 0, true},
		{"10/day", 0, 0, true},
		{"-1/s", 0, 0, true},
		{"x/s", 0, 0, true},
		{"", 0, 0, true},
	}
	for _, c := range cases {
		r, err := swarm.ParseRate(c.in)
		if (err != nil) != c.err {
			t.Errorf("ParseRate(%q): error %v, want error %v", c.in, err, c.err)
			continue
		}
		if err == nil && (r.Limit != c.limit || r.Burst != c.burst) {
			t.Errorf("ParseRate(%q) = %+v, want limit %v burst %d", c.in, r, c.limit, c.burst)
		}
	}
}

// TestPeerLimiter drives a limiter on a fixed clock: each step acts as a
// peer at an offset from t0 and expects a refusal of a given limit or
// none.
func TestPeerLimiter(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	type step struct {
		peer    string
		at      time.Duration
		do      string // "open", "close" (the peer's last open), "fwd N", "cells"
		refused string // the limit refusing it, "" for none
	}
	slow := swarm.Rate{Limit: 1, Burst: 2}
	cases := []struct {
		name  string
		lim   swarm.PeerLimits
		steps []step
	}{
		{"sessions per peer", swarm.PeerLimits{Sessions: 2, Opens: swarm.Rate{Limit: rate.Inf}}, []step{
			{"a", 0, "open", ""},
			{"a", 0, "open", ""},
			{"a", 0, "open", "sessions"},
			{"b", 0, "open", ""}, // another peer is not affected
			{"a", 0, "close", ""},
			{"a", 0, "open", ""}, // a closed session frees its slot
			{"a", 0, "open", "sessions"},
		}},
		{"no bound on sessions", swarm.PeerLimits{Sessions: -1, Opens: swarm.Rate{Limit: rate.Inf}}, []step{
			{"a", 0, "open", ""}, {"a", 0, "open", ""}, {"a", 0, "open", ""}, {"a", 0, "open", ""}, {"a", 0, "open", ""},
		}},
		{"open rate", swarm.PeerLimits{Sessions: -1, Opens: slow}, []step{
			{"a", 0, "open", ""},
			{"a", 0, "open", ""},
			{"a", 0, "open", "opens"},
			{"b", 0, "open", ""},
			{"a", 500 * time.Millisecond, "open", "opens"},
			{"a", time.Second, "open", ""}, // one token refilled
			{"a", time.Second, "open", "opens"},
		}},
		{"opens refused for the sessions open spend the rate", swarm.PeerLimits{Sessions: 1, Opens: slow}, []step{
			{"a", 0, "open", ""},
			{"a", 0, "open", "sessions"},
			{"a", 0, "close", ""},
			{"a", 0, "open", "opens"},
			{"a", time.Second, "open", ""},
		}},
		{"forward calls", swarm.PeerLimits{Forwards: slow}, []step{
			{"a", 0, "fwd 1", ""},
			{"a", 0, "fwd 1", ""},
			{"a", 0, "fwd 1", "forward calls"},
			{"b", 0, "fwd 1", ""},
			{"a", 2 * time.Second, "fwd 1", ""},
		}},
		{"positions", swarm.PeerLimits{Positions: swarm.Rate{Limit: 10, Burst: 100}, Forwards: swarm.Rate{Limit: 1, Burst: 1}}, []step{
			{"a", 0, "fwd 60", ""},
			{"a", time.Second, "fwd 60", "positions"}, // 50 tokens left
			// The refused call gave its forward-call token back.
			{"a", time.Second, "fwd 50", ""},
			{"a", 11 * time.Second, "fwd 500", ""},         // larger than the burst: passes on a full bucket
			{"a", 12 * time.Second, "fwd 20", "positions"}, // 10 tokens
		}},
		{"openings", swarm.PeerLimits{Openings: slow}, []step{
			{"a", 0, "cells", ""},
			{"a", 0, "cells", ""},
			{"a", 0, "cells", "openings"},
			{"b", 0, "cells", ""},
		}},
		{"unlimited rates", swarm.PeerLimits{Forwards: swarm.Rate{Limit: rate.Inf}, Positions: swarm.Rate{Limit: rate.Inf}}, []step{
			{"a", 0, "fwd 1000000", ""}, {"a", 0, "fwd 1000000", ""}, {"a", 0, "fwd 1000000", ""},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := swarm.NewPeerLimiter(c.lim)
			releases := map[string][]func(){}
			for i, s := range c.steps {
				now := t0.Add(s.at)
				var err *swarm.LimitError
				switch {
				case s.do == "open":
					var release func()
					if release, err = p.Open(s.peer, now); err == nil {
						releases[s.peer] = append(releases[s.peer], release)
					}
				case s.do == "close":
					rs := releases[s.peer]
					rs[len(rs)-1]()
					rs[len(rs)-1]() // releasing twice gives back one slot
					releases[s.peer] = rs[:len(rs)-1]
				case s.do == "cells":
					err = p.Opening(s.peer, now)
				case strings.HasPrefix(s.do, "fwd "):
					n, e := strconv.Atoi(s.do[4:])
					if e != nil {
						t.Fatal(e)
					}
					err = p.Forward(s.peer, n, now)
				}
				got := ""
				if err != nil {
					got = err.Limit
				}
				if got != s.refused {
					t.Fatalf("step %d (%s %s at %v): refused by %q (%v), want %q", i, s.peer, s.do, s.at, got, err, s.refused)
				}
				if err != nil {
					if !strings.Contains(err.Error(), "per-peer") || !strings.Contains(err.Error(), "another node") {
						t.Errorf("refusal %q does not say which limit and what to do", err)
					}
					if (err.Limit == "sessions") != (err.RetryAfter == 0) {
						t.Errorf("refusal by %s: retry after %v", err.Limit, err.RetryAfter)
					}
					want := wire.CodeBusy
					if err.Limit == "sessions" {
						want = wire.CodeTooManySessions
					}
					if we := err.Wire(); we.Code != want {
						t.Errorf("refusal by %s answered %v, want %v", err.Limit, we.Code, want)
					}
				}
			}
		})
	}
}

// TestPeerLimiterRetryAfter: the retry time is when the bucket has the
// tokens again.
func TestPeerLimiterRetryAfter(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	p := swarm.NewPeerLimiter(swarm.PeerLimits{Opens: swarm.Rate{Limit: 2, Burst: 1}})
	if _, err := p.Open("a", t0); err != nil {
		t.Fatal(err)
	}
	_, err := p.Open("a", t0)
	if err == nil || err.RetryAfter < 400*time.Millisecond || err.RetryAfter > 600*time.Millisecond {
		t.Fatalf("refusal %v, want a retry after about 500ms", err)
	}
	if _, err := p.Open("a", t0.Add(err.RetryAfter)); err != nil {
		t.Fatalf("retrying after %v: %v", err.RetryAfter, err)
	}
}

// TestPeerLimiterBounded: idle peers are forgotten and at most MaxPeers
// are tracked, but never one with a session open.
func TestPeerLimiterBounded(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	p := swarm.NewPeerLimiter(swarm.PeerLimits{MaxPeers: 3, Sessions: 1})
	release, err := p.Open("holder", t0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := p.Forward(string(rune('a'+i)), 1, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if n := p.Stats().Peers; n > 3 {
			t.Fatalf("%d peers tracked, want at most 3", n)
		}
	}
	// The holder was not forgotten: its slot is still taken.
	if _, err := p.Open("holder", t0.Add(time.Second)); err == nil || err.Limit != "sessions" {
		t.Fatalf("holder's second session: %v, want refused by its session limit", err)
	}
	release()
	// An hour later every idle peer's buckets are full: all are forgotten
	// when the next peer comes.
	if err := p.Forward("late", 1, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().Peers; n != 1 {
		t.Fatalf("%d peers tracked after an idle hour, want 1", n)
	}
	if st := p.Stats(); st.Refused["sessions"] != 1 {
		t.Fatalf("stats %+v, want one session refusal", st)
	}
}

// pipePeer opens a stream to srv from peer over net.Pipe.
func pipePeer(t *testing.T, n *node, peer string) *raw {
	t.Helper()
	a, b := net.Pipe()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		_ = n.srv.ServePeer(n.ctx, peer, b)
	}()
	t.Cleanup(func() { a.Close() })
	_ = a.SetDeadline(time.Now().Add(30 * time.Second))
	return &raw{t: t, c: a, r: bufio.NewReader(a)}
}

// TestServerPerPeerLimits: a peer beyond its sessions or its rate of
// forward calls is refused with the code that sends a client elsewhere,
// while another peer, and the first peer's other sessions, are served.
func TestServerPerPeerLimits(t *testing.T) {
	srv := server(t, 0, 6)
	srv.Peers = swarm.NewPeerLimiter(swarm.PeerLimits{Sessions: 2, Forwards: swarm.Rate{Limit: 0.001, Burst: 3}})
	nd := newNode(t, srv)
	local := layers(t, 0, 6)

	a1, a2 := pipePeer(t, nd, "A"), pipePeer(t, nd, "A")
	a1.open(0, 6, 16)
	a2.open(0, 6, 16)
	a3 := pipePeer(t, nd, "A")
	a3.send(&wire.OpenSession{Version: wire.Version, ModelCommit: testCommit, First: 0, Last: 6, MaxPositions: 16, DType: wire.DTypeF32})
	if e := a3.expectError(wire.CodeTooManySessions, true); !strings.Contains(e.Message, "per-peer") {
		t.Errorf("refusal %q does not name the per-peer limit", e.Message)
	}

	b := pipePeer(t, nd, "B")
	b.open(0, 6, 16)
	bs, _ := local.NewSession(16)
	b.step(local, bs, 2)

	// A's sessions are served up to A's rate of forward calls.
	s1, _ := local.NewSession(16)
	a1.step(local, s1, 2)
	a1.step(local, s1, 1)
	s2, _ := local.NewSession(16)
	a2.step(local, s2, 1)
	a2.send(a2.forwardMsg(1))
	if e := a2.expectError(wire.CodeBusy, true); !strings.Contains(e.Message, "forward calls") || !strings.Contains(e.Message, "retry in") {
		t.Errorf("refusal %q does not say which rate and when to retry", e.Message)
	}
	// The refused session's slot is free again: A opens another.
	waitFor(t, func() bool { return srv.Stats().SessionsOpen == 2 })
	pipePeer(t, nd, "A").open(0, 6, 16)
	// B is still served.
	b.step(local, bs, 1)
	if st := srv.Peers.Stats(); st.Refused["sessions"] != 1 || st.Refused["forward calls"] != 1 {
		t.Fatalf("refusals %+v, want one for sessions and one for forward calls", st.Refused)
	}
}

// TestServerOpeningRate: trace-opening requests beyond the peer's rate
// are refused.
func TestServerOpeningRate(t *testing.T) {
	srv := server(t, 0, 6)
	srv.Peers = swarm.NewPeerLimiter(swarm.PeerLimits{Openings: swarm.Rate{Limit: 0.001, Burst: 1}})
	nd := newNode(t, srv)
	c := pipePeer(t, nd, "A")
	c.open(0, 6, 16)
	c.send(&wire.OpenCells{SessionID: c.id, Request: []byte{0}})
	if _, ok := c.recv().(*wire.Error); !ok { // CodeGone: no traces kept without a key
		t.Fatal("first OpenCells: want an answer")
	}
	c.send(&wire.OpenCells{SessionID: c.id, Request: []byte{0}})
	if e := c.expectError(wire.CodeBusy, true); !strings.Contains(e.Message, "openings") {
		t.Errorf("refusal %q does not name the openings rate", e.Message)
	}
}

// A server with no peer for a stream (ServeStream) applies only its
// global limits.
func TestServeStreamNoPeerLimits(t *testing.T) {
	srv := server(t, 0, 6)
	srv.Peers = swarm.NewPeerLimiter(swarm.PeerLimits{Sessions: 1})
	nd := newNode(t, srv).listen(t)
	for range 3 {
		dial(t, nd).open(0, 6, 8)
	}
	if n := srv.Peers.Stats().Peers; n != 0 {
		t.Fatalf("%d peers tracked for streams of no peer", n)
	}
}

// BenchmarkPeerLimiterForward is the cost the per-peer limits add to a
// forward call, with as many peers tracked as b.N spreads over.
func BenchmarkPeerLimiterForward(b *testing.B) {
	p := swarm.NewPeerLimiter(swarm.PeerLimits{})
	peers := make([]string, 64)
	for i := range peers {
		peers[i] = "peer-" + strconv.Itoa(i)
	}
	now := time.Unix(1_000_000, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Millisecond)
		if err := p.Forward(peers[i%len(peers)], 1, now); err != nil {
			b.Fatal(err)
		}
	}
}
