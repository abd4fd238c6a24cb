package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/discovery"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/route"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

func TestParseMemorySize(t *testing.T) {
	for in, want := range map[string]uint64{
		"1024": 1024, "512MiB": 512 << 20, "8GB": 8e9, "1.5GiB": 3 << 29, "2G": 2 << 30, "64 KiB": 64 << 10, "100B": 100,
	} {
		if got, err := parseMemorySize(in); err != nil || got != want {
			t.Errorf("parseMemorySize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1GiB", "lots", "0", "1e30GB"} {
		if _, err := parseMemorySize(in); err == nil {
			t.Errorf("parseMemorySize(%q) accepted", in)
		}
	}
}

// discNode is an in-process node serving layers r of the embedded model,
// announced through discovery (what `tessera node --bootstrap` runs).
type discNode struct {
	host  *p2p.Host
	svc   *discovery.Service
	topic *discovery.Topic
}

// embeddedServer is a signing node server for layers r of the embedded
// model on a new libp2p host (cfg), both closed with the test; the caller
// registers the protocol handlers.
func embeddedServer(t *testing.T, ctx context.Context, r model.Range, cfg p2p.Config) (*p2p.Host, *swarm.Server) {
	t.Helper()
	f, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	c, err := commit.Of(f)
	if err != nil {
		t.Fatal(err)
	}
	pool := kernels.NewPool(1)
	t.Cleanup(pool.Close)
	m, err := model.Load(f, model.Options{Layers: r, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	key, err := hostSigningKey(h)
	if err != nil {
		t.Fatal(err)
	}
	return h, &swarm.Server{Model: m, ModelCommit: c.Model, Key: key}
}

func startDiscNode(t *testing.T, r model.Range, boot string, flags discoveryFlags) *discNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, srv := embeddedServer(t, ctx, r, p2p.Config{})
	h.Handle(wire.ProtocolID, func(s network.Stream) { _ = srv.ServeStream(ctx, s) })
	if boot != "" {
		flags.Bootstrap = boot
	}
	svc, err := flags.start(ctx, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	topic, err := svc.Join(srv.ModelCommit)
	if err != nil {
		t.Fatal(err)
	}
	announceNode(ctx, topic, srv, srv.Model.Config.Layers, "")
	return &discNode{host: h, svc: svc, topic: topic}
}

// Nodes found through one bootstrap node, chained by the route planner,
// give the single-process greedy output token for token; `swarm status`
// shows the coverage.
func TestDiscoveredChainMatchesLocal(t *testing.T) {
	flags := discoveryFlags{Interval: 200 * time.Millisecond, Wait: 15 * time.Second}
	first := startDiscNode(t, model.Range{First: 0, Last: 2}, "", flags)
	boot := first.host.Addrs()[0]
	startDiscNode(t, model.Range{First: 2, Last: 4}, boot, flags)
	startDiscNode(t, model.Range{First: 4, Last: 6}, boot, flags)

	prompt := "And it came to pass"
	local, err := run(t, "generate", "--prompt", prompt, "-n", "16", "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lm, err := loadClientModel("", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Close()
	c, err := commit.Of(lm.file)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(ctx, p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	flags.Bootstrap = boot
	svc, err := flags.start(ctx, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	for _, localLayers := range []int{0, 2} {
		chain, _, err := remoteChainFor(ctx, h, svc, lm, c, chainOptions{LocalLayers: localLayers, Timeout: 10 * time.Second}, flags.Wait)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		out.WriteString(prompt)
		client := generate.Client{Model: lm.model, Tokenizer: lm.tok}
		_, err = client.Run(ctx, chain, generate.Request{Prompt: prompt, MaxTokens: 16}, func(s string) error {
			out.WriteString(s)
			return nil
		})
		chain.Close()
		if err != nil {
			t.Fatal(err)
		}
		used := remoteHops(chain.Stats())
		if got := out.String() + "\n"; got != local {
			t.Errorf("local layers %d: through %d discovered nodes %q, locally %q", localLayers, used, got, local)
		}
		if want := 3 - localLayers/2; used != want {
			t.Errorf("local layers %d: %d nodes used, want %d", localLayers, used, want)
		}
	}

	// Status shows what the bootstrap node holds: wait (bounded) until
	// gossip has brought it every node.
	if err := first.topic.Wait(ctx, func(live []discovery.Entry) bool { return len(live) == 3 }); err != nil {
		t.Fatal("the bootstrap node did not hear the 3 nodes")
	}
	var buf bytes.Buffer
	if err := runSwarmStatus(ctx, &buf, swarmStatusOptions{Bootstrap: boot, Timeout: 10 * time.Second, Listen: p2p.DefaultListen}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"6 layers: 3 nodes, no gaps", "0:2", "2:4", "4:6"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("swarm status lacks %q:\n%s", want, buf.String())
		}
	}
	t.Logf("swarm status:\n%s", buf.String())
}

// A node whose range is over-served moves to the starved one when it
// re-checks (the rebalancing loop of --layers auto).
func TestRebalanceMovesNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	flags := discoveryFlags{Interval: 200 * time.Millisecond}
	f, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	c, err := commit.Of(f)
	if err != nil {
		t.Fatal(err)
	}
	announce := func(boot string, r model.Range, tp float64) *p2p.Host {
		h, err := p2p.New(ctx, p2p.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		fl := flags
		fl.Bootstrap = boot
		svc, err := fl.start(ctx, h, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		topic, err := svc.Join(c.Model)
		if err != nil {
			t.Fatal(err)
		}
		topic.StartAnnouncing(func() discovery.State {
			return discovery.State{Layers: 6, Range: r, Throughput: tp, FreeSlots: 1}
		})
		return h
	}
	x := announce("", model.Range{First: 0, Last: 3}, 100)
	announce(x.Addrs()[0], model.Range{First: 3, Last: 6}, 1)

	// This node serves 0:3 at 100 tokens/s too: 0:3 has 200, 3:6 has 1.
	h, err := p2p.New(ctx, p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	flags.Bootstrap = x.Addrs()[0]
	svc, err := flags.start(ctx, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	topic, err := svc.Join(c.Model)
	if err != nil {
		t.Fatal(err)
	}
	if err := topic.Wait(ctx, func(live []discovery.Entry) bool { return len(live) == 2 }); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(f, model.Options{Layers: model.Range{First: 0, Last: 3}})
	if err != nil {
		t.Fatal(err)
	}
	a := &nodeAnnouncer{topic: topic, layers: 6, srv: &swarm.Server{Model: m, ModelCommit: c.Model}, tp: 100}
	costs, err := discovery.LayerCosts(f, m.Config, 0)
	if err != nil {
		t.Fatal(err)
	}
	req := route.ChooseRequest{Layers: 6, Costs: costs, Budget: costs[0] + costs[1] + costs[2], Aligned: true}
	moved := make(chan model.Range, 1)
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go rebalance(rctx, 50*time.Millisecond, svc, topic, a, req, func(to model.Range) error {
		select {
		case moved <- to:
		default:
		}
		rcancel()
		return nil
	}, slog.New(slog.DiscardHandler))
	select {
	case to := <-moved:
		if to != (model.Range{First: 3, Last: 6}) {
			t.Errorf("moved to %s, want 3:6", to)
		}
	case <-ctx.Done():
		t.Fatal("the node did not move")
	}
}
