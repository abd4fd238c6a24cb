package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/p2p"
)

// TopicPrefix starts the name of every announcement topic; the model
// commitment in lowercase hex follows.
const TopicPrefix = "tessera/announce/"

// TopicName is the gossipsub topic of a model's announcements.
func TopicName(modelCommit [32]byte) string { return TopicPrefix + commit.Hex(modelCommit) }

// Defaults of Config.
const (
	DefaultInterval = 30 * time.Second
	DefaultPeers    = 8
	// dialTimeout bounds one dial or snapshot exchange.
	dialTimeout = 5 * time.Second
	// pingTimeout bounds one RTT measurement.
	pingTimeout = 2 * time.Second
	// maxPings bounds the RTT measurements of one maintenance round.
	maxPings = 16
)

// Config configures a discovery Service.
type Config struct {
	// Host is the libp2p host the service runs on. The service creates the
	// host's gossipsub router; use Service.PubSub to share it.
	Host *p2p.Host
	// Bootstrap are full addresses (…/p2p/<id>) of peers to join through.
	// Any node is fit to be one; once joined, a node keeps connections to
	// the peers it learns from announcements, so losing a bootstrap peer
	// does not cut it off. Unreachable bootstrap peers are retried while
	// the node has no topic peer.
	Bootstrap []string
	// MDNS also finds peers on the local network by multicast DNS. Off by
	// default: it sends multicast packets.
	MDNS bool
	// Policy bounds the times of announcements accepted.
	Policy Policy
	// Interval is the period of re-announcing and of connection upkeep
	// (0: DefaultInterval).
	Interval time.Duration
	// TTL is the lifetime of this node's announcements (0: 3 × Interval);
	// at most Policy.MaxTTL.
	TTL time.Duration
	// Peers is how many announced peers the service keeps connections with
	// (0: DefaultPeers).
	Peers int
	// Now is the clock (nil: time.Now). Everything time-dependent in the
	// service reads it, so tests can move time.
	Now func() time.Time
	// Logger receives the service's and gossipsub's log (nil: discarded).
	Logger *slog.Logger
	// PubSubOptions are added to the gossipsub router's options (tests).
	PubSubOptions []pubsub.Option
}

// Service runs discovery on a host: the gossipsub router, the snapshot
// protocol, bootstrap and upkeep of connections, RTT measurement and
// optionally mDNS. Join a model's topic to see and send its
// announcements.
type Service struct {
	cfg    Config
	host   *p2p.Host
	ps     *pubsub.PubSub
	now    func() time.Time
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}
	boot   []peer.AddrInfo
	mdns   *mdnsService

	notifee *network.NotifyBundle

	mu       sync.Mutex
	topics   map[[32]byte]*Topic
	closed   bool
	lastSync map[peer.ID]time.Time
}

// New starts discovery on cfg.Host. It does not wait for the bootstrap
// peers: they are dialled in the background (see WaitPeers). ctx bounds
// only the start-up.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Host == nil {
		return nil, errors.New("discovery: no host")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg.Policy = cfg.Policy.withDefaults()
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 3 * cfg.Interval
	}
	if cfg.TTL > cfg.Policy.MaxTTL {
		return nil, fmt.Errorf("discovery: announcement TTL %v exceeds the accepted maximum %v", cfg.TTL, cfg.Policy.MaxTTL)
	}
	if cfg.Peers <= 0 {
		cfg.Peers = DefaultPeers
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var boot []peer.AddrInfo
	for _, s := range cfg.Bootstrap {
		info, err := parseFullAddr(s)
		if err != nil {
			return nil, fmt.Errorf("discovery: bootstrap address: %w", err)
		}
		if info.ID == cfg.Host.Libp2p().ID() {
			continue // a node listed in its own bootstrap list
		}
		boot = append(boot, info)
	}
	sctx, cancel := context.WithCancel(context.Background())
	opts := append([]pubsub.Option{
		pubsub.WithPeerExchange(true),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithLogger(cfg.Logger),
	}, cfg.PubSubOptions...)
	ps, err := pubsub.NewGossipSub(sctx, cfg.Host.Libp2p(), opts...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("discovery: start gossipsub: %w", err)
	}
	s := &Service{
		cfg: cfg, host: cfg.Host, ps: ps, now: cfg.Now, log: cfg.Logger,
		ctx: sctx, cancel: cancel, kick: make(chan struct{}, 1), boot: boot,
		topics: map[[32]byte]*Topic{}, lastSync: map[peer.ID]time.Time{},
	}
	cfg.Host.Handle(SnapshotProtocolID, s.serveSnapshot)
	s.notifee = &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) { s.onConnect(c.RemotePeer()) }}
	cfg.Host.Libp2p().Network().Notify(s.notifee)
	if cfg.MDNS {
		if s.mdns, err = startMDNS(s); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.wg.Add(1)
	go s.upkeep()
	return s, nil
}

