package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/discovery"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/router"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// chainOptions configure the client side of a distributed generation.
type chainOptions struct {
	Peers       []string // full multiaddrs of nodes
	LocalLayers int      // run layers [0, LocalLayers) in this process
	DType       wire.DType
	Timeout     time.Duration
	// MaxPositions is the session length asked of the nodes (0: the
	// model's context).
	MaxPositions int
	// Verify checks the nodes' signed receipts (and audits them with its
	// verification keys); nil checks nothing.
	Verify *swarm.Verification
	// Payer signs every session request with the client's ledger key,
	// for nodes that admit only paying clients (nil: none); such a node
	// checks the balance against MaxPositions.
	Payer ed25519.PrivateKey
	// OnFailover is told of each node replaced mid-generation.
	OnFailover func(swarm.Failover)
}

// chainConfig is the configuration of every chain a command builds: the
// one place where the model, wire encoding, verification, payer and
// failover settings meet.
func (o chainOptions) chainConfig(cfg model.Config, c commit.Commitments) swarm.ChainConfig {
	return swarm.ChainConfig{
		Model:        cfg,
		ModelCommit:  c.Model,
		MaxPositions: o.MaxPositions,
		DType:        o.DType,
		Timeout:      o.Timeout,
		Verify:       o.Verify,
		Payer:        o.Payer,
		OnFailover:   o.OnFailover,
	}
}

// localLayers loads layers [0, o.LocalLayers) of lm's file to run in this
// process (nil when none).
func (o chainOptions) localLayers(lm *localModel) (*model.Model, error) {
	if o.LocalLayers <= 0 {
		return nil, nil
	}
	cfg := lm.model.Config
	if o.LocalLayers >= cfg.Layers {
		return nil, fmt.Errorf("--local-layers %d: the model has %d layers (keep at least one for the nodes)", o.LocalLayers, cfg.Layers)
	}
	m, err := model.Load(lm.file, model.Options{Layers: model.Range{First: 0, Last: o.LocalLayers}, Pool: lm.pool})
	if err != nil {
		return nil, fmt.Errorf("--local-layers needs layers 0:%d in %s: %w", o.LocalLayers, lm.name, err)
	}
	return m, nil
}

// newRouter is the router of a client of lm's model: over the nodes at
// o.Peers, or over the announcements on topic when it is not nil
// (waiting up to wait for them to cover the layers).
func newRouter(h *p2p.Host, topic *discovery.Topic, lm *localModel, c commit.Commitments, o chainOptions, wait time.Duration, log *slog.Logger) (*router.Router, error) {
	rc := router.Config{Host: h, ModelCommit: c.Model, Layers: lm.model.Config.Layers, Wait: wait,
		RequireKeys: o.Verify != nil || o.Payer != nil, Logger: log}
	if topic != nil {
		rc.Topic = topic
	} else {
		rc.Peers = o.Peers
	}
	return router.New(rc)
}

// remoteChain connects to the nodes at o.Peers, learns what each serves,
// and builds a chain covering every layer (local layers first) that fails
// over to the other nodes when one fails. It fails naming the first
// uncovered range.
func remoteChain(ctx context.Context, h *p2p.Host, lm *localModel, c commit.Commitments, o chainOptions) (*swarm.Chain, *router.Router, error) {
	rt, err := newRouter(h, nil, lm, c, o, 0, nil)
	if err != nil {
		return nil, nil, err
	}
	chain, err := routedChain(ctx, rt, lm, c, o)
	return chain, rt, err
}

// routedChain builds a chain planned by rt, local layers first.
func routedChain(ctx context.Context, rt *router.Router, lm *localModel, c commit.Commitments, o chainOptions) (*swarm.Chain, error) {
	local, err := o.localLayers(lm)
	if err != nil {
		return nil, err
	}
	return rt.Chain(ctx, o.chainConfig(lm.model.Config, c), local)
}

// printRoute writes the chain's hops on one line.
func printRoute(w io.Writer, stats []swarm.HopStats) {
	fmt.Fprint(w, "[route:")
	for i, s := range stats {
		if s.Retired {
			continue
		}
		sep := ","
		if i == 0 {
			sep = ""
		}
		where := "here"
		if !s.Local {
			where = "node " + shortPeer(s.Peer)
		}
		fmt.Fprintf(w, "%s layers %s %s", sep, s.Range, where)
	}
	fmt.Fprintln(w, "]")
}

// printFailover writes one line about a recovered node failure.
func printFailover(w io.Writer, f swarm.Failover) {
	why := f.Cause.Error()
	if len(why) > 90 {
		why = why[:87] + "…"
	}
	fmt.Fprintf(w, "[failover: layers %s: node %s failed after %v (%s); now on %s; %d positions replayed; recovered in %v]\n",
		f.Range, shortPeer(f.Peer), f.Detect.Round(time.Millisecond), why, shortPeers(f.Replacement), f.Positions, f.Recovery.Round(time.Millisecond))
}

func shortPeers(ids []string) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += " + "
		}
		s += "node " + shortPeer(id)
	}
	return s
}
