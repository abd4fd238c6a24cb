package discovery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/wire"
)

// State is what a node announces about itself; the service adds the peer
// id, addresses, model commitment, protocol version, sequence number and
// times.
type State struct {
	Layers       int         // the model's layer count
	Range        model.Range // layers served
	Throughput   float64     // measured tokens/s through Range (0: not yet)
	FreeSlots    int         // sessions that can be opened now
	MaxPositions int         // most positions a session is granted
	Operator     string      // who runs the node ("" : the node itself)
	Software     string      // software version, for display
}

// Topic is a joined model topic: its registry of live announcements, and
// this node's own announcements when it serves layers of the model.
type Topic struct {
	svc    *Service
	commit [32]byte
	name   string
	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	reg    *Registry
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	leaveOnce sync.Once

	annMu   sync.Mutex
	state   func() State // nil: not announcing
	lastSeq uint64
	annKick chan struct{}
	annStop chan struct{}
}

// Join subscribes to the announcements of the model with commitment
// modelCommit and returns the topic. Joining twice returns the same topic.
func (s *Service) Join(modelCommit [32]byte) (*Topic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("discovery: service closed")
	}
	if t, ok := s.topics[modelCommit]; ok {
		return t, nil
	}
	t := &Topic{svc: s, commit: modelCommit, name: TopicName(modelCommit), reg: NewRegistry(modelCommit, s.cfg.Policy)}
	if err := s.ps.RegisterTopicValidator(t.name, t.validate); err != nil {
		return nil, fmt.Errorf("discovery: topic %s: %w", t.name, err)
	}
	var err error
	if t.topic, err = s.ps.Join(t.name); err != nil {
		_ = s.ps.UnregisterTopicValidator(t.name)
		return nil, fmt.Errorf("discovery: join %s: %w", t.name, err)
	}
	if t.sub, err = t.topic.Subscribe(); err != nil {
		_ = t.topic.Close()
		_ = s.ps.UnregisterTopicValidator(t.name)
		return nil, fmt.Errorf("discovery: subscribe %s: %w", t.name, err)
	}
	t.ctx, t.cancel = context.WithCancel(s.ctx)
	s.topics[modelCommit] = t
	t.wg.Add(2)
	go t.receive()
	go func() {
		defer t.wg.Done()
		// Learn the announcements already out there from the peers we
		// have, rather than wait for their next round.
		t.syncFrom(s.host.Libp2p().Network().Peers())
	}()
	return t, nil
}

// Name is the topic's gossipsub name.
func (t *Topic) Name() string { return t.name }

// ModelCommit is the commitment of the topic's model.
func (t *Topic) ModelCommit() [32]byte { return t.commit }

// Registry is the topic's registry of announcements.
func (t *Topic) Registry() *Registry { return t.reg }

// Live returns the live announcements now (by the service's clock).
func (t *Topic) Live() []Entry { return t.reg.Live(t.svc.now()) }

// Peers returns the connected peers subscribed to the topic.
func (t *Topic) Peers() []peer.ID { return t.topic.ListPeers() }

// Leave stops announcing, unsubscribes and forgets the topic.
func (t *Topic) Leave() { t.leaveOnce.Do(t.leave) }

func (t *Topic) leave() {
	t.StopAnnouncing()
	t.cancel()
	t.sub.Cancel()
	t.wg.Wait()
	_ = t.topic.Close()
	_ = t.svc.ps.UnregisterTopicValidator(t.name)
	t.svc.mu.Lock()
	if t.svc.topics[t.commit] == t {
		delete(t.svc.topics, t.commit)
	}
	t.svc.mu.Unlock()
}

// validate is the topic's pubsub validator: it rejects (penalising the
// peer that forwarded it) an oversized, malformed or badly signed
// announcement, one for another model, with an overlong lifetime, or
// published by a peer other than the one it announces; it ignores an
// expired one, one from the future and one not newer than what the
// registry holds. The opened announcement travels on as ValidatorData.
func (t *Topic) validate(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	a, err := t.check(msg)
	if err != nil {
		if Rejectable(err) {
			t.svc.log.Debug("announcement rejected", "topic", t.name, "from", from, "err", err)
			return pubsub.ValidationReject
		}
		return pubsub.ValidationIgnore
	}
	msg.ValidatorData = &a
	return pubsub.ValidationAccept
}

func (t *Topic) check(msg *pubsub.Message) (Announcement, error) {
	if len(msg.Data) > MaxEnvelopeBytes {
		return Announcement{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(msg.Data))
	}
	a, err := Open(msg.Data)
	if err != nil {
		return Announcement{}, err
	}
	if msg.GetFrom() != a.Peer {
		return Announcement{}, fmt.Errorf("%w: %s published %s's announcement", ErrWrongSender, msg.GetFrom(), a.Peer)
	}
	if err := t.reg.Admit(&a, t.svc.now()); err != nil {
		return Announcement{}, err
	}
	return a, nil
}

// receive takes validated announcements into the registry.
func (t *Topic) receive() {
	defer t.wg.Done()
	self := t.svc.host.Libp2p().ID()
	for {
		msg, err := t.sub.Next(t.ctx)
		if err != nil {
			return
		}
		a, ok := msg.ValidatorData.(*Announcement)
		if !ok {
			continue
		}
		if err := t.reg.put(a, msg.Data, t.svc.now()); err != nil {
			continue
		}
		if a.Peer != self && !t.svc.connected(a.Peer) {
			t.svc.Kick()
		}
	}
}