// PubSub returns the host's gossipsub router, for other topics.
func (s *Service) PubSub() *pubsub.PubSub { return s.ps }

// Host returns the service's host.
func (s *Service) Host() *p2p.Host { return s.host }

// Now reads the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// Close leaves every topic and stops the service (not the host).
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	topics := make([]*Topic, 0, len(s.topics))
	for _, t := range s.topics {
		topics = append(topics, t)
	}
	s.mu.Unlock()
	for _, t := range topics {
		t.Leave()
	}
	s.cancel() // ends dials, pings, snapshot exchanges and gossipsub
	if s.mdns != nil {
		s.mdns.close()
	}
	s.host.Libp2p().Network().StopNotify(s.notifee)
	s.host.Libp2p().RemoveStreamHandler(SnapshotProtocolID)
	s.wg.Wait()
	return nil
}

// Kick asks for a round of connection upkeep now.
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// upkeep runs until Close: every Interval (and when kicked) it drops
// expired announcements, keeps connections with announced peers, redials
// the bootstrap peers when cut off, and measures RTTs.
func (s *Service) upkeep() {
	defer s.wg.Done()
	s.round(true)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.round(false)
		case <-s.kick:
			s.round(false)
		}
	}
}

// round is one upkeep round.
func (s *Service) round(first bool) {
	now := s.now()
	topics := s.joined()
	for _, t := range topics {
		for _, id := range t.reg.Expire(now) {
			s.log.Debug("announcement expired", "peer", id, "topic", t.name)
		}
	}
	if first || s.topicPeers(topics) == 0 {
		s.dialBootstrap()
	}
	s.dialAnnounced(topics)
	s.measureRTT(topics)
}

// onConnect fetches, from a newly connected peer, the announcements it
// knows for the joined topics (at most once per half Interval per peer),
// so that a joining node or client learns the swarm at once rather than at
// the next round of announcements.
func (s *Service) onConnect(id peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.closed || len(s.topics) == 0 || now.Sub(s.lastSync[id]) < s.cfg.Interval/2 {
		return
	}
	if len(s.lastSync) > 4*connHighWater {
		clear(s.lastSync)
	}
	s.lastSync[id] = now
	topics := make([]*Topic, 0, len(s.topics))
	for _, t := range s.topics {
		topics = append(topics, t)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for _, t := range topics {
			t.syncFrom([]peer.ID{id})
		}
	}()
}

// connHighWater bounds the remembered sync times (about the host's
// connection limit).
const connHighWater = 128

func (s *Service) joined() []*Topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Topic, 0, len(s.topics))
	for _, t := range s.topics {
		out = append(out, t)
	}
	return out
}

// topicPeers counts the connected peers subscribed to any joined topic
// (all connected peers when no topic is joined).
func (s *Service) topicPeers(topics []*Topic) int {
	if len(topics) == 0 {
		return len(s.host.Libp2p().Network().Peers())
	}
	n := 0
	for _, t := range topics {
		n += len(t.topic.ListPeers())
	}
	return n
}

// connectedBoot returns the bootstrap peers connected now.
func (s *Service) connectedBoot() []peer.ID {
	var ids []peer.ID
	for _, b := range s.boot {
		if s.connected(b.ID) {
			ids = append(ids, b.ID)
		}
	}
	return ids
}

func (s *Service) connected(id peer.ID) bool {
	return s.host.Libp2p().Network().Connectedness(id) == network.Connected
}

