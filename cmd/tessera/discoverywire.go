package main

// Wiring of package discovery into the node, generate and gateway
// commands: the flags they share, automatic layer choice and rebalancing
// for nodes, and chains planned from announcements for clients. The
// commands call these helpers (see docs/discovery-integration.md).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/spf13/pflag"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/discovery"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/route"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// discoveryFlags are the swarm-finding flags of node, generate and gateway.
type discoveryFlags struct {
	Bootstrap string        // comma-separated full addresses
	MDNS      bool          // multicast DNS on the local network
	Interval  time.Duration // announcement period
	Wait      time.Duration // how long a client waits for the layers to be covered
}

// addDiscoveryFlags registers --bootstrap, --mdns, --announce-interval and
// (for clients) --discovery-wait.
func addDiscoveryFlags(f *pflag.FlagSet, o *discoveryFlags, client bool) {
	f.StringVar(&o.Bootstrap, "bootstrap", "", "comma-separated full addresses (…/p2p/<id>) of any swarm peers to join through")
	f.BoolVar(&o.MDNS, "mdns", false, "also find peers on the local network by multicast DNS (sends multicast)")
	f.DurationVar(&o.Interval, "announce-interval", discovery.DefaultInterval, "period of announcements and connection upkeep")
	if client {
		f.DurationVar(&o.Wait, "discovery-wait", 10*time.Second, "with --bootstrap: how long to wait for nodes covering every layer")
	}
}

// enabled reports whether the flags ask for discovery.
func (o discoveryFlags) enabled() bool { return o.Bootstrap != "" || o.MDNS }

// start runs discovery on h.
func (o discoveryFlags) start(ctx context.Context, h *p2p.Host, log *slog.Logger) (*discovery.Service, error) {
	boot, err := discovery.ParseBootstrap(o.Bootstrap)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return discovery.New(ctx, discovery.Config{Host: h, Bootstrap: boot, MDNS: o.MDNS, Interval: o.Interval, Logger: log})
}

// parseMemorySize parses a byte count such as 512MiB, 8GB, 1.5GiB or
// 1073741824 (decimal units are powers of 1000, binary ones of 1024).
func parseMemorySize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
	}
	mult := 1.0
	for _, u := range units {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*mult >= 1<<63 {
		return 0, fmt.Errorf("memory size %q: want e.g. 512MiB, 8GB or a number of bytes", s)
	}
	return uint64(v * mult), nil
}

// autoLayerOptions configure --layers auto.
type autoLayerOptions struct {
	MaxMemory   uint64        // bytes for the layers' weights and KV caches (0: no bound)
	KVPositions int           // positions of KV cache reserved per layer
	Wait        time.Duration // how long to wait for the swarm's announcements before choosing
	Within      model.Range   // layers the model file holds (zero: all)
}

// chooseNodeLayers waits (bounded) to hear the swarm, then picks the range
// where its throughput is lowest that fits the memory budget. It returns
// the range and the choice request (for later rebalancing).
func chooseNodeLayers(ctx context.Context, svc *discovery.Service, topic *discovery.Topic, f *gguf.File, cfg model.Config,
	o autoLayerOptions, log *slog.Logger) (model.Range, route.ChooseRequest, error) {
	wctx, cancel := context.WithTimeout(ctx, o.Wait)
	if err := svc.WaitPeers(wctx, 1); err == nil {
		topic.Sync(wctx)
	}
	cancel()
	costs, err := discovery.LayerCosts(f, cfg, o.KVPositions)
	if err != nil {
		return model.Range{}, route.ChooseRequest{}, err
	}
	self := svc.Host().Libp2p().ID()
	// Aligned: clients' hops compute a node's whole range (the server
	// serves exactly its range), so a range must start and end where
	// others do to be routable.
	req := route.ChooseRequest{Layers: cfg.Layers, Costs: costs, Budget: o.MaxMemory, Within: o.Within,
		Spans: topic.Registry().Spans(svc.Now(), self), Aligned: true}
	r, err := route.ChooseRange(req)
	if err != nil {
		return model.Range{}, req, fmt.Errorf("--layers auto: %w", err)
	}
	b := route.BalanceOf(req.Spans, cfg.Layers)
	log.Info("layers chosen", "range", r.String(), "nodes_heard", len(req.Spans), "uncovered_layers", b.Uncovered,
		"bottleneck_tok_s", fmt.Sprintf("%.1f", b.Bottleneck))
	return r, req, nil
}

