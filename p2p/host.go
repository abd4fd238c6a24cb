// Package p2p is Tessera's libp2p host: a persistent Ed25519 identity, TCP
// and QUIC transports secured with Noise (QUIC brings its own TLS 1.3),
// yamux stream multiplexing, protocol handlers and outgoing streams.
//
// The host is deliberately quiet: it listens only where it is told (by
// default on 127.0.0.1), advertises only the addresses it listens on, and
// runs no relay, hole punching, NAT port mapping, mDNS or DHT.
package p2p

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	msmux "github.com/multiformats/go-multistream"
)

// DefaultListen are the addresses a host listens on when Config.Listen is
// empty: an OS-chosen TCP port and an OS-chosen QUIC port, on loopback only.
var DefaultListen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// Connection manager watermarks: above connHigh connections the host trims
// unprotected ones down to connLow, sparing those younger than connGrace
// (lower when Limits.MaxConns is low: see connWatermarks).
const (
	connLow   = 64
	connHigh  = 128
	connGrace = time.Minute
)

// UserAgent is what the host tells peers in identify.
const UserAgent = "tessera"

// ErrProtocolNotSupported is wrapped by OpenStream's error when the peer
// does not handle the requested protocol.
var ErrProtocolNotSupported = errors.New("protocol not supported by peer")

// Config configures New.
type Config struct {
	// DataDir holds the persistent identity (identity.key). Used only when
	// Key is nil.
	DataDir string
	// Listen lists the multiaddrs to listen on; empty means DefaultListen.
	// Each must be …/tcp/PORT or …/udp/PORT/quic-v1 (port 0 picks one).
	Listen []string
	// Key is the host's identity; it must be Ed25519. If nil, the key is
	// loaded from (or created in) DataDir; with no DataDir either, the host
	// gets an ephemeral key.
	Key crypto.PrivKey
	// Limits bound the connections, streams and memory peers may take
	// (zero fields: the defaults).
	Limits Limits
}

// Host is a running libp2p host. Its methods are safe for concurrent use.
type Host struct {
	h   host.Host
	key crypto.PrivKey

	closeOnce sync.Once
	closeErr  error
}

// New starts a host listening on cfg.Listen. ctx bounds only the start-up;
// the host runs until Close.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("p2p: start host: %w", err)
	}
	key := cfg.Key
	switch {
	case key != nil:
		if key.Type() != crypto.Ed25519 {
			return nil, fmt.Errorf("p2p: Config.Key is a %s key; an Ed25519 key is required", key.Type())
		}
	case cfg.DataDir != "":
		var err error
		if key, err = LoadOrCreateIdentity(cfg.DataDir); err != nil {
			return nil, err
		}
	default:
		var err error
		if key, _, err = crypto.GenerateEd25519Key(rand.Reader); err != nil {
			return nil, fmt.Errorf("p2p: generate ephemeral identity: %w", err)
		}
	}

	listen := cfg.Listen
	if len(listen) == 0 {
		listen = DefaultListen
	}
	laddrs := make([]ma.Multiaddr, 0, len(listen))
	for _, s := range listen {
		m, err := ma.NewMultiaddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("p2p: listen address %q: %v", s, err)
		}
		if _, err := transportKind(m); err != nil {
			return nil, fmt.Errorf("p2p: listen address %q: %v", s, err)
		}
		laddrs = append(laddrs, m)
	}

	lim, err := cfg.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	rm, err := resourceManager(lim)
	if err != nil {
		return nil, err
	}
	low, high := connWatermarks(lim.MaxConns)
	cm, err := connmgr.NewConnManager(low, high, connmgr.WithGracePeriod(connGrace))
	if err != nil {
		_ = rm.Close()
		return nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrs(laddrs...),
		// Only TCP and QUIC. TCP without SO_REUSEPORT: reusing the listen
		// port for outgoing dials only helps NAT traversal, which we do not
		// do. QUIC secures itself with TLS 1.3, so no TLS security transport.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		// Nothing that reaches beyond the configured addresses: no relay
		// (neither dialling through nor serving), no NAT port mapping, no
		// hole punching (off unless enabled), and no addresses learnt from
		// what peers observe: the host advertises its listen addresses only.
		libp2p.DisableRelay(),
		libp2p.DisableIdentifyAddressDiscovery(),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		// Metrics would register in Prometheus' global registry.
		libp2p.DisableMetrics(),
		libp2p.UserAgent(UserAgent),
	)
	if err != nil {
		_ = cm.Close()
		_ = rm.Close()
		return nil, fmt.Errorf("p2p: start host: %w", err)
	}
	hst := &Host{h: h, key: key}
	if err := ctx.Err(); err != nil {
		_ = hst.Close()
		return nil, fmt.Errorf("p2p: start host: %w", err)
	}
	return hst, nil
}

