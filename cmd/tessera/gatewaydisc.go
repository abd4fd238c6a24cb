package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/tessera-net/tessera/api"
	"github.com/tessera-net/tessera/discovery"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/route"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/web"
)

// gatewayDiscovery is the gateway's view of a swarm found through
// discovery (--bootstrap/--mdns) rather than listed with --peers: it plans
// each generation's chain from the announcements, keeps nodes that failed
// a generation out of the plans for a while, and feeds the dashboard.
type gatewayDiscovery struct {
	svc   *discovery.Service
	topic *discovery.Topic
	wait  time.Duration

	mu     sync.Mutex
	failed map[string]gatewayFailure // by peer id
	use    map[string]*hopUsage      // by peer id
}

type gatewayFailure struct {
	at  time.Time
	why string
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
	return &gatewayDiscovery{svc: svc, topic: topic, wait: o.Wait, failed: map[string]gatewayFailure{}, use: map[string]*hopUsage{}}, nil
}

func (d *gatewayDiscovery) close() { d.svc.Close() }

// hops plans one generation's hops: local first (if not nil), then nodes
// covering the rest, avoiding those that failed within failureMemory
// unless nothing else covers their layers. A missing range is reported as
// api.ErrMissingCoverage.
func (d *gatewayDiscovery) hops(ctx context.Context, h *p2p.Host, layers int, local *model.Model) ([]swarm.Hop, error) {
	d.mu.Lock()
	var exclude []string
	for id, f := range d.failed {
		if time.Since(f.at) < failureMemory {
			exclude = append(exclude, id)
		} else {
			delete(d.failed, id)
		}
	}
	d.mu.Unlock()
	sort.Strings(exclude)
	hops, _, err := discoveredHops(ctx, h, d.topic, layers, local, exclude, d.wait)
	if err != nil && len(exclude) > 0 {
		hops, _, err = discoveredHops(ctx, h, d.topic, layers, local, nil, 0)
	}
	if err != nil {
		var ue *route.UncoveredError
		if errors.As(err, &ue) {
			return nil, api.ErrMissingCoverage(err.Error())
		}
		return nil, err
	}
	return hops, nil
}

// fail records that peer failed a generation.
func (d *gatewayDiscovery) fail(peer, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failed[peer] = gatewayFailure{at: time.Now(), why: why}
}

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
		switch f, ok := d.failed[id]; {
		case ok && time.Since(f.at) < failureMemory:
			n.Health, n.Detail = web.HealthDegraded, fmt.Sprintf("failed a generation %s ago: %s", time.Since(f.at).Round(time.Second), f.why)
		case e.FreeSlots == 0:
			n.Health, n.Detail = web.HealthDegraded, "no free sessions"
		}
		out = append(out, n)
	}
	return out
}
