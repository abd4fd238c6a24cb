// Package router is a client's view of the nodes serving one model: it
// knows them from a static list of addresses (asking each what it serves
// with the info protocol) or from discovery announcements, plans chains
// over them with route.Plan, answers the failover calls of those chains
// (swarm.Reroute), and keeps nodes that failed out of new plans for a
// while. The generate command, the gateway and the demo all build their
// chains here.
package router

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/discovery"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/route"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// Defaults for zero Config fields.
const (
	// DefaultFailureMemory is how long a node that failed is left out of
	// new plans (unless nothing else covers its layers).
	DefaultFailureMemory = 30 * time.Second
	// DefaultProbeTimeout bounds asking one node what it serves.
	DefaultProbeTimeout = 5 * time.Second
)

// Config describes the model and where its nodes are found.
type Config struct {
	Host        *p2p.Host
	ModelCommit [32]byte
	Layers      int // the model's layer count
	// Peers are full addresses (…/p2p/<id>) of nodes, asked what they
	// serve by Poll; Topic is the model's discovery topic. Exactly one is
	// set.
	Peers []string
	Topic *discovery.Topic
	// Wait bounds how long Plan and Reroute wait for announcements to
	// cover the layers (discovery only; 0: they do not wait).
	Wait time.Duration
	// ProbeTimeout bounds one info request (0: DefaultProbeTimeout).
	ProbeTimeout time.Duration
	// FailureMemory is how long a failed node stays out of plans (0:
	// DefaultFailureMemory).
	FailureMemory time.Duration
	// RequireKeys leaves out static peers whose Info names no receipt key
	// or another key than their peer id's (when the chain verifies).
	RequireKeys bool
	// Logger receives failovers and probe failures (nil: discarded).
	Logger *slog.Logger
}

// Peer is what the router knows of one static peer.
type Peer struct {
	Addr     string
	ID       string // "" until it answered once
	Info     swarm.NodeInfo
	Known    bool          // Info was read at least once
	Err      error         // the last probe's error (nil: it answered)
	Latency  time.Duration // the last probe's round trip
	LastSeen time.Time     // last successful probe
}

// Failure is a node's last failure within FailureMemory.
type Failure struct {
	At  time.Time
	Why string
}

// Router plans chains for one model. Its methods are safe for concurrent
// use.
type Router struct {
	cfg Config
	log *slog.Logger

	pollMu sync.Mutex // one poll at a time
	mu     sync.Mutex
	peers  []*Peer
	polled bool
	failed map[string]Failure // by peer id
}

// New returns a router; it does not contact any node.
func New(cfg Config) (*Router, error) {
	if cfg.Host == nil || cfg.Layers <= 0 {
		return nil, errors.New("router: needs a host and the model's layer count")
	}
	if (len(cfg.Peers) > 0) == (cfg.Topic != nil) {
		return nil, errors.New("router: give either static peers or a discovery topic")
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.FailureMemory <= 0 {
		cfg.FailureMemory = DefaultFailureMemory
	}
	r := &Router{cfg: cfg, log: cfg.Logger, failed: map[string]Failure{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	for _, a := range cfg.Peers {
		r.peers = append(r.peers, &Peer{Addr: a})
	}
	return r, nil
}

// Poll asks every static peer what it serves, in parallel (nothing with
// discovery, whose announcements keep themselves current).
func (r *Router) Poll(ctx context.Context) {
	if r.cfg.Topic != nil {
		return
	}
	r.pollMu.Lock()
	defer r.pollMu.Unlock()
	var wg sync.WaitGroup
	for _, p := range r.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, r.cfg.ProbeTimeout)
			defer cancel()
			t0 := time.Now()
			id, info, err := r.probe(pctx, p.Addr)
			r.mu.Lock()
			defer r.mu.Unlock()
			if id != "" {
				p.ID = id
			}
			p.Err, p.Latency = err, time.Since(t0)
			if err == nil {
				p.Info, p.Known, p.LastSeen = info, true, time.Now()
			} else {
				r.log.Debug("node did not answer", "addr", p.Addr, "err", err)
			}
		}()
	}
	wg.Wait()
	r.mu.Lock()
	r.polled = true
	r.mu.Unlock()
}