// build makes this node's signed announcement of st at now.
func (t *Topic) build(st State, now time.Time) ([]byte, error) {
	issued := time.UnixMilli(now.UnixMilli())
	t.annMu.Lock()
	seq := max(t.lastSeq+1, uint64(max(now.UnixNano(), 1)))
	t.lastSeq = seq
	t.annMu.Unlock()
	a := Announcement{
		Peer:         t.svc.host.Libp2p().ID(),
		Addrs:        t.svc.selfAddrs(),
		ModelCommit:  t.commit,
		Layers:       st.Layers,
		Range:        st.Range,
		Throughput:   st.Throughput,
		FreeSlots:    st.FreeSlots,
		MaxPositions: st.MaxPositions,
		Protocol:     wire.Version,
		Software:     st.Software,
		Operator:     st.Operator,
		Seq:          seq,
		Issued:       issued,
		Expires:      issued.Add(t.svc.cfg.TTL),
	}
	return a.Sign(t.svc.host.PrivKey())
}

// Announce publishes one announcement of st now.
func (t *Topic) Announce(ctx context.Context, st State) error {
	env, err := t.build(st, t.svc.now())
	if err != nil {
		return err
	}
	if err := t.topic.Publish(ctx, env); err != nil {
		return fmt.Errorf("discovery: publish on %s: %w", t.name, err)
	}
	return nil
}

// StartAnnouncing announces state() now and then every Interval (with
// ±10% jitter, so that nodes started together spread out) until
// StopAnnouncing or Leave. Calling it again replaces state.
func (t *Topic) StartAnnouncing(state func() State) {
	t.annMu.Lock()
	defer t.annMu.Unlock()
	if t.state != nil {
		t.state = state
		t.kickAnnouncer()
		return
	}
	t.state = state
	t.annKick = make(chan struct{}, 1)
	t.annStop = make(chan struct{})
	t.wg.Add(1)
	go t.announceLoop(t.annKick, t.annStop)
}

// AnnounceNow makes the announcer announce at once (e.g. after the node's
// range or free slots changed); a no-op when not announcing.
func (t *Topic) AnnounceNow() {
	t.annMu.Lock()
	defer t.annMu.Unlock()
	t.kickAnnouncer()
}

func (t *Topic) kickAnnouncer() {
	if t.annKick == nil {
		return
	}
	select {
	case t.annKick <- struct{}{}:
	default:
	}
}

// StopAnnouncing stops the periodic announcements; the last one stays
// valid until it expires.
func (t *Topic) StopAnnouncing() {
	t.annMu.Lock()
	stop := t.annStop
	t.state, t.annKick, t.annStop = nil, nil, nil
	t.annMu.Unlock()
	if stop != nil {
		close(stop)
	}
}

func (t *Topic) announceLoop(kick, stop chan struct{}) {
	defer t.wg.Done()
	for {
		t.annMu.Lock()
		state := t.state
		t.annMu.Unlock()
		if state == nil {
			return
		}
		ctx, cancel := context.WithTimeout(t.ctx, dialTimeout)
		if err := t.Announce(ctx, state()); err != nil {
			t.svc.log.Warn("announce failed", "topic", t.name, "err", err)
		}
		cancel()
		iv := t.svc.cfg.Interval
		timer := time.NewTimer(iv - iv/10 + rand.N(iv/5+1))
		select {
		case <-t.ctx.Done():
			timer.Stop()
			return
		case <-stop:
			timer.Stop()
			return
		case <-kick:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// Sync fetches the announcements known to the given peers (all connected
// peers when none is given) and takes them into the registry; it returns
// how many were new.
func (t *Topic) Sync(ctx context.Context, peers ...peer.ID) int {
	if len(peers) == 0 {
		peers = t.svc.host.Libp2p().Network().Peers()
	}
	return t.syncFromCtx(ctx, peers)
}

func (t *Topic) syncFrom(peers []peer.ID) int { return t.syncFromCtx(t.ctx, peers) }

func (t *Topic) syncFromCtx(ctx context.Context, peers []peer.ID) int {
	peers = peers[:min(len(peers), maxSyncPeers)]
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got int
	)
	for _, id := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			anns, envs, err := t.svc.Snapshot(ctx, id, t.commit)
			if err != nil {
				t.svc.log.Debug("snapshot failed", "peer", id, "err", err)
				return
			}
			n := 0
			for i := range anns {
				if t.reg.put(&anns[i], envs[i], t.svc.now()) == nil {
					n++
				}
			}
			mu.Lock()
			got += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got > 0 {
		t.svc.Kick()
	}
	return got
}

// maxSyncPeers bounds the peers asked in one sync.
const maxSyncPeers = 8

// Wait waits until cond holds for the live announcements, re-checking on
// every change of the registry and every 50 ms (expiry needs no change),
// or until ctx ends.
func (t *Topic) Wait(ctx context.Context, cond func(live []Entry) bool) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ch := t.reg.Changed()
		if cond(t.Live()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-tick.C:
		}
	}
}
