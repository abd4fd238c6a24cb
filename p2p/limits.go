package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// Resource defaults of a host, sized for a consumer machine that serves a
// swarm: a node's clients (gateways, other nodes, validators) hold a few
// connections each and a few streams per session.
const (
	DefaultMaxConns          = 256
	DefaultMaxConnsPerPeer   = 8
	DefaultMaxStreams        = 4096
	DefaultMaxStreamsPerPeer = 256
	// DefaultMaxMemory caps the buffers (stream windows, mostly) the
	// libp2p stack may reserve; libp2p's own scaling gives it an eighth
	// of the machine's memory, which this caps.
	DefaultMaxMemory = 1 << 30
)

// Limits bound what the host's peers may take, enforced by libp2p's
// resource manager: beyond them a connection or stream is refused (a
// stream is reset before its protocol's handler sees it), and the other
// peers keep being served. Zero fields take the defaults above.
// Connections from one IPv4 address (beside loopback) are further
// limited to 8 at once, as libp2p does by default.
type Limits struct {
	MaxConns          int   // connections at once, in either direction
	MaxConnsPerPeer   int   // connections at once with one peer
	MaxStreams        int   // streams at once, over all peers
	MaxStreamsPerPeer int   // streams one peer may have open to the host at once
	MaxMemory         int64 // bytes of buffers the stack may reserve
}

// withDefaults returns l with its zero fields set to the defaults.
func (l Limits) withDefaults() (Limits, error) {
	if l.MaxConns < 0 || l.MaxConnsPerPeer < 0 || l.MaxStreams < 0 || l.MaxStreamsPerPeer < 0 || l.MaxMemory < 0 {
		return l, fmt.Errorf("p2p: negative limit in %+v", l)
	}
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxConnsPerPeer == 0 {
		l.MaxConnsPerPeer = DefaultMaxConnsPerPeer
	}
	if l.MaxStreams == 0 {
		l.MaxStreams = DefaultMaxStreams
	}
	if l.MaxStreamsPerPeer == 0 {
		l.MaxStreamsPerPeer = DefaultMaxStreamsPerPeer
	}
	if l.MaxMemory == 0 {
		l.MaxMemory = DefaultMaxMemory
	}
	return l, nil
}

// resourceManager builds the libp2p resource manager enforcing l (with
// defaults applied): libp2p's default limits scaled to the machine, with
// the system and per-peer connections, streams and memory set from l.
func resourceManager(l Limits) (network.ResourceManager, error) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	base := scaling.AutoScale()
	peerMem := min(base.ToPartialLimitConfig().PeerDefault.Memory.Build(0), l.MaxMemory/4)
	sysConns := rcmgr.LimitVal(l.MaxConns)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: sysConns, ConnsInbound: sysConns, ConnsOutbound: sysConns,
			Streams: rcmgr.LimitVal(l.MaxStreams), StreamsInbound: rcmgr.LimitVal(l.MaxStreams), StreamsOutbound: rcmgr.LimitVal(l.MaxStreams),
			Memory: rcmgr.LimitVal64(l.MaxMemory),
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns: rcmgr.LimitVal(l.MaxConnsPerPeer), ConnsInbound: rcmgr.LimitVal(l.MaxConnsPerPeer), ConnsOutbound: rcmgr.LimitVal(l.MaxConnsPerPeer),
			StreamsInbound: rcmgr.LimitVal(l.MaxStreamsPerPeer),
			Memory:         rcmgr.LimitVal64(peerMem),
		},
	}
	limits := partial.Build(base)
	// Metrics would register in Prometheus' global registry.
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), rcmgr.WithMetricsDisabled())
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}

// connWatermarks are the connection manager's: it trims connections
// before the resource manager would refuse new ones.
func connWatermarks(maxConns int) (low, high int) {
	high = min(connHigh, max(2, maxConns*3/4))
	return min(connLow, max(1, high/2)), high
}