// nodeAnnouncer announces a serving node: its server's range and free
// slots at each announcement, and its measured throughput.
type nodeAnnouncer struct {
	topic    *discovery.Topic
	layers   int
	operator string

	mu  sync.Mutex
	srv *swarm.Server
	tp  float64
}

// announceNode starts announcing srv on topic; throughput is measured on
// srv's model first (a few decode steps).
func announceNode(ctx context.Context, topic *discovery.Topic, srv *swarm.Server, layers int, operator string) *nodeAnnouncer {
	a := &nodeAnnouncer{topic: topic, layers: layers, operator: operator}
	a.set(ctx, srv)
	topic.StartAnnouncing(a.state)
	return a
}

// set switches the announced server (after a move) and re-measures.
func (a *nodeAnnouncer) set(ctx context.Context, srv *swarm.Server) {
	tp, err := discovery.MeasureThroughput(ctx, srv.Model, 8)
	if err != nil {
		tp = 0
	}
	a.mu.Lock()
	a.srv, a.tp = srv, tp
	a.mu.Unlock()
	a.topic.AnnounceNow()
}

func (a *nodeAnnouncer) current() (*swarm.Server, float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.srv, a.tp
}

func (a *nodeAnnouncer) state() discovery.State {
	srv, tp := a.current()
	st := discovery.State{Layers: a.layers, Range: srv.Model.Range, Throughput: tp, Operator: a.operator, Software: "tessera"}
	if info, err := srv.Info(); err == nil {
		st.FreeSlots, st.MaxPositions = info.FreeSessions, info.MaxPositions
	}
	return st
}

// rebalance re-checks the node's place every `every` (with the choice
// request of --layers auto, refreshed with what the swarm announces now)
// and calls move with the new range when route.Rebalance says so. move
// must load the layers and switch the served server (see nodeAnnouncer.set).
// It runs until ctx ends.
func rebalance(ctx context.Context, every time.Duration, svc *discovery.Service, topic *discovery.Topic, a *nodeAnnouncer,
	req route.ChooseRequest, move func(model.Range) error, log *slog.Logger) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	self := svc.Host().Libp2p().ID()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		srv, tp := a.current()
		req.Spans = topic.Registry().Spans(svc.Now(), self)
		d, err := route.Rebalance(route.RebalanceRequest{Choose: req, Current: srv.Model.Range, Throughput: tp})
		if err != nil {
			log.Warn("rebalance check failed", "err", err)
			continue
		}
		if !d.Move {
			log.Debug("rebalance check", "decision", d.Reason)
			continue
		}
		log.Info("rebalancing", "decision", d.Reason)
		if err := move(d.To); err != nil {
			log.Warn("rebalancing failed; staying", "to", d.To.String(), "err", err)
		}
	}
}

// discoveredChain builds a chain for the client from the announcements on
// topic: local hops first (local, possibly nil), then the route.Plan
// chain over [from, L) with the least estimated latency, no two
// consecutive hops on one operator when avoidable, and none on the peers
// in exclude. It waits up to wait for the layers to be covered; the error
// then names the missing range.
func discoveredChain(ctx context.Context, h *p2p.Host, topic *discovery.Topic, cfg model.Config, local *model.Model,
	exclude []string, wait time.Duration, chainCfg swarm.ChainConfig) (*swarm.Chain, []peerInfo, error) {
	hops, used, err := discoveredHops(ctx, h, topic, cfg.Layers, local, exclude, wait)
	if err != nil {
		return nil, nil, err
	}
	chain, err := swarm.NewChain(chainCfg, hops)
	if err != nil {
		return nil, nil, err
	}
	return chain, used, nil
}

