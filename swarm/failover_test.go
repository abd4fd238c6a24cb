package swarm_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/route"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// fnode is a node on 127.0.0.1 that a test can kill (every connection
// reset at once, as when its process dies) or freeze (it stops answering,
// as behind a network partition).
type fnode struct {
	name string
	r    model.Range
	srv  *swarm.Server
	rtt  time.Duration // what the test's planner believes

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ln     net.Listener

	mu     sync.Mutex
	conns  []*net.TCPConn
	dead   bool
	frozen chan struct{}                   // closed to unfreeze; nil when not frozen
	wrap   func(swarm.Stream) swarm.Stream // rewrites what the node sends, when set
}

// fleet is the nodes a test's reroute may choose from.
type fleet struct {
	t     testing.TB
	nodes map[string]*fnode
	// reroutes counts the calls of the planner.
	reroutes atomic.Int64
}

func newFleet(t testing.TB) *fleet { return &fleet{t: t, nodes: map[string]*fnode{}} }

// add starts node name serving layers [first, last) of the test model;
// key signs receipts when not nil; tweak edits the server before it
// serves.
func (f *fleet) add(name string, first, last int, rtt time.Duration, key ed25519.PrivateKey, tweak func(*swarm.Server)) *fnode {
	f.t.Helper()
	return f.addModel(name, layers(f.t, first, last), testCommit, rtt, key, tweak)
}

// addModel is add for the layers m holds, of the model committed to by c.
func (f *fleet) addModel(name string, m *model.Model, c [32]byte, rtt time.Duration, key ed25519.PrivateKey, tweak func(*swarm.Server)) *fnode {
	t := f.t
	t.Helper()
	srv := &swarm.Server{Model: m, ModelCommit: c, Key: key, MaxSessions: 64}
	n := &fnode{name: name, r: m.Range, srv: srv, rtt: rtt}
	inner := srv.Forward
	srv.Forward = func(s *model.Session, start int, hidden []float32, cnt int, tr *model.Trace) error {
		n.mu.Lock()
		fr := n.frozen
		n.mu.Unlock()
		if fr != nil {
			select {
			case <-fr:
			case <-n.ctx.Done():
				return errors.New("node stopped")
			}
		}
		if inner != nil {
			return inner(s, start, hidden, cnt, tr)
		}
		return s.Model().ForwardTrace(s, start, hidden, cnt, tr)
	}
	if tweak != nil {
		tweak(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.ln = ln
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*net.TCPConn)
			n.mu.Lock()
			if n.dead {
				n.mu.Unlock()
				tc.Close()
				continue
			}
			n.conns = append(n.conns, tc)
			var st swarm.Stream = tc
			if n.wrap != nil {
				st = n.wrap(tc)
			}
			n.mu.Unlock()
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				_ = srv.ServeStream(n.ctx, st)
			}()
		}
	}()
	t.Cleanup(func() {
		n.kill()
		n.cancel()
		n.wg.Wait()
	})
	f.nodes[name] = n
	return n
}

// kill resets every connection and refuses new ones.
func (n *fnode) kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dead {
		return
	}
	n.dead = true
	n.ln.Close()
	for _, c := range n.conns {
		_ = c.SetLinger(0) // RST, as the kernel does for a killed process
		c.Close()
	}
	if n.frozen != nil {
		close(n.frozen)
		n.frozen = nil
	}
}

// freeze makes the node stop answering until it is killed.
func (n *fnode) freeze() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.frozen == nil {
		n.frozen = make(chan struct{})
	}
}

