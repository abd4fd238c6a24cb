package discovery

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/route"
)

// Timings of the network tests: announcements every 200 ms that live
// 1.2 s, so a dead node drops out within about a second.
const (
	testInterval = 200 * time.Millisecond
	testTTL      = 1200 * time.Millisecond
	// waitLimit bounds every wait of these tests.
	waitLimit = 15 * time.Second
)

// testNode is a host with a discovery service on 127.0.0.1.
type testNode struct {
	host  *p2p.Host
	svc   *Service
	topic *Topic

	mu    sync.Mutex
	state State // what the node announces
}

func (n *testNode) getState() State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state
}

// setState changes what the node announces and announces it now.
func (n *testNode) setState(st State) {
	n.mu.Lock()
	n.state = st
	n.mu.Unlock()
	n.topic.AnnounceNow()
}

func (n *testNode) id() peer.ID { return n.host.Libp2p().ID() }

// kill stops the node as a crash would look to the others.
func (n *testNode) kill() {
	n.svc.Close()
	n.host.Close()
}

// startNode starts a host and a discovery service joined to testCommit,
// bootstrapping from boot (full addresses). It announces st when
// st.Range is not empty.
func startNode(t *testing.T, boot []string, st State) *testNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	h, err := p2p.New(ctx, p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	svc, err := New(ctx, Config{Host: h, Bootstrap: boot, Interval: testInterval, TTL: testTTL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	topic, err := svc.Join(testCommit)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{host: h, svc: svc, topic: topic, state: st}
	if st.Range.Len() > 0 {
		topic.StartAnnouncing(n.getState)
	}
	return n
}

// waitFor waits (bounded) until cond holds for n's live announcements.
func waitFor(t *testing.T, n *testNode, what string, cond func([]Entry) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := n.topic.Wait(ctx, cond); err != nil {
		t.Fatalf("node %s: waiting for %s: %v; it sees %s", n.id(), what, err, describe(n.topic.Live()))
	}
}

func describe(live []Entry) string {
	s := ""
	for _, e := range live {
		s += fmt.Sprintf(" %s@%s", e.Peer.String()[len(e.Peer.String())-6:], e.Range)
	}
	return "[" + s + " ]"
}

// sees reports whether live holds peer id serving r.
func sees(live []Entry, id peer.ID, r model.Range) bool {
	return slices.ContainsFunc(live, func(e Entry) bool { return e.Peer == id && e.Range == r })
}

func state(a, b int, tp float64) State {
	return State{Layers: 6, Range: model.Range{First: a, Last: b}, Throughput: tp, FreeSlots: 4, MaxPositions: 512, Software: "test"}
}

// TestBootstrapLoss: five nodes and a client find each other through one
// bootstrap node; once it is killed, the others still see each other's new
// announcements (they keep direct connections learnt from announcements)
// and drop the dead node's entry when it expires.
func TestBootstrapLoss(t *testing.T) {
	boot := startNode(t, nil, state(0, 6, 50))
	bootAddr := boot.host.Addrs()[:1]
	nodes := []*testNode{boot}
	for i, r := range [][2]int{{0, 2}, {2, 4}, {4, 6}, {0, 3}} {
		nodes = append(nodes, startNode(t, bootAddr, state(r[0], r[1], float64(10+i))))
	}
	client := startNode(t, bootAddr, State{}) // announces nothing
	all := append(slices.Clone(nodes), client)

	for _, n := range all {
		waitFor(t, n, "all 5 announcements", func(live []Entry) bool {
			for _, m := range nodes {
				if !sees(live, m.id(), m.getState().Range) {
					return false
				}
			}
			return len(live) == len(nodes)
		})
	}

	start := time.Now()
	boot.kill()
	rest := all[1:]
	// A node changes its range after the bootstrap is gone: everyone
	// remaining, the client included, sees the change.
	nodes[1].setState(state(1, 2, 11))
	for _, n := range rest {
		waitFor(t, n, "node 1's new range after the bootstrap died", func(live []Entry) bool {
			return sees(live, nodes[1].id(), model.Range{First: 1, Last: 2})
		})
	}
	// And the dead bootstrap's entry drops once it expires.
	for _, n := range rest {
		waitFor(t, n, "the dead bootstrap's entry to drop", func(live []Entry) bool {
			return !slices.ContainsFunc(live, func(e Entry) bool { return e.Peer == boot.id() })
		})
	}
	t.Logf("after the bootstrap's death: new range seen everywhere and its entry dropped in %v", time.Since(start))
	// A node joining later through a surviving node finds everyone.
	late := startNode(t, nodes[2].host.Addrs()[:1], state(3, 5, 7))
	waitFor(t, late, "the swarm through a non-bootstrap node", func(live []Entry) bool {
		return len(live) == 5 && sees(live, nodes[4].id(), model.Range{First: 0, Last: 3})
	})
	for _, n := range rest {
		waitFor(t, n, "the late node", func(live []Entry) bool { return sees(live, late.id(), model.Range{First: 3, Last: 5}) })
	}
}

// TestAutoLayersFillLeastServed: a node joining with a budget of two
// layers picks the range the swarm serves worst, and the swarm sees it.
func TestAutoLayersFillLeastServed(t *testing.T) {
	boot := startNode(t, nil, state(0, 2, 40))
	addr := boot.host.Addrs()[:1]
	others := []*testNode{
		startNode(t, addr, state(2, 4, 3)), // the least-served range
		startNode(t, addr, state(4, 6, 40)),
		startNode(t, addr, state(0, 6, 2)),
	}
	othersRanges := []model.Range{{First: 2, Last: 4}, {First: 4, Last: 6}, {First: 0, Last: 6}}

	joiner := startNode(t, addr, State{})
	waitFor(t, joiner, "the 4 announcements", func(live []Entry) bool { return len(live) == 4 })
	costs := []uint64{100, 100, 100, 100, 100, 100}
	r, err := route.ChooseRange(route.ChooseRequest{
		Layers: 6, Costs: costs, Budget: 250,
		Spans: joiner.topic.Registry().Spans(joiner.svc.Now(), joiner.id()),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r != (model.Range{First: 2, Last: 4}) {
		t.Fatalf("auto layers chose %s, want 2:4", r)
	}
	joiner.setState(state(r.First, r.Last, 5))
	joiner.topic.StartAnnouncing(joiner.getState)
	// Gossip reaches the bootstrap in any order: wait (bounded) until it
	// has heard every node, then the joiner must have lifted the bottleneck.
	waitFor(t, boot, "the joiner at 2:4 and every other node", func(live []Entry) bool {
		for i, o := range others {
			if !sees(live, o.id(), othersRanges[i]) {
				return false
			}
		}
		return sees(live, joiner.id(), r)
	})
	if b := route.BalanceOf(boot.topic.Registry().Spans(boot.svc.Now()), 6); b.Bottleneck != 10 {
		t.Errorf("bottleneck after the join %v, want 10 (2:4 at 3+2+5)", b.Bottleneck)
	}
}

// TestValidatorRejects: announcements that are forged (another peer's
// signed announcement, or a bad signature), for another model, expired, or
// replayed do not reach the registry.
func TestValidatorRejects(t *testing.T) {
	victim := startNode(t, nil, state(0, 3, 10))
	addr := victim.host.Addrs()[:1]
	honest := startNode(t, addr, state(3, 6, 10))
	waitFor(t, victim, "the honest node", func(live []Entry) bool { return len(live) == 2 })

	// The attacker speaks raw gossipsub, without our validators.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	ah, err := p2p.New(ctx, p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ah.Close()
	ps, err := pubsub.NewGossipSub(ctx, ah.Libp2p())
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(TopicName(testCommit))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ah.Connect(ctx, addr[0]); err != nil {
		t.Fatal(err)
	}
	ak := ah.PrivKey()
	now := time.UnixMilli(time.Now().UnixMilli())
	mine := func(r model.Range, seq uint64, issued time.Time, ttl time.Duration) Announcement {
		a := testAnnouncement(ah.Libp2p().ID(), r, seq, issued, ttl)
		return a
	}
	// 1. The honest node's announcement, re-signed... impossible; so the
	// attacker publishes a copy of a real one under its own pubsub id.
	honestEntry, _ := victim.topic.Registry().Get(honest.id(), time.Now())
	// 2. Its own announcement for another model.
	other := mine(model.Range{First: 0, Last: 1}, 1, now, time.Second)
	other.ModelCommit[0] ^= 0xff
	// 3. An expired one.
	expired := mine(model.Range{First: 0, Last: 2}, 2, now.Add(-time.Minute), time.Second)
	// 4. A bad signature.
	badSig := sign(t, mine(model.Range{First: 0, Last: 4}, 3, now, 5*time.Second), ak)
	badSig[len(badSig)-1] ^= 1
	// 5. A lifetime over the policy.
	long := mine(model.Range{First: 0, Last: 5}, 4, now, time.Hour)
	good := mine(model.Range{First: 5, Last: 6}, 10, now, 5*time.Second)
	// 6. Then, after a good one with seq 10, a replay of an older sequence.
	older := mine(model.Range{First: 1, Last: 6}, 9, now, 5*time.Second)

	waitPeers := func() {
		deadline := time.Now().Add(waitLimit)
		for len(topic.ListPeers()) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitPeers()
	pub := func(b []byte) {
		if err := topic.Publish(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	pub(honestEntry.Envelope)
	longEnv, err := long.Sign(ak)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{sign(t, other, ak), sign(t, expired, ak), badSig, longEnv, make([]byte, MaxEnvelopeBytes+1)} {
		pub(b)
	}
	pub(sign(t, good, ak))
	waitFor(t, victim, "the attacker's one good announcement", func(live []Entry) bool {
		return sees(live, ah.Libp2p().ID(), model.Range{First: 5, Last: 6})
	})
	pub(sign(t, older, ak))
	// A last good one, so we know everything before it was handled.
	last := mine(model.Range{First: 4, Last: 6}, 11, now, 5*time.Second)
	pub(sign(t, last, ak))
	waitFor(t, victim, "the attacker's last announcement", func(live []Entry) bool {
		return sees(live, ah.Libp2p().ID(), model.Range{First: 4, Last: 6})
	})
	e, _ := victim.topic.Registry().Get(ah.Libp2p().ID(), time.Now())
	if e.Seq != 11 {
		t.Errorf("attacker entry seq %d", e.Seq)
	}
	if h, _ := victim.topic.Registry().Get(honest.id(), time.Now()); h.Seq < honestEntry.Seq {
		t.Errorf("honest entry went back from seq %d to %d", honestEntry.Seq, h.Seq)
	}
	if n := len(victim.topic.Live()); n != 3 {
		t.Errorf("victim sees %d entries, want 3: %s", n, describe(victim.topic.Live()))
	}
}

// TestSnapshot: a client that is not subscribed to anything can ask a
// node what it knows (what `tessera swarm status` does).
func TestSnapshot(t *testing.T) {
	a := startNode(t, nil, state(0, 3, 10))
	b := startNode(t, a.host.Addrs()[:1], state(3, 6, 10))
	waitFor(t, a, "b", func(live []Entry) bool { return len(live) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	h, err := p2p.New(ctx, p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	svc, err := New(ctx, Config{Host: h, Interval: testInterval})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	id, err := h.Connect(ctx, a.host.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := peer.Decode(id)
	anns, envs, err := svc.Snapshot(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(anns) != 2 || len(envs) != 2 {
		t.Fatalf("snapshot has %d announcements", len(anns))
	}
	got := map[peer.ID]model.Range{}
	for _, x := range anns {
		got[x.Peer] = x.Range
	}
	if got[a.id()] != (model.Range{First: 0, Last: 3}) || got[b.id()] != (model.Range{First: 3, Last: 6}) {
		t.Errorf("snapshot %v", got)
	}
	// Asking for another model gives nothing.
	if anns, _, err := svc.Snapshot(ctx, pid, [32]byte{9}); err != nil || len(anns) != 0 {
		t.Errorf("snapshot of another model: %d, %v", len(anns), err)
	}
}

// TestValidateResults checks the validator's verdict on each kind of
// message: reject (the sender is at fault) or ignore (an honest peer may
// relay it).
func TestValidateResults(t *testing.T) {
	n := startNode(t, nil, State{})
	k, id := newKey(t)
	_, other := newKey(t)
	now := time.UnixMilli(n.svc.Now().UnixMilli())
	ann := func(seq uint64, issued time.Time, ttl time.Duration) Announcement {
		return testAnnouncement(id, model.Range{First: 0, Last: 3}, seq, issued, ttl)
	}
	msg := func(from peer.ID, data []byte) *pubsub.Message {
		return &pubsub.Message{Message: &pb.Message{From: []byte(from), Data: data}}
	}
	wrongModel := ann(1, now, time.Second)
	wrongModel.ModelCommit[31] ^= 1
	badSig := sign(t, ann(1, now, time.Second), k)
	badSig[len(badSig)-3] ^= 1

	// Taken: seq 5.
	if res := n.topic.validate(context.Background(), id, msg(id, sign(t, ann(5, now, time.Second), k))); res != pubsub.ValidationAccept {
		t.Fatalf("good announcement: %v", res)
	}
	env5 := sign(t, ann(5, now, time.Second), k)
	if _, err := n.topic.Registry().Put(env5, now); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		msg  *pubsub.Message
		want pubsub.ValidationResult
	}{
		{"published by another peer", msg(other, sign(t, ann(6, now, time.Second), k)), pubsub.ValidationReject},
		{"bad signature", msg(id, badSig), pubsub.ValidationReject},
		{"another model", msg(id, sign(t, wrongModel, k)), pubsub.ValidationReject},
		{"lifetime too long", msg(id, sign(t, ann(6, now, time.Hour), k)), pubsub.ValidationReject},
		{"oversized", msg(id, make([]byte, MaxEnvelopeBytes+1)), pubsub.ValidationReject},
		{"garbage", msg(id, []byte("hello")), pubsub.ValidationReject},
		{"expired", msg(id, sign(t, ann(6, now.Add(-time.Minute), time.Second), k)), pubsub.ValidationIgnore},
		{"from the future", msg(id, sign(t, ann(6, now.Add(time.Hour), time.Second), k)), pubsub.ValidationIgnore},
		{"replayed", msg(id, env5), pubsub.ValidationIgnore},
		{"older sequence", msg(id, sign(t, ann(4, now, time.Second), k)), pubsub.ValidationIgnore},
		{"newer", msg(id, sign(t, ann(6, now, time.Second), k)), pubsub.ValidationAccept},
	}
	for _, c := range cases {
		if got := n.topic.validate(context.Background(), id, c.msg); got != c.want {
			t.Errorf("%s: validator says %v, want %v", c.name, got, c.want)
		}
	}
}
