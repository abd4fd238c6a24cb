package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// peerInfo is what a node says about itself, with the peer it came from.
type peerInfo struct {
	addr string
	id   string
	info swarm.NodeInfo
}

// chainOptions configure the client side of a distributed generation.
type chainOptions struct {
	Peers       []string // full multiaddrs of nodes
	LocalLayers int      // run layers [0, LocalLayers) in this process
	DType       wire.DType
	Timeout     time.Duration
	// Verify checks the nodes' signed receipts (and audits them with its
	// verification keys); nil checks nothing.
	Verify *swarm.Verification
	// Payer signs every session request with the client's ledger key,
	// for nodes that admit only paying clients; MaxPositions is the
	// session length asked of the nodes (0: the model's context), which
	// is what such a node checks the balance against.
	Payer        ed25519.PrivateKey
	MaxPositions int
}

// chainConfig is the chain configuration these options give for model c.
func (o chainOptions) chainConfig(cfg model.Config, c commit.Commitments) swarm.ChainConfig {
	return swarm.ChainConfig{Model: cfg, ModelCommit: c.Model, DType: o.DType, Timeout: o.Timeout, Verify: o.Verify,
		Payer: o.Payer, MaxPositions: o.MaxPositions}
}

// remoteChain connects to the peers, learns the range each serves, and
// builds a chain covering every layer: local layers first, then nodes in
// layer order. It fails naming the first uncovered range.
func remoteChain(ctx context.Context, h *p2p.Host, lm *localModel, c commit.Commitments, o chainOptions) (*swarm.Chain, []peerInfo, error) {
	cfg := lm.model.Config
	var peers []peerInfo
	for _, addr := range o.Peers {
		id, err := h.Connect(ctx, addr)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to %s: %w", addr, err)
		}
		s, err := h.OpenStream(ctx, id, swarm.InfoProtocolID)
		if err != nil {
			return nil, nil, fmt.Errorf("ask %s what it serves: %w", addr, err)
		}
		info, err := swarm.ReadInfo(s)
		s.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("ask %s what it serves: %w", addr, err)
		}
		if info.ModelCommit != c.Model {
			return nil, nil, fmt.Errorf("node %s serves model %s, not this model (%s)", addr, commit.Short(info.ModelCommit), commit.Short(c.Model))
		}
		if o.Verify != nil {
			if _, err := announcedKey(id, info); err != nil {
				return nil, nil, fmt.Errorf("node %s: %w", addr, err)
			}
		}
		peers = append(peers, peerInfo{addr: addr, id: id, info: info})
	}
	sort.SliceStable(peers, func(i, j int) bool { return peers[i].info.Range.First < peers[j].info.Range.First })

	var hops []swarm.Hop
	next := 0
	if o.LocalLayers > 0 {
		if o.LocalLayers > cfg.Layers {
			return nil, nil, fmt.Errorf("--local-layers %d: the model has %d layers", o.LocalLayers, cfg.Layers)
		}
		local, err := model.Load(lm.file, model.Options{Layers: model.Range{First: 0, Last: o.LocalLayers}, Pool: lm.pool})
		if err != nil {
			return nil, nil, fmt.Errorf("--local-layers needs layers 0:%d in %s: %w", o.LocalLayers, lm.name, err)
		}
		hops = append(hops, swarm.LocalHop(local))
		next = o.LocalLayers
	}
	var used []peerInfo
	for next < cfg.Layers {
		best := -1
		for i, p := range peers {
			if p.info.Range.First == next && (best < 0 || p.info.Range.Last > peers[best].info.Range.Last) {
				best = i
			}
		}
		if best < 0 {
			return nil, nil, fmt.Errorf("no peer serves layers starting at %d (uncovered range %d:%d; peers serve %s)", next, next, cfg.Layers, describePeers(peers))
		}
		p := peers[best]
		id := p.id
		hop := swarm.RemoteHop(id, p.info.Range, func(ctx context.Context) (swarm.Stream, error) {
			return h.OpenStream(ctx, id, wire.ProtocolID)
		})
		// Receipts and payer statements name the node by the key inside
		// its peer id.
		key, err := peerPubKey(id)
		if err != nil {
			return nil, nil, err
		}
		hop.PubKey = key
		hops = append(hops, hop)
		used = append(used, p)
		next = p.info.Range.Last
	}
	chain, err := swarm.NewChain(o.chainConfig(cfg, c), hops)
	if err != nil {
		return nil, nil, err
	}
	return chain, used, nil
}

func describePeers(peers []peerInfo) string {
	if len(peers) == 0 {
		return "nothing"
	}
	var parts []string
	for _, p := range peers {
		parts = append(parts, p.info.Range.String())
	}
	return strings.Join(parts, ", ")
}