func (n *fnode) open(ctx context.Context) (swarm.Stream, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", n.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

func (n *fnode) hop(r model.Range) swarm.Hop {
	h := swarm.RemoteHop(n.name, r, n.open)
	h.PubKey = n.srv.NodeKey()
	return h
}

// reroute plans with route.Plan over every node of the fleet, dead or
// alive (the planner does not know yet), preferring low RTTs, each hop
// computing any part of a node's range.
func (f *fleet) reroute(ctx context.Context, req swarm.RerouteRequest) ([]swarm.Hop, error) {
	f.reroutes.Add(1)
	var cands []route.Candidate
	for _, n := range f.nodes {
		cands = append(cands, route.Candidate{Peer: n.name, Range: n.r, RTT: n.rtt, Throughput: 1e6, FreeSlots: -1})
	}
	plan, err := route.Plan(route.PlanRequest{From: req.Range.First, To: req.Range.Last, Candidates: cands, Exclude: req.Exclude,
		PrevOperator: req.PrevOperator, NextOperator: req.NextOperator, Subranges: true})
	if err != nil {
		return nil, err
	}
	var hops []swarm.Hop
	for _, h := range plan.Hops {
		hops = append(hops, f.nodes[h.Peer].hop(h.Range))
	}
	return hops, nil
}

// killer runs layers and calls do before forward call k (counting from 0).
type killer struct {
	inner generate.Layers
	calls int
	at    map[int]func()
	outs  [][]float32
}

func (k *killer) Forward(ctx context.Context, start int, hidden []float32, n int) error {
	if do := k.at[k.calls]; do != nil {
		do()
	}
	k.calls++
	if err := k.inner.Forward(ctx, start, hidden, n); err != nil {
		return err
	}
	k.outs = append(k.outs, slices.Clone(hidden))
	return nil
}

func failoverRun(t *testing.T, ch *swarm.Chain, prompt string, at map[int]func()) (run, error) {
	t.Helper()
	k := &killer{inner: ch, at: at}
	c := generate.Client{Model: client, Tokenizer: testTok}
	res, err := c.Run(context.Background(), k, generate.Request{Prompt: prompt, MaxTokens: genTokens, IgnoreEOS: true}, nil)
	return run{res, k.outs}, err
}

// TestFailoverOutputIdentical: nodes killed, frozen or split mid-generation
// are replaced, and the greedy output is bit for bit the single-process
// one; with receipts and audits on, the certificate of the final chain
// verifies and the replaced nodes' receipts chain with what replaced them.
func TestFailoverOutputIdentical(t *testing.T) {
	want := reference(t, prompts[1])
	type setup struct {
		chain   []string // node names of the initial chain, in layer order ("local:a:b" for a local hop)
		events  func(f *fleet) map[int]func()
		replace [][]string // the replacement of each failover, in order
	}
	cases := []struct {
		name string
		setup
		timeout time.Duration
	}{
		{name: "middle node killed", setup: setup{chain: []string{"A", "B", "C"},
			events:  func(f *fleet) map[int]func() { return map[int]func(){5: f.nodes["B"].kill} },
			replace: [][]string{{"D"}}}},
		{name: "replacement split over two nodes", setup: setup{chain: []string{"A", "B", "C"},
			events:  func(f *fleet) map[int]func() { f.nodes["D"].kill(); return map[int]func(){7: f.nodes["B"].kill} },
			replace: [][]string{{"E", "F"}}}},
		{name: "two failures of one range", setup: setup{chain: []string{"A", "B", "C"},
			events: func(f *fleet) map[int]func() {
				return map[int]func(){3: f.nodes["B"].kill, 11: f.nodes["D"].kill}
			},
			replace: [][]string{{"D"}, {"E", "F"}}}},
		{name: "first node killed before the prompt", setup: setup{chain: []string{"A", "B", "C"},
			events:  func(f *fleet) map[int]func() { return map[int]func(){0: f.nodes["A"].kill} },
			replace: [][]string{{"E"}}}},
		{name: "last node killed", setup: setup{chain: []string{"A", "B", "C"},
			events:  func(f *fleet) map[int]func() { return map[int]func(){9: f.nodes["C"].kill} },
			replace: [][]string{{"F"}}}},
		{name: "local first hop, middle node frozen", setup: setup{chain: []string{"local:0:2", "B", "C"},
			events:  func(f *fleet) map[int]func() { return map[int]func(){6: f.nodes["B"].freeze} },
			replace: [][]string{{"D"}}}, timeout: 2 * time.Second},
	}
	vk := verificationKey(t)
	for _, verify := range []bool{false, true} {
		for _, tc := range cases {
			name := tc.name
			if verify {
				name += ", verified"
			}
			t.Run(name, func(t *testing.T) {
				f := newFleet(t)
				key := func(seed byte) ed25519.PrivateKey {
					if verify {
						return nodeKey(seed)
					}
					return nil
				}
				// Ranges overlap so that every layer has a second server;
				// lower RTTs are preferred by the planner.
				f.add("A", 0, 2, 10*time.Millisecond, key(1), nil)
				f.add("B", 2, 4, 10*time.Millisecond, key(2), nil)
				f.add("C", 4, 6, 10*time.Millisecond, key(3), nil)
				f.add("D", 2, 4, 20*time.Millisecond, key(4), nil)
				f.add("E", 0, 3, 40*time.Millisecond, key(5), nil)
				f.add("F", 3, 6, 40*time.Millisecond, key(6), nil)
				f.add("W", 0, 6, 90*time.Millisecond, key(7), nil)
				var hops []swarm.Hop
				for _, name := range tc.chain {
					if r, ok := strings.CutPrefix(name, "local:"); ok {
						rg, _ := model.ParseRange(r)
						hops = append(hops, swarm.LocalHop(layers(t, rg.First, rg.Last)))
						continue
					}
					hops = append(hops, f.nodes[name].hop(f.nodes[name].r))
				}
				cfg := chainConfig()
				cfg.Reroute = f.reroute
				cfg.Timeout = 10 * time.Second
				if tc.timeout > 0 {
					cfg.Timeout = tc.timeout
				}
				if verify {
					cfg.Verify = &swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: proof.AuditConfig{Cells: 2}, Rand: detRand(3)}
				}
				var logged []swarm.Failover
				cfg.OnFailover = func(fo swarm.Failover) { logged = append(logged, fo) }
				ch, err := swarm.NewChain(cfg, hops)
				if err != nil {
					t.Fatal(err)
				}
				defer ch.Close()
				got, err := failoverRun(t, ch, prompts[1], tc.events(f))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.res.Tokens, want.res.Tokens) {
					t.Fatalf("tokens %v, want %v", got.res.Tokens, want.res.Tokens)
				}
				if i, j := sameBits(got.outs, want.outs); i >= 0 {
					t.Fatalf("hidden states differ at forward %d index %d", i, j)
				}
				fos := ch.Failovers()
				if len(fos) != len(tc.replace) || len(logged) != len(fos) {
					t.Fatalf("%d failovers (%d logged), want %d: %v", len(fos), len(logged), len(tc.replace), fos)
				}
				for i, fo := range fos {
					if !slices.Equal(fo.Replacement, tc.replace[i]) {
						t.Errorf("failover %d: replaced by %v, want %v", i, fo.Replacement, tc.replace[i])
					}
					t.Logf("failover %d: %v (detected after %v)", i, fo, fo.Detect.Round(time.Millisecond))
				}
				checkStats(t, ch, fos)
				if verify {
					checkFailoverProofs(t, ch, vk, got.res)
				}
			})
		}
	}
}

