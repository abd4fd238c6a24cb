package router_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/route"
	"github.com/tessera-net/tessera/router"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

const modelPath = "../models/kjv-tiny-q8_0.gguf"

var (
	file    *gguf.File
	pool    *kernels.Pool
	commits commit.Commitments
	cfg     model.Config
	mu      sync.Mutex
	loaded  = map[model.Range]*model.Model{}
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		var err error
		if file, err = gguf.Open(modelPath); err != nil {
			panic(err)
		}
		defer file.Close()
		if commits, err = commit.Of(file); err != nil {
			panic(err)
		}
		if cfg, err = model.ConfigFromGGUF(file); err != nil {
			panic(err)
		}
		pool = kernels.NewPool(1)
		defer pool.Close()
		return m.Run()
	}())
}

// node is a libp2p node on 127.0.0.1 serving layers r.
type node struct {
	host *p2p.Host
	addr string
}

func startNode(t *testing.T, first, last int) *node {
	t.Helper()
	r := model.Range{First: first, Last: last}
	mu.Lock()
	m := loaded[r]
	if m == nil {
		var err error
		if m, err = model.Load(file, model.Options{Layers: r, Pool: pool}); err != nil {
			mu.Unlock()
			t.Fatal(err)
		}
		loaded[r] = m
	}
	mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := p2p.New(ctx, p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv := &swarm.Server{Model: m, ModelCommit: commits.Model}
	h.Handle(wire.ProtocolID, func(s network.Stream) { _ = srv.ServeStream(ctx, s) })
	h.Handle(swarm.InfoProtocolID, func(s network.Stream) { _ = srv.ServeInfo(s) })
	return &node{host: h, addr: h.Addrs()[0]}
}

func newRouter(t *testing.T, addrs ...string) *router.Router {
	t.Helper()
	h, err := p2p.New(context.Background(), p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	r, err := router.New(router.Config{Host: h, ModelCommit: commits.Model, Layers: cfg.Layers, Peers: addrs, ProbeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func describe(hops []swarm.Hop, names map[string]string) string {
	var parts []string
	for _, h := range hops {
		parts = append(parts, names[h.Peer]+"@"+h.Range.String())
	}
	return strings.Join(parts, " ")
}

// TestPlanStaticPeers: the router asks static peers what they serve and
// plans over sub-ranges of their layers; dead peers are left out with
// their reason, failed ones are avoided while something else covers, and
// Reroute honours its exclusions.
func TestPlanStaticPeers(t *testing.T) {
	a, b, c := startNode(t, 0, 4), startNode(t, 2, 6), startNode(t, 0, 6)
	dead := startNode(t, 0, 6)
	dead.host.Close()
	names := map[string]string{a.host.ID(): "a", b.host.ID(): "b", c.host.ID(): "c"}
	r := newRouter(t, a.addr, b.addr, c.addr, dead.addr)
	ctx := context.Background()

	hops, err := r.Plan(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hops) == 0 || hops[0].Range.First != 0 || hops[len(hops)-1].Range.Last != 6 {
		t.Fatalf("plan %s", describe(hops, names))
	}
	for _, h := range hops {
		if len(h.PubKey) == 0 || h.Open == nil {
			t.Fatalf("hop %s lacks its key or opener", h.Peer)
		}
	}
	peers := r.Peers()
	if peers[3].Err == nil || peers[0].Err != nil || !peers[0].Known || peers[0].Info.Range != (model.Range{First: 0, Last: 4}) {
		t.Fatalf("peers %+v", peers)
	}

	// Layers 2:4 without c: a sub-range of a or of b.
	got, err := r.Reroute(ctx, swarm.RerouteRequest{Range: model.Range{First: 2, Last: 4}, Exclude: []string{c.host.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Range != (model.Range{First: 2, Last: 4}) || got[0].Peer == c.host.ID() {
		t.Fatalf("reroute 2:4 without c: %s", describe(got, names))
	}
	// Without a and b: c alone; without all three: an error naming the
	// range and why the dead node is not usable.
	got, err = r.Reroute(ctx, swarm.RerouteRequest{Range: model.Range{First: 1, Last: 5}, Exclude: []string{a.host.ID(), b.host.ID()}})
	if err != nil || len(got) != 1 || got[0].Peer != c.host.ID() {
		t.Fatalf("reroute 1:5 to c: %s, %v", describe(got, names), err)
	}
	_, err = r.Reroute(ctx, swarm.RerouteRequest{Range: model.Range{First: 1, Last: 5}, Exclude: []string{a.host.ID(), b.host.ID(), c.host.ID()}})
	var ue *route.UncoveredError
	if !errors.As(err, &ue) || ue.Missing != (model.Range{First: 1, Last: 5}) || !strings.Contains(err.Error(), "not usable") ||
		!strings.Contains(err.Error(), "excluded after failing") {
		t.Fatalf("nothing left: %v", err)
	}
	t.Log(err)

	// A failed node is avoided while others cover its layers...
	r.Fail(c.host.ID(), errors.New("test failure"))
	if f, ok := r.Failure(c.host.ID()); !ok || f.Why != "test failure" {
		t.Fatalf("failure %+v %v", f, ok)
	}
	for range 3 {
		hops, err := r.Plan(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hops {
			if h.Peer == c.host.ID() {
				t.Fatalf("the failed node is planned: %s", describe(hops, names))
			}
		}
	}
	// ... and used when nothing else does.
	r.Fail(a.host.ID(), errors.New("test failure"))
	hops, err = r.Plan(ctx, 0)
	if err != nil {
		t.Fatalf("with every node failed once: %v", err)
	}
	t.Logf("with a and c failed: %s", describe(hops, names))

	// Observe remembers the nodes an error names.
	r2 := newRouter(t, a.addr)
	he := &swarm.HopError{Peer: a.host.ID(), Err: &swarm.FailoverError{Tried: []swarm.FailoverAttempt{{Peers: []string{b.host.ID()}, Err: errors.New("x")}}, Err: errors.New("gave up")}}
	r2.Observe(he)
	for _, id := range []string{a.host.ID(), b.host.ID()} {
		if _, ok := r2.Failure(id); !ok {
			t.Errorf("%s not remembered", names[id])
		}
	}
}

// TestRouterChainFailsOver: a chain built by the router fails over through
// it when a node dies, and the router then avoids the dead node in new
// plans.
func TestRouterChainFailsOver(t *testing.T) {
	a, b, spare := startNode(t, 0, 3), startNode(t, 3, 6), startNode(t, 2, 6)
	r := newRouter(t, a.addr, b.addr, spare.addr)
	ctx := context.Background()
	r.Poll(ctx)
	var seen []swarm.Failover
	chain, err := r.Chain(ctx, swarm.ChainConfig{Model: cfg, ModelCommit: commits.Model, Timeout: 10 * time.Second,
		OnFailover: func(f swarm.Failover) { seen = append(seen, f) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	victim := ""
	for _, st := range chain.Stats() {
		if st.Range.Last == 6 {
			victim = st.Peer
		}
	}
	dim := cfg.Dim
	h := make([]float32, 4*dim)
	for i := range h {
		h[i] = float32(i%7) / 7
	}
	if err := chain.Forward(ctx, 0, h, 4); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{b, spare} {
		if n.host.ID() == victim {
			n.host.Close()
		}
	}
	if err := chain.Forward(ctx, 4, h[:dim], 1); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Peer != victim {
		t.Fatalf("failovers %+v", seen)
	}
	if _, ok := r.Failure(victim); !ok {
		t.Fatal("the router does not remember the dead node")
	}
}

// TestBusyIsNotFailure: a node that turns a session away for its load or
// its per-peer limits works, so the router does not keep chains off it;
// any other error does.
func TestBusyIsNotFailure(t *testing.T) {
	h, err := p2p.New(context.Background(), p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r, err := router.New(router.Config{Host: h, Layers: 1, Peers: []string{h.Addrs()[0]}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		err    error
		failed bool
	}{
		{fmt.Errorf("opening a session: %w", wire.NewError(wire.CodeTooManySessions, "per-peer limit")), false},
		{fmt.Errorf("opening a session: %w", wire.NewError(wire.CodeBusy, "rate limit")), false},
		{fmt.Errorf("opening a session: %w", wire.NewError(wire.CodeInternal, "broken")), true},
		{errors.New("connection reset"), true},
	} {
		peer := c.err.Error()
		r.Fail(peer, c.err)
		if _, failed := r.Failure(peer); failed != c.failed {
			t.Errorf("%v: remembered as failed %v, want %v", c.err, failed, c.failed)
		}
	}
}