func (r *Router) probe(ctx context.Context, addr string) (string, swarm.NodeInfo, error) {
	h := r.cfg.Host
	id, err := h.Connect(ctx, addr)
	if err != nil {
		return "", swarm.NodeInfo{}, err
	}
	st, err := h.OpenStream(ctx, id, swarm.InfoProtocolID)
	if err != nil {
		return id, swarm.NodeInfo{}, err
	}
	defer st.Close()
	info, err := swarm.ReadInfo(st)
	return id, info, err
}

// Peers returns the static peers' state, in the order given.
func (r *Router) Peers() []Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Peer, len(r.peers))
	for i, p := range r.peers {
		out[i] = *p
	}
	return out
}

// Fail remembers that peer failed (why), keeping it out of new plans for
// FailureMemory unless nothing else covers its layers.
func (r *Router) Fail(peer string, why error) {
	if peer == "" || peer == "local" || Busy(why) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed[peer] = Failure{At: time.Now(), Why: shortError(why)}
}

// Busy reports whether err is a node turning a session away because of
// its load or its per-peer limits (wire codes Busy and TooManySessions):
// the node works, so it is not remembered as failed, which would keep
// every later chain off it for FailureMemory.
func Busy(err error) bool {
	var we *wire.Error
	return errors.As(err, &we) && (we.Code == wire.CodeBusy || we.Code == wire.CodeTooManySessions)
}

// Failure returns peer's failure within FailureMemory.
func (r *Router) Failure(peer string) (Failure, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.failed[peer]
	if !ok || time.Since(f.At) >= r.cfg.FailureMemory {
		return Failure{}, false
	}
	return f, true
}

// Observe remembers the nodes an error of a chain names as failed (see
// Failed).
func (r *Router) Observe(err error) { Failed(err, r.Fail) }

// Failed calls fn for each node an error of a chain names as failed: the
// hop of a *swarm.HopError and every replacement its failover tried.
func Failed(err error, fn func(peer string, why error)) {
	var he *swarm.HopError
	if !errors.As(err, &he) {
		return
	}
	fn(he.Peer, he.Err)
	var fe *swarm.FailoverError
	if errors.As(err, &fe) {
		for _, a := range fe.Tried {
			for _, p := range a.Peers {
				fn(p, a.Err)
			}
		}
	}
}

// FailedIn calls fn for each node a recovered failure found failing: the
// node replaced and the replacements tried before the one that worked.
func FailedIn(f swarm.Failover, fn func(peer string, why error)) {
	fn(f.Peer, f.Cause)
	for _, a := range f.Tried {
		for _, p := range a.Peers {
			fn(p, a.Err)
		}
	}
}

// recent lists the peers failed within FailureMemory, forgetting older
// failures.
func (r *Router) recent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id, f := range r.failed {
		if time.Since(f.At) < r.cfg.FailureMemory {
			out = append(out, id)
		} else {
			delete(r.failed, id)
		}
	}
	sort.Strings(out)
	return out
}

// candidate is a node a plan may use, with how to reach it.
type candidate struct {
	route.Candidate
	addrs func() // adds its addresses to the host's peerstore (discovery)
}