// checkStats: the retired hops are reported with the work they did, and
// the hops in use cover the model.
func checkStats(t *testing.T, ch *swarm.Chain, fos []swarm.Failover) {
	t.Helper()
	next, retired := 0, 0
	for _, st := range ch.Stats() {
		if st.Retired {
			retired++
			if st.Failure == "" {
				t.Errorf("retired %s: no failure given", st.Peer)
			}
			continue
		}
		if st.Range.First != next {
			t.Errorf("hop %s starts at %d, want %d", st.Peer, st.Range.First, next)
		}
		next = st.Range.Last
	}
	if next != testConfig.Layers || retired < len(fos) {
		t.Errorf("hops end at %d; %d retired for %d failovers", next, retired, len(fos))
	}
}

// checkFailoverProofs: the final chain's certificate verifies and passes,
// every replacement's receipts cover the whole session, and each retired
// node's receipts take the previous hop's outputs and give the outputs its
// replacement signed for the same calls.
func checkFailoverProofs(t *testing.T, ch *swarm.Chain, vk *proof.VerificationKey, res generate.Result) {
	t.Helper()
	var hops []proof.CertHop
	calls := -1
	for i, p := range ch.Proofs() {
		if p.Fault != nil {
			t.Fatalf("hop %d: %v", i, p.Fault)
		}
		if !p.Local {
			if calls < 0 {
				calls = len(p.Receipts)
			}
			if len(p.Receipts) != calls {
				t.Errorf("hop %d (%s) has %d receipts, hop 0 %d", i, p.Peer, len(p.Receipts), calls)
			}
		}
		hops = append(hops, p.CertHop())
	}
	cert := &proof.Certificate{Model: testCommit, PromptHash: proof.HashText(prompts[1]), OutputHash: proof.HashText(res.Text),
		PromptTokens: len(res.PromptTokens), OutputTokens: len(res.Tokens), Audited: ch.Audited(), VKID: vk.ID(), Hops: hops}
	cert.Sign(nodeKey(200))
	if err := proof.VerifyCertificate(cert); err != nil || !cert.Passed {
		t.Fatalf("certificate after failover: %v, passed %v", err, cert.Passed)
	}
	// Receipts by layer boundary: what entered layer b at call k.
	outAt := map[int][]*proof.Receipt{} // HOut of the hop ending at b
	for _, p := range ch.Proofs() {
		outAt[p.Range.Last] = p.Receipts
	}
	retired := ch.Retired()
	if len(retired) == 0 {
		t.Fatal("no retired hops")
	}
	for _, p := range retired {
		if !p.Retired || p.Failure == nil {
			t.Errorf("retired %s: %+v", p.Peer, p)
		}
		in := outAt[p.Range.First]
		out := outAt[p.Range.Last]
		for k, r := range p.Receipts {
			if p.Range.First > 0 && in != nil && (k >= len(in) || r.HIn != in[k].HOut) {
				t.Errorf("retired %s call %d: input is not the previous hop's output", p.Peer, k)
			}
			if out == nil || k >= len(out) || r.HOut != out[k].HOut || r.Start != out[k].Start || r.N != out[k].N {
				t.Errorf("retired %s call %d: output differs from its replacement's", p.Peer, k)
			}
		}
		t.Logf("retired %s (layers %s): %d receipts, %v", p.Peer, p.Range, len(p.Receipts), p.Failure)
	}
}

