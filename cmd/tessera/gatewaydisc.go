package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tessera-net/tessera/discovery"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/router"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/web"
)

// gatewayDiscovery is the gateway's view of a swarm found through
// discovery (--bootstrap/--mdns) rather than listed with --peers: the
// router plans each generation's chain from the topic's announcements
// (keeping nodes that failed out of the plans for a while); this feeds
// the dashboard.
type gatewayDiscovery struct {
	svc    *discovery.Service
	topic  *discovery.Topic
	router *router.Router // set once the gateway's router exists

	mu  sync.Mutex
	use map[string]*hopUsage // by peer id
}

// startGatewayDiscovery joins the swarm of the model with commitment
// modelCommit on h.
func startGatewayDiscovery(ctx context.Context, h *p2p.Host, o discoveryFlags, modelCommit [32]byte, log *slog.Logger) (*gatewayDiscovery, error) {
	svc, err := o.start(ctx, h, log)
	if err != nil {
		return nil, err
	}
	topic, err := svc.Join(modelCommit)
	if err != nil {
		svc.Close()
		return nil, err
	}
	return &gatewayDiscovery{svc: svc, topic: topic, use: map[string]*hopUsage{}}, nil
}

func (d *gatewayDiscovery) close() { d.svc.Close() }

// record adds a remote hop's work to its node's usage.
func (d *gatewayDiscovery) record(st swarm.HopStats) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.use[st.Peer]
	if u == nil {
		u = &hopUsage{}
		d.use[st.Peer] = u
	}
	u.add(st)
}

// nodes lists the announced nodes for the dashboard.
func (d *gatewayDiscovery) nodes() []web.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []web.Node
	for _, e := range d.topic.Live() {
		id := e.Peer.String()
		n := web.Node{Peer: id, First: e.Range.First, Last: e.Range.Last, Health: web.HealthOK,
			LatencyMs: msOf(e.RTT), FreeSessions: e.FreeSlots, TokensPerSecond: e.Throughput, LastSeen: e.Received}
		if len(e.Addrs) > 0 {
			n.Addr = e.Addrs[0].String() + "/p2p/" + id
		}
		if u := d.use[id]; u != nil {
			n.Sessions, n.Positions, n.BytesIn, n.BytesOut = u.sessions, u.positions, u.received, u.sent
		}
		var f router.Failure
		failed := false
		if d.router != nil {
			f, failed = d.router.Failure(id)
		}
		switch {
		case failed:
			n.Health, n.Detail = web.HealthDegraded, fmt.Sprintf("failed a generation %s ago: %s", time.Since(f.At).Round(time.Second), f.Why)
		case e.FreeSlots == 0:
			n.Health, n.Detail = web.HealthDegraded, "no free sessions"
		}
		out = append(out, n)
	}
	return out
}