// ID returns the host's peer ID (12D3KooW…).
func (h *Host) ID() string { return h.h.ID().String() }

// Addrs returns the full dialable addresses of the host, one per listen
// address (an unspecified IP such as 0.0.0.0 is expanded to the machine's
// interface addresses), each ending in /p2p/<ID>: TCP first, then QUIC.
func (h *Host) Addrs() []string {
	addrs, err := h.h.Network().InterfaceListenAddresses()
	if err != nil {
		// Could not list interfaces: fall back to the specified addresses.
		addrs = nil
		for _, a := range h.h.Network().ListenAddresses() {
			if !manet.IsIPUnspecified(a) {
				addrs = append(addrs, a)
			}
		}
	}
	rank := func(m ma.Multiaddr) int {
		kind, _ := transportKind(m)
		switch kind {
		case "tcp":
			return 0
		case "quic":
			return 1
		}
		return 2
	}
	slices.SortFunc(addrs, func(a, b ma.Multiaddr) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a.String(), b.String()))
	})
	self := peerComponent(h.h.ID())
	out := make([]string, 0, len(addrs))
	for _, a := range slices.CompactFunc(addrs, ma.Multiaddr.Equal) {
		out = append(out, a.Encapsulate(self).String())
	}
	return out
}

// PrivKey returns the host's private key.
func (h *Host) PrivKey() crypto.PrivKey { return h.key }

// PubKey returns the host's raw 32-byte Ed25519 public key.
func (h *Host) PubKey() []byte {
	raw, err := h.key.GetPublic().Raw()
	if err != nil {
		// Raw never fails for an Ed25519 key, the only type New accepts.
		panic(err)
	}
	return raw
}

// Libp2p returns the underlying libp2p host, for what this package does not
// wrap (gossipsub, peer protection in the connection manager, …).
func (h *Host) Libp2p() host.Host { return h.h }

// Handle serves protocol proto (e.g. "/tessera/forward/1.0.0") with handler,
// replacing any previous handler. The handler owns the stream and must close
// or reset it.
func (h *Host) Handle(proto string, handler func(network.Stream)) {
	if proto == "" {
		panic("p2p: Handle: empty protocol")
	}
	if handler == nil {
		panic("p2p: Handle: nil handler")
	}
	h.h.SetStreamHandler(protocol.ID(proto), handler)
}

// Connect dials the peer at fullAddr (/ip4/…/tcp/…/p2p/ID or
// /ip4/…/udp/…/quic-v1/p2p/ID), remembers the address for later redials,
// and returns the peer's ID. ctx bounds the dial.
func (h *Host) Connect(ctx context.Context, fullAddr string) (peerID string, err error) {
	info, err := parsePeerAddr(fullAddr)
	if err != nil {
		return "", fmt.Errorf("p2p: connect: %w", err)
	}
	if info.ID == h.h.ID() {
		return "", fmt.Errorf("p2p: connect %s: that is this host's own address", fullAddr)
	}
	// Keep the address beyond the dial's temporary TTL so that OpenStream
	// can redial after the connection drops.
	h.h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.AddressTTL)
	if err := h.h.Connect(ctx, info); err != nil {
		return "", fmt.Errorf("p2p: connect %s: %w", fullAddr, err)
	}
	return info.ID.String(), nil
}

// OpenStream opens a stream to peerID speaking proto, dialling the peer
// (at an address it was connected on before) if not connected. When the
// peer does not serve proto, the error wraps ErrProtocolNotSupported. ctx
// bounds the dial and the protocol negotiation; it does not limit the life
// of the returned stream.
func (h *Host) OpenStream(ctx context.Context, peerID, proto string) (network.Stream, error) {
	id, err := peer.Decode(peerID)
	if err != nil {
		return nil, fmt.Errorf("p2p: open stream: invalid peer ID %q: %v", peerID, err)
	}
	if id == h.h.ID() {
		return nil, errors.New("p2p: open stream: cannot open a stream to this host itself")
	}
	if proto == "" {
		return nil, errors.New("p2p: open stream: empty protocol")
	}
	s, err := h.h.NewStream(ctx, id, protocol.ID(proto))
	if err != nil {
		if errors.Is(err, msmux.ErrNotSupported[protocol.ID]{}) {
			return nil, fmt.Errorf("p2p: open stream %s to %s: %w", proto, peerID, ErrProtocolNotSupported)
		}
		return nil, fmt.Errorf("p2p: open stream %s to %s: %w", proto, peerID, err)
	}
	return s, nil
}

// Close stops listening and closes every connection. It is safe to call
// more than once.
func (h *Host) Close() error {
	h.closeOnce.Do(func() { h.closeErr = h.h.Close() })
	return h.closeErr
}