// TestFailoverGivesUp: when every replacement fails, the error names the
// range, the failed node and every node tried, and the attempts are
// bounded.
func TestFailoverGivesUp(t *testing.T) {
	f := newFleet(t)
	f.add("A", 0, 2, 0, nil, nil)
	f.add("B", 2, 4, 0, nil, nil)
	f.add("C", 4, 6, 0, nil, nil)
	f.add("D", 2, 4, 0, nil, nil)
	f.add("E", 2, 3, 0, nil, nil)
	f.add("F", 2, 6, 0, nil, nil)
	f.nodes["D"].kill()
	f.nodes["E"].kill()
	f.nodes["F"].kill()
	cfg := chainConfig()
	cfg.Reroute = f.reroute
	cfg.Timeout = 10 * time.Second
	cfg.FailoverAttempts = 2
	ch, err := swarm.NewChain(cfg, []swarm.Hop{f.nodes["A"].hop(f.nodes["A"].r), f.nodes["B"].hop(f.nodes["B"].r), f.nodes["C"].hop(f.nodes["C"].r)})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	_, err = failoverRun(t, ch, prompts[0], map[int]func(){4: f.nodes["B"].kill})
	var fe *swarm.FailoverError
	var he *swarm.HopError
	if !errors.As(err, &fe) || !errors.As(err, &he) {
		t.Fatalf("got %v", err)
	}
	if fe.Range != (model.Range{First: 2, Last: 4}) || fe.Peer != "B" || he.Peer != "B" || len(fe.Tried) != 2 {
		t.Fatalf("failover error %+v", fe)
	}
	for _, name := range []string{"layers 2:4", "node B", "tried D", "2 replacements failed"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error lacks %q: %v", name, err)
		}
	}
	if n := f.reroutes.Load(); n != 2 {
		t.Errorf("%d reroutes for 2 attempts", n)
	}
	t.Log(err)

	// With no other node serving the layers, the planner's error ends it
	// at once.
	f2 := newFleet(t)
	f2.add("A", 0, 3, 0, nil, nil)
	f2.add("B", 3, 6, 0, nil, nil)
	cfg.Reroute = f2.reroute
	ch2, err := swarm.NewChain(cfg, []swarm.Hop{f2.nodes["A"].hop(f2.nodes["A"].r), f2.nodes["B"].hop(f2.nodes["B"].r)})
	if err != nil {
		t.Fatal(err)
	}
	defer ch2.Close()
	_, err = failoverRun(t, ch2, prompts[0], map[int]func(){2: f2.nodes["B"].kill})
	var ue *route.UncoveredError
	if !errors.As(err, &fe) || !errors.As(err, &ue) || !strings.Contains(err.Error(), "no replacement") {
		t.Fatalf("got %v", err)
	}
	t.Log(err)
	// Once a node serves the layers again, the same chain recovers on the
	// next sequence, without reopening the dead node.
	f2.add("S", 3, 6, 0, nil, nil)
	want := reference(t, prompts[0])
	got, err := failoverRun(t, ch2, prompts[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if i, j := sameBits(got.outs, want.outs); i >= 0 {
		t.Fatalf("hidden states differ at forward %d index %d", i, j)
	}
	if fos := ch2.Failovers(); len(fos) != 1 || fos[0].Peer != "B" || !slices.Equal(fos[0].Replacement, []string{"S"}) {
		t.Fatalf("failovers %+v", fos)
	}
}

// TestFailoverNotForClientErrors: errors that are the client's own are not
// retried on other nodes.
func TestFailoverNotForClientErrors(t *testing.T) {
	f := newFleet(t)
	f.add("A", 0, 6, 0, nil, nil)
	f.add("B", 0, 6, 0, nil, nil)
	cfg := chainConfig()
	cfg.Reroute = f.reroute
	ch, err := swarm.NewChain(cfg, []swarm.Hop{f.nodes["A"].hop(f.nodes["A"].r)})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	h := make([]float32, testConfig.Dim)
	h[3] = float32(math.NaN())
	if err := ch.Forward(context.Background(), 0, h, 1); err == nil {
		t.Fatal("NaN input accepted")
	}
	if n := f.reroutes.Load(); n != 0 || len(ch.Failovers()) != 0 {
		t.Fatalf("a bad input was rerouted %d times", n)
	}
	// Nor is the caller's own cancellation.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ch.Forward(ctx, 0, make([]float32, testConfig.Dim), 1); !errors.Is(err, context.Canceled) || f.reroutes.Load() != 0 {
		t.Fatalf("cancelled: %v, %d reroutes", err, f.reroutes.Load())
	}
}