// dialBootstrap dials the bootstrap peers not connected, in parallel, and
// returns how many are connected afterwards.
func (s *Service) dialBootstrap() int {
	var todo []peer.AddrInfo
	for _, b := range s.boot {
		if !s.connected(b.ID) {
			todo = append(todo, b)
		}
	}
	s.dialAll(todo, "bootstrap")
	return len(s.connectedBoot())
}

// dialAll dials infos in parallel, each bounded by dialTimeout.
func (s *Service) dialAll(infos []peer.AddrInfo, what string) {
	var wg sync.WaitGroup
	for _, info := range infos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(s.ctx, dialTimeout)
			defer cancel()
			h := s.host.Libp2p()
			h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.AddressTTL)
			if err := h.Connect(ctx, info); err != nil {
				s.log.Debug("dial failed", "what", what, "peer", info.ID, "err", err)
				return
			}
			s.log.Debug("connected", "what", what, "peer", info.ID)
		}()
	}
	wg.Wait()
}

// dialAnnounced keeps connections with up to Peers announced peers of each
// topic, dialling random unconnected ones when short.
func (s *Service) dialAnnounced(topics []*Topic) {
	self := s.host.Libp2p().ID()
	now := s.now()
	for _, t := range topics {
		have := 0
		var todo []peer.AddrInfo
		for _, e := range t.reg.Live(now) {
			switch {
			case e.Peer == self:
			case s.connected(e.Peer):
				have++
			default:
				todo = append(todo, peer.AddrInfo{ID: e.Peer, Addrs: e.Addrs})
			}
		}
		rand.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })
		if want := s.cfg.Peers - have; want < len(todo) {
			todo = todo[:max(want, 0)]
		}
		s.dialAll(todo, "announced")
	}
}

// measureRTT pings up to maxPings connected announced peers and records
// the round trips.
func (s *Service) measureRTT(topics []*Topic) {
	self := s.host.Libp2p().ID()
	now := s.now()
	type job struct {
		id  peer.ID
		reg *Registry
	}
	var jobs []job
	for _, t := range topics {
		for _, e := range t.reg.Live(now) {
			if e.Peer != self && s.connected(e.Peer) {
				jobs = append(jobs, job{e.Peer, t.reg})
			}
		}
	}
	rand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	jobs = jobs[:min(len(jobs), maxPings)]
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(s.ctx, pingTimeout)
			defer cancel()
			select {
			case res := <-ping.Ping(ctx, s.host.Libp2p(), j.id):
				if res.Error == nil {
					j.reg.SetRTT(j.id, res.RTT)
				}
			case <-ctx.Done():
			}
		}()
	}
	wg.Wait()
}

// WaitPeers waits until at least n peers are connected, or ctx ends.
func (s *Service) WaitPeers(ctx context.Context, n int) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if len(s.host.Libp2p().Network().Peers()) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("discovery: %d of %d peers connected: %w", len(s.host.Libp2p().Network().Peers()), n, ctx.Err())
		case <-t.C:
		}
	}
}

// parseFullAddr parses …/p2p/<id> into an AddrInfo.
func parseFullAddr(s string) (peer.AddrInfo, error) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%q: %v", s, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%q: %v (want e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…)", s, err)
	}
	return *info, nil
}

// ParseBootstrap splits a comma-separated --bootstrap list into full peer
// addresses, checking each; blanks are ignored.
func ParseBootstrap(csv string) ([]string, error) {
	addrs, err := p2p.ParsePeerAddrs(csv)
	if err != nil {
		return nil, fmt.Errorf("--bootstrap: %w", err)
	}
	return addrs, nil
}

// selfAddrs are the transport addresses the host announces, in the host's
// order (TCP first).
func (s *Service) selfAddrs() []ma.Multiaddr {
	var addrs []ma.Multiaddr
	for _, full := range s.host.Addrs() {
		m, err := ma.NewMultiaddr(full)
		if err != nil {
			continue
		}
		if transport, _ := peer.SplitAddr(m); len(transport) > 0 && len(addrs) < MaxAddrs {
			addrs = append(addrs, transport)
		}
	}
	return addrs
}