// candidates returns the usable nodes now, and a description of the
// unusable ones for errors.
func (r *Router) candidates() ([]candidate, []string) {
	if t := r.cfg.Topic; t != nil {
		var out []candidate
		var skipped []string
		for _, e := range t.Live() {
			if e.Layers != r.cfg.Layers || e.Protocol < 1 {
				skipped = append(skipped, fmt.Sprintf("%s (announces %d layers, protocol %d)", discovery.ShortPeer(e.Peer.String()), e.Layers, e.Protocol))
				continue
			}
			c := e.Candidate()
			c.Exact = e.Protocol < 2
			id, addrs := e.Peer, e.Addrs
			out = append(out, candidate{Candidate: c, addrs: func() {
				r.cfg.Host.Libp2p().Peerstore().AddAddrs(id, addrs, peerstore.AddressTTL)
			}})
		}
		return out, skipped
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []candidate
	var skipped []string
	for _, p := range r.peers {
		why := ""
		switch {
		case p.Err != nil:
			why = shortError(p.Err)
		case !p.Known:
			why = "not asked yet"
		case p.Info.ModelCommit != r.cfg.ModelCommit:
			why = "serves model " + commit.Short(p.Info.ModelCommit)
		case r.cfg.RequireKeys:
			if _, err := AnnouncedKey(p.ID, p.Info); err != nil {
				why = err.Error()
			}
		}
		if why != "" {
			skipped = append(skipped, fmt.Sprintf("%s (%s)", shortAddr(p.Addr), why))
			continue
		}
		out = append(out, candidate{Candidate: route.Candidate{Peer: p.ID, Range: p.Info.Range, RTT: p.Latency,
			FreeSlots: p.Info.FreeSessions, Exact: !p.Info.Subranges()}})
	}
	return out, skipped
}

// NoRouteError is the router's error when the layers cannot be covered:
// route's error, with the nodes that could not be used and why.
type NoRouteError struct {
	*route.UncoveredError
	Skipped []string
	Note    string
}

func (e *NoRouteError) Error() string {
	s := e.UncoveredError.Error()
	if len(e.Skipped) > 0 {
		s += "; not usable: " + strings.Join(e.Skipped, ", ")
	}
	if e.Note != "" {
		s += " (" + e.Note + ")"
	}
	return s
}

func (e *NoRouteError) Unwrap() error { return e.UncoveredError }

// plan routes layers [from, to) avoiding exclude and, when something else
// covers, the recently failed nodes.
func (r *Router) plan(from, to int, exclude []string, prevOp, nextOp string) ([]swarm.Hop, error) {
	cands, skipped := r.candidates()
	req := route.PlanRequest{From: from, To: to, Subranges: true, PrevOperator: prevOp, NextOperator: nextOp}
	for _, c := range cands {
		req.Candidates = append(req.Candidates, c.Candidate)
	}
	req.Exclude = slices.Concat(exclude, r.recent())
	rt, err := route.Plan(req)
	if err != nil && len(req.Exclude) > len(exclude) {
		req.Exclude = exclude
		rt, err = route.Plan(req)
	}
	if err != nil {
		var ue *route.UncoveredError
		if errors.As(err, &ue) {
			if len(exclude) > 0 {
				skipped = append(skipped, "excluded after failing: "+strings.Join(shortPeers(exclude), ", "))
			}
			return nil, &NoRouteError{UncoveredError: ue, Skipped: skipped}
		}
		return nil, err
	}
	byPeer := map[string]candidate{}
	for _, c := range cands {
		byPeer[c.Peer] = c
	}
	var hops []swarm.Hop
	for _, hp := range rt.Hops {
		if c := byPeer[hp.Peer]; c.addrs != nil {
			c.addrs()
		}
		hops = append(hops, r.hop(hp))
	}
	return hops, nil
}

// hop is a remote hop on the planned node.
func (r *Router) hop(hp route.Hop) swarm.Hop {
	h := r.cfg.Host
	id := hp.Peer
	sh := swarm.RemoteHop(id, hp.Range, func(ctx context.Context) (swarm.Stream, error) {
		return h.OpenStream(ctx, id, wire.ProtocolID)
	})
	sh.Operator = hp.Operator
	// Receipts and payer statements name the node by the key inside its
	// peer id (which, with discovery, also signed its announcement).
	if key, err := PeerKey(id); err == nil {
		sh.PubKey = key
	}
	return sh
}

// Plan returns hops covering layers [from, Layers): the route with the
// least estimated latency over the nodes known now (each hop may compute
// part of a node's range), avoiding recently failed nodes when others
// cover their layers. With static peers it asks them first if it never
// did, and again when they do not cover; with discovery it waits up to
// Wait for the announcements to cover. The error wraps
// *route.UncoveredError naming the missing layers.
func (r *Router) Plan(ctx context.Context, from int) ([]swarm.Hop, error) {
	return r.route(ctx, from, r.cfg.Layers, nil, "", "", r.cfg.Wait)
}

// Reroute implements swarm.Reroute: hops covering exactly req.Range,
// none in req.Exclude.
func (r *Router) Reroute(ctx context.Context, req swarm.RerouteRequest) ([]swarm.Hop, error) {
	return r.route(ctx, req.Range.First, req.Range.Last, req.Exclude, req.PrevOperator, req.NextOperator, r.cfg.Wait)
}

func (r *Router) route(ctx context.Context, from, to int, exclude []string, prevOp, nextOp string, wait time.Duration) ([]swarm.Hop, error) {
	if from < 0 || to > r.cfg.Layers || from >= to {
		return nil, fmt.Errorf("router: cannot route layers %d:%d of a %d-layer model", from, to, r.cfg.Layers)
	}
	if r.cfg.Topic == nil {
		r.mu.Lock()
		polled := r.polled
		r.mu.Unlock()
		if !polled {
			r.Poll(ctx)
		}
		hops, err := r.plan(from, to, exclude, prevOp, nextOp)
		if err == nil || !polled {
			return hops, err
		}
		// The nodes may have come back, or changed range.
		r.Poll(ctx)
		return r.plan(from, to, exclude, prevOp, nextOp)
	}
	hops, err := r.plan(from, to, exclude, prevOp, nextOp)
	if err == nil || wait <= 0 {
		return hops, err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	_ = r.cfg.Topic.Wait(wctx, func([]discovery.Entry) bool {
		hops, err = r.plan(from, to, exclude, prevOp, nextOp)
		return err == nil
	})
	cancel()
	var nr *NoRouteError
	if errors.As(err, &nr) {
		nr.Note = fmt.Sprintf("after waiting %v for announcements; %d nodes heard", wait, len(r.cfg.Topic.Live()))
	}
	return hops, err
}

// Chain builds a chain for cfg: a local hop for local (when not nil), then
// the planned hops for the layers after it. It sets cfg.Reroute to
// r.Reroute, so the chain fails over through this router, and
// cfg.OnFailover to remember the failed nodes (calling the caller's
// OnFailover too).
func (r *Router) Chain(ctx context.Context, cfg swarm.ChainConfig, local *model.Model) (*swarm.Chain, error) {
	var hops []swarm.Hop
	from := 0
	if local != nil {
		hops = append(hops, swarm.LocalHop(local))
		from = local.Range.Last
	}
	if from < r.cfg.Layers {
		planned, err := r.Plan(ctx, from)
		if err != nil {
			return nil, err
		}
		hops = append(hops, planned...)
	}
	cfg.Reroute = r.Reroute
	user := cfg.OnFailover
	cfg.OnFailover = func(f swarm.Failover) {
		FailedIn(f, r.Fail)
		r.log.Warn("failover", "layers", f.Range.String(), "failed", f.Peer, "replacement", strings.Join(f.Replacement, ","),
			"positions_replayed", f.Positions, "recovery", f.Recovery.Round(time.Millisecond).String(), "cause", shortError(f.Cause))
		if user != nil {
			user(f)
		}
	}
	return swarm.NewChain(cfg, hops)
}

// PeerKey extracts the Ed25519 key inside a libp2p peer id: the key a
// node signs its receipts and announcements with.
func PeerKey(id string) (ed25519.PublicKey, error) {
	pid, err := peer.Decode(id)
	if err != nil {
		return nil, fmt.Errorf("peer id %q: %w", id, err)
	}
	pk, err := pid.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("peer id %s holds no public key: %w", id, err)
	}
	if pk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("peer id %s has a %s key, receipts need Ed25519", id, pk.Type())
	}
	raw, err := pk.Raw()
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(raw), nil
}

// AnnouncedKey returns the key a node is known by (its peer id's) after
// checking that its Info names the same receipt key.
func AnnouncedKey(id string, info swarm.NodeInfo) (ed25519.PublicKey, error) {
	key, err := PeerKey(id)
	if err != nil {
		return nil, err
	}
	if got := info.Key(); !got.Equal(key) {
		if got == nil {
			return nil, fmt.Errorf("node %s does not sign receipts (it announces no key)", id)
		}
		return nil, fmt.Errorf("node %s announces receipt key %x, its peer id's key is %x", id, []byte(got), []byte(key))
	}
	return key, nil
}

func shortError(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:157] + "…"
	}
	return msg
}

func shortAddr(a string) string {
	if i := strings.LastIndex(a, "/p2p/"); i >= 0 {
		return a[:i] + "/p2p/" + discovery.ShortPeer(a[i+5:])
	}
	return a
}

func shortPeers(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = discovery.ShortPeer(id)
	}
	return out
}