// TestFailoverChecksReplacement: a replacement whose replayed outputs
// differ from what the failed node had sent is not used; the next one is,
// and the output is still the single-process one.
func TestFailoverChecksReplacement(t *testing.T) {
	want := reference(t, prompts[2])
	f := newFleet(t)
	f.add("A", 0, 2, 0, nil, nil)
	f.add("B", 2, 4, 0, nil, nil)
	f.add("C", 4, 6, 0, nil, nil)
	// Z computes layers 2:4 with a tiny bias: plausible, but not the same
	// bits.
	f.add("Z", 2, 4, time.Millisecond, nil, func(srv *swarm.Server) {
		srv.Forward = func(s *model.Session, start int, hidden []float32, n int, tr *model.Trace) error {
			if err := s.Model().ForwardTrace(s, start, hidden, n, tr); err != nil {
				return err
			}
			for i := range hidden {
				hidden[i] *= 1 + 1e-6
			}
			return nil
		}
	})
	f.add("D", 2, 4, 50*time.Millisecond, nil, nil)
	cfg := chainConfig()
	cfg.Reroute = f.reroute
	ch, err := swarm.NewChain(cfg, []swarm.Hop{f.nodes["A"].hop(f.nodes["A"].r), f.nodes["B"].hop(f.nodes["B"].r), f.nodes["C"].hop(f.nodes["C"].r)})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	got, err := failoverRun(t, ch, prompts[2], map[int]func(){8: f.nodes["B"].kill})
	if err != nil {
		t.Fatal(err)
	}
	if i, j := sameBits(got.outs, want.outs); i >= 0 {
		t.Fatalf("hidden states differ at forward %d index %d", i, j)
	}
	fos := ch.Failovers()
	if len(fos) != 1 || !slices.Equal(fos[0].Replacement, []string{"D"}) || len(fos[0].Tried) != 1 ||
		!slices.Equal(fos[0].Tried[0].Peers, []string{"Z"}) || !strings.Contains(fos[0].Tried[0].Err.Error(), "differ") {
		t.Fatalf("failovers %+v", fos)
	}
	t.Log(fos[0], "; tried:", fos[0].Tried[0].Err)
}