// discoveredHops plans the hops of discoveredChain: a local hop for local
// (if not nil), then remote hops covering the layers after it.
func discoveredHops(ctx context.Context, h *p2p.Host, topic *discovery.Topic, layers int, local *model.Model,
	exclude []string, wait time.Duration) ([]swarm.Hop, []peerInfo, error) {
	from := 0
	var hops []swarm.Hop
	if local != nil {
		hops = append(hops, swarm.LocalHop(local))
		from = local.Range.Last
	}
	var used []peerInfo
	if from >= layers {
		return hops, nil, nil
	}
	plan, entries, err := planRoute(ctx, topic, layers, from, exclude, wait)
	if err != nil {
		return nil, nil, err
	}
	for _, hp := range plan.Hops {
		e := entries[hp.Peer]
		h.Libp2p().Peerstore().AddAddrs(e.Peer, e.Addrs, peerstore.AddressTTL)
		id := hp.Peer
		hop := swarm.RemoteHop(id, hp.Range, func(ctx context.Context) (swarm.Stream, error) {
			return h.OpenStream(ctx, id, wire.ProtocolID)
		})
		// Receipts are signed with the key inside the peer id (which also
		// signed the announcement).
		if key, err := peerPubKey(id); err == nil {
			hop.PubKey = key
		}
		hops = append(hops, hop)
		addr := "-"
		if len(e.Addrs) > 0 {
			addr = e.Addrs[0].String() + "/p2p/" + id
		}
		used = append(used, peerInfo{addr: addr, id: id, info: swarm.NodeInfo{ModelCommit: e.ModelCommit, Range: e.Range,
			MaxPositions: e.MaxPositions, FreeSessions: e.FreeSlots}})
	}
	return hops, used, nil
}

// planRoute waits (up to wait) until the announcements cover [from,
// layers) and returns the planned route with the entries it uses, by peer.
func planRoute(ctx context.Context, topic *discovery.Topic, layers, from int, exclude []string, wait time.Duration) (route.Route, map[string]discovery.Entry, error) {
	plan := func(live []discovery.Entry) (route.Route, error) {
		var cands []route.Candidate
		for _, e := range live {
			if e.Layers == layers && e.Protocol == wire.Version {
				cands = append(cands, e.Candidate())
			}
		}
		return route.Plan(route.PlanRequest{From: from, To: layers, Candidates: cands, Exclude: exclude})
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	_ = topic.Wait(wctx, func(live []discovery.Entry) bool {
		_, err := plan(live)
		return err == nil
	})
	cancel()
	live := topic.Live()
	r, err := plan(live)
	if err != nil {
		var ue *route.UncoveredError
		if errors.As(err, &ue) {
			return route.Route{}, nil, fmt.Errorf("%w (after waiting %v for announcements; %d nodes heard)", err, wait, len(live))
		}
		return route.Route{}, nil, err
	}
	byPeer := map[string]discovery.Entry{}
	for _, e := range live {
		byPeer[e.Peer.String()] = e
	}
	return r, byPeer, nil
}

// remoteChainFor is remoteChain (nodes at o.Peers) when svc is nil, and
// otherwise a chain planned from the announcements of lm's model heard
// through svc, waiting up to wait for every layer to be covered. Local
// layers (o.LocalLayers) come first either way.
func remoteChainFor(ctx context.Context, h *p2p.Host, svc *discovery.Service, lm *localModel, c commit.Commitments,
	o chainOptions, wait time.Duration) (*swarm.Chain, []peerInfo, error) {
	if svc == nil {
		return remoteChain(ctx, h, lm, c, o)
	}
	cfg := lm.model.Config
	var local *model.Model
	if o.LocalLayers > 0 {
		if o.LocalLayers > cfg.Layers {
			return nil, nil, fmt.Errorf("--local-layers %d: the model has %d layers", o.LocalLayers, cfg.Layers)
		}
		m, err := model.Load(lm.file, model.Options{Layers: model.Range{First: 0, Last: o.LocalLayers}, Pool: lm.pool})
		if err != nil {
			return nil, nil, fmt.Errorf("--local-layers needs layers 0:%d in %s: %w", o.LocalLayers, lm.name, err)
		}
		local = m
	}
	topic, err := svc.Join(c.Model)
	if err != nil {
		return nil, nil, err
	}
	return discoveredChain(ctx, h, topic, cfg, local, nil, wait, o.chainConfig(cfg, c))
}