// TestFailoverDistrustedNode: a node caught sending a bad receipt is
// replaced; the replacement reproduces every output it had sent (the
// last one used before its receipt came included), so the generation
// goes on with the honest output.
func TestFailoverDistrustedNode(t *testing.T) {
	want := reference(t, prompts[0])
	f := newFleet(t)
	f.add("A", 0, 3, 0, nodeKey(1), nil)
	bad := f.add("B", 3, 6, 0, nodeKey(2), nil)
	f.add("D", 3, 6, 10*time.Millisecond, nodeKey(4), nil)
	// B signs its receipts with a key other than its announced one from
	// the tenth call on.
	bad.rewrite(func(m wire.Message) wire.Message {
		return withReceipt(m, func(step uint64, b []byte) []byte {
			if step < 9 {
				return b
			}
			r, err := proof.UnmarshalReceipt(b)
			if err != nil {
				return b
			}
			r.Sign(nodeKey(99))
			return r.Marshal()
		})
	})
	cfg := chainConfig()
	cfg.Reroute = f.reroute
	cfg.Verify = &swarm.Verification{Rand: detRand(5)}
	ch, err := swarm.NewChain(cfg, []swarm.Hop{f.nodes["A"].hop(f.nodes["A"].r), bad.hop(bad.r)})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	got, err := failoverRun(t, ch, prompts[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if i, j := sameBits(got.outs, want.outs); i >= 0 {
		t.Fatalf("hidden states differ at forward %d index %d", i, j)
	}
	fos := ch.Failovers()
	if len(fos) != 1 || fos[0].Peer != "B" || !errors.Is(fos[0].Cause, swarm.ErrDistrusted) {
		t.Fatalf("failovers %+v", fos)
	}
	ret := ch.Retired()
	if len(ret) != 1 || ret[0].Fault == nil || len(ret[0].Receipts) != 9 {
		t.Fatalf("retired %+v", ret)
	}
	t.Log(fos[0])
}

// TestSubrangeSessions: a node serving layers [a, b) serves sessions for
// any part of them, bit for bit as a node loaded with exactly that part,
// and signs receipts naming the session's layers.
func TestSubrangeSessions(t *testing.T) {
	want := reference(t, prompts[0])
	f := newFleet(t)
	x := f.add("X", 0, 6, 0, nodeKey(1), nil)
	y := f.add("Y", 1, 6, 0, nodeKey(2), nil)
	for _, split := range [][]int{{0, 2, 5, 6}, {0, 1, 3, 4, 6}, {0, 6}} {
		t.Run(fmt.Sprint(split), func(t *testing.T) {
			var hops []swarm.Hop
			for i := 0; i+1 < len(split); i++ {
				n := x
				if i%2 == 1 {
					n = y
				}
				hops = append(hops, n.hop(model.Range{First: split[i], Last: split[i+1]}))
			}
			cfg := chainConfig()
			cfg.Verify = &swarm.Verification{Keys: []*proof.VerificationKey{verificationKey(t)}, Audit: proof.AuditConfig{Cells: 2}, Rand: detRand(9)}
			ch, err := swarm.NewChain(cfg, hops)
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			got, err := failoverRun(t, ch, prompts[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			if i, j := sameBits(got.outs, want.outs); i >= 0 {
				t.Fatalf("hidden states differ at forward %d index %d", i, j)
			}
			for _, p := range ch.Proofs() {
				for _, r := range p.Receipts {
					if r.First != p.Range.First || r.Last != p.Range.Last {
						t.Fatalf("hop %s: receipt for layers %d:%d", p.Range, r.First, r.Last)
					}
				}
				if p.Audit.Failed != 0 || p.Audit.Cells == 0 {
					t.Fatalf("hop %s: audit %+v", p.Range, p.Audit)
				}
			}
		})
	}
}

// TestFailoverConcurrentStats: Stats, Failovers and History may be read
// while Forward replaces hops (run with -race).
func TestFailoverConcurrentStats(t *testing.T) {
	f := newFleet(t)
	f.add("A", 0, 3, 0, nil, nil)
	f.add("B", 3, 6, 0, nil, nil)
	f.add("C", 0, 6, time.Millisecond, nil, nil)
	cfg := chainConfig()
	cfg.Reroute = f.reroute
	ch, err := swarm.NewChain(cfg, []swarm.Hop{f.nodes["A"].hop(f.nodes["A"].r), f.nodes["B"].hop(f.nodes["B"].r)})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = ch.Stats()
			_ = ch.Failovers()
			_ = ch.History(1)
			time.Sleep(time.Millisecond)
		}
	}()
	_, err = failoverRun(t, ch, prompts[0], map[int]func(){3: f.nodes["A"].kill, 6: f.nodes["B"].kill})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ch.Failovers()); n != 2 {
		t.Fatalf("%d failovers", n)
	}
}
