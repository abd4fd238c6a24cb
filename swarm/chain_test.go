package swarm_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

var prompts = []string{
	"In the beginning God created",
	"And the LORD said unto Moses,",
	"Blessed are the",
}

const genTokens = 24

// recorder wraps Layers and keeps a copy of every output.
type recorder struct {
	inner generate.Layers
	outs  [][]float32
}

func (r *recorder) Forward(ctx context.Context, start int, hidden []float32, n int) error {
	if err := r.inner.Forward(ctx, start, hidden, n); err != nil {
		return err
	}
	r.outs = append(r.outs, slices.Clone(hidden))
	return nil
}

type run struct {
	res  generate.Result
	outs [][]float32
}

func generateWith(t *testing.T, layers generate.Layers, prompt string) run {
	t.Helper()
	rec := &recorder{inner: layers}
	c := generate.Client{Model: client, Tokenizer: testTok}
	res, err := c.Run(context.Background(), rec, generate.Request{Prompt: prompt, MaxTokens: genTokens, IgnoreEOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return run{res, rec.outs}
}

// reference runs prompt on the whole model in one process.
func reference(t *testing.T, prompt string) run {
	t.Helper()
	l, err := generate.NewLocalLayers(client, testConfig.ContextLen)
	if err != nil {
		t.Fatal(err)
	}
	return generateWith(t, l, prompt)
}

// sameBits reports the first differing output, or -1.
func sameBits(a, b [][]float32) (int, int) {
	if len(a) != len(b) {
		return 0, -1
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return i, -1
		}
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return i, j
			}
		}
	}
	return -1, -1
}

// splits maps a chain shape to its hops.
type shape struct {
	name   string
	ranges [][2]int
	local  int // how many leading ranges run locally
	pipe   bool
}

var shapes = []shape{
	{name: "1 node", ranges: [][2]int{{0, 6}}},
	{name: "2 nodes", ranges: [][2]int{{0, 3}, {3, 6}}},
	{name: "3 nodes", ranges: [][2]int{{0, 2}, {2, 4}, {4, 6}}},
	{name: "3 nodes over net.Pipe", ranges: [][2]int{{0, 1}, {1, 4}, {4, 6}}, pipe: true},
	{name: "local 0:2 then 2 nodes", ranges: [][2]int{{0, 2}, {2, 4}, {4, 6}}, local: 1},
}

func buildChain(t *testing.T, sh shape, cfg swarm.ChainConfig, tweak func(*swarm.Server)) (*swarm.Chain, []*node) {
	t.Helper()
	var hops []swarm.Hop
	var nodes []*node
	for i, r := range sh.ranges {
		if i < sh.local {
			hops = append(hops, swarm.LocalHop(layers(t, r[0], r[1])))
			continue
		}
		srv := server(t, r[0], r[1])
		if tweak != nil {
			tweak(srv)
		}
		n := newNode(t, srv)
		open := n.pipeOpener()
		if !sh.pipe {
			open = n.listen(t).tcpOpener()
		}
		nodes = append(nodes, n)
		hops = append(hops, swarm.RemoteHop("node"+string(rune('A'+i)), model.Range{First: r[0], Last: r[1]}, open))
	}
	ch, err := swarm.NewChain(cfg, hops)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return ch, nodes
}

// TestChainMatchesLocal: greedy generation through chains of 1, 2 and 3
// nodes, and with a local first hop, gives the tokens of a single process,
// and with f32 payloads every hidden state is bit-identical.
func TestChainMatchesLocal(t *testing.T) {
	refs := map[string]run{}
	for _, p := range prompts {
		refs[p] = reference(t, p)
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			ch, _ := buildChain(t, sh, chainConfig(), nil)
			for _, p := range prompts {
				got := generateWith(t, ch, p)
				want := refs[p]
				if !slices.Equal(got.res.Tokens, want.res.Tokens) {
					t.Fatalf("%q: tokens %v, want %v", p, got.res.Tokens, want.res.Tokens)
				}
				if i, j := sameBits(got.outs, want.outs); i >= 0 {
					t.Fatalf("%q: hidden states differ at forward %d index %d", p, i, j)
				}
			}
			// The chain rewound to position 0 for each prompt: one session
			// per hop served all three generations.
			for _, hs := range ch.Stats() {
				if hs.Sessions != 1 {
					t.Errorf("%s %s: %d sessions", hs.Peer, hs.Range, hs.Sessions)
				}
			}
			t.Logf("%q → %q", prompts[0], refs[prompts[0]].res.Text)
		})
	}
}

// TestChainF16 measures the effect of f16 payloads: every hop boundary
// rounds the hidden states to 11 significant bits.
func TestChainF16(t *testing.T) {
	cfg := chainConfig()
	cfg.DType = wire.DTypeF16
	ch, _ := buildChain(t, shapes[2], cfg, nil)
	var same, total int
	for _, p := range prompts {
		want := reference(t, p)
		got := generateWith(t, ch, p)
		// Relative error of the prefill's final hidden states.
		var num, den float64
		for j, v := range want.outs[0] {
			d := float64(got.outs[0][j] - v)
			num += d * d
			den += float64(v) * float64(v)
		}
		rel := math.Sqrt(num / den)
		if rel > 1e-2 {
			t.Errorf("%q: prefill output relative error %.2g with f16 payloads", p, rel)
		}
		agree := 0
		for agree < len(want.res.Tokens) && agree < len(got.res.Tokens) && got.res.Tokens[agree] == want.res.Tokens[agree] {
			agree++
		}
		same += agree
		total += len(want.res.Tokens)
		t.Logf("f16 through 3 nodes, %q: prefill relative error %.2g; first %d of %d greedy tokens agree with f32", p, rel, agree, len(want.res.Tokens))
		if agree == 0 {
			t.Errorf("%q: f16 changed the very first token", p)
		}
	}
	t.Logf("f16 payloads: %d of %d tokens agree before the first divergence", same, total)
	st := ch.Stats()
	if st[0].DType != wire.DTypeF16 {
		t.Errorf("negotiated %v", st[0].DType)
	}
}

// TestChainSplitsPrefill: a node accepting only small messages still
// serves a long prompt, split into several Forward messages, with the same
// result.
func TestChainSplitsPrefill(t *testing.T) {
	want := reference(t, prompts[0])
	limit := 3*testConfig.Dim*4 + 100 // three positions per message
	ch, nodes := buildChain(t, shapes[1], chainConfig(), func(s *swarm.Server) { s.MaxMessageBytes = limit })
	got := generateWith(t, ch, prompts[0])
	if i, j := sameBits(got.outs, want.outs); i >= 0 {
		t.Fatalf("hidden states differ at forward %d index %d", i, j)
	}
	prompt := len(want.res.PromptTokens)
	calls := uint64((prompt+2)/3 + genTokens - 1)
	for i, hs := range ch.Stats() {
		if hs.Calls != calls {
			t.Errorf("hop %d: %d round trips, want %d", i, hs.Calls, calls)
		}
		if st := nodes[i].srv.Stats(); st.Errors != 0 {
			t.Errorf("node %d answered %d errors", i, st.Errors)
		}
	}
}

func TestChainCoverage(t *testing.T) {
	open := func(context.Context) (swarm.Stream, error) { return nil, errors.New("unused") }
	r := func(a, b int) model.Range { return model.Range{First: a, Last: b} }
	cases := []struct {
		hops []swarm.Hop
		want string
	}{
		{nil, "layers 0:6 are not covered"},
		{[]swarm.Hop{swarm.RemoteHop("p1", r(0, 2), open), swarm.RemoteHop("p2", r(3, 6), open)}, "layers 2:3 are not covered (gap before hop 1 (p2, layers 3:6))"},
		{[]swarm.Hop{swarm.RemoteHop("p1", r(1, 6), open)}, "layers 0:1 are not covered"},
		{[]swarm.Hop{swarm.RemoteHop("p1", r(0, 4), open)}, "layers 4:6 are not covered"},
		{[]swarm.Hop{swarm.RemoteHop("p1", r(0, 4), open), swarm.RemoteHop("p2", r(2, 6), open)}, "hop 1 (p2, layers 2:6) overlaps the previous hop at layers 2:4"},
		{[]swarm.Hop{swarm.RemoteHop("p1", r(0, 7), open)}, "beyond the model's 6 layers"},
		{[]swarm.Hop{swarm.RemoteHop("p1", r(0, 0), open), swarm.RemoteHop("p2", r(0, 6), open)}, "empty"},
		{[]swarm.Hop{swarm.RemoteHop("p1", r(0, 6), nil)}, "needs an Opener"},
		{[]swarm.Hop{{Range: r(0, 3), Model: layers(t, 0, 2)}, swarm.RemoteHop("p2", r(3, 6), open)}, "local model holds layers 0:2"},
		{[]swarm.Hop{swarm.LocalHop(layers(t, 0, 2)), swarm.RemoteHop("p2", r(2, 6), open)}, ""},
	}
	for _, tc := range cases {
		_, err := swarm.NewChain(chainConfig(), tc.hops)
		if tc.want == "" {
			if err != nil {
				t.Errorf("valid chain: %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
	cfg := chainConfig()
	cfg.DType = 7
	if _, err := swarm.NewChain(cfg, []swarm.Hop{swarm.RemoteHop("p", r(0, 6), open)}); err == nil {
		t.Error("unknown dtype accepted")
	}
}

// TestChainRemoteErrorNamesHop: a node refusing the session gives a
// HopError naming it and wrapping the node's wire.Error.
func TestChainRemoteErrorNamesHop(t *testing.T) {
	ch, _ := buildChain(t, shapes[2], chainConfig(), func(s *swarm.Server) {
		if s.Model.Range.First == 2 {
			s.ModelCommit[0] ^= 1
		}
	})
	err := ch.Forward(context.Background(), 0, make([]float32, testConfig.Dim), 1)
	var he *swarm.HopError
	var we *wire.Error
	if !errors.As(err, &he) || !errors.As(err, &we) {
		t.Fatalf("got %v", err)
	}
	if he.Hop != 1 || he.Peer != "nodeB" || he.Range != (model.Range{First: 2, Last: 4}) || we.Code != wire.CodeModelMismatch {
		t.Fatalf("got %+v / %+v", he, we)
	}
	if !strings.Contains(err.Error(), "hop 1 (nodeB, layers 2:4)") || !strings.Contains(err.Error(), "model mismatch") {
		t.Fatalf("message %q", err)
	}
	t.Log(err)
}

// TestChainLostSession: after a node drops the session (here its idle
// timeout), the chain reports the hop; a new sequence from position 0
// opens a new session, and with KeepHistory the inputs needed to rebuild
// the lost one are at hand.
func TestChainLostSession(t *testing.T) {
	cfg := chainConfig()
	cfg.KeepHistory = true
	ch, nodes := buildChain(t, shapes[1], cfg, func(s *swarm.Server) {
		if s.Model.Range.First == 3 {
			s.IdleTimeout = 100 * time.Millisecond
		}
	})
	dim := testConfig.Dim
	h := make([]float32, 3*dim)
	if err := client.Embed(h, []int{1, 100, 200}); err != nil {
		t.Fatal(err)
	}
	in := slices.Clone(h)
	if err := ch.Forward(context.Background(), 0, h, 3); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.History(0), in) {
		t.Fatal("hop 0's history is not the chain's input")
	}
	if got := ch.History(1); len(got) != 3*dim {
		t.Fatalf("hop 1's history holds %d values", len(got))
	}
	time.Sleep(400 * time.Millisecond) // node B expires the stream
	step := make([]float32, dim)
	if err := client.Embed(step, []int{300}); err != nil {
		t.Fatal(err)
	}
	err := ch.Forward(context.Background(), 3, step, 1)
	var he *swarm.HopError
	if !errors.As(err, &he) || he.Hop != 1 {
		t.Fatalf("after the idle timeout: %v", err)
	}
	t.Log(err)
	if err := ch.Forward(context.Background(), 3, step, 1); err == nil || !strings.Contains(err.Error(), "session was lost") {
		t.Fatalf("resuming a lost session: %v", err)
	}
	if got := ch.History(1); len(got) != 4*dim {
		t.Fatalf("hop 1's history holds %d values after the failed step", len(got))
	}
	// A new sequence opens a new session.
	h2 := slices.Clone(in)
	if err := ch.Forward(context.Background(), 0, h2, 3); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h2, h) {
		t.Fatal("new session computed differently")
	}
	if got := ch.Stats()[1].Sessions; got != 2 {
		t.Fatalf("hop 1 opened %d sessions", got)
	}
	if ex := nodes[1].srv.Stats().Expired; ex != 1 {
		t.Fatalf("node B expired %d streams", ex)
	}
}

// TestChainContext: a cancelled context interrupts a call, and names the
// hop.
func TestChainContext(t *testing.T) {
	ch, _ := buildChain(t, shapes[0], chainConfig(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ch.Forward(ctx, 0, make([]float32, testConfig.Dim), 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if err := ch.Forward(context.Background(), 0, make([]float32, testConfig.Dim), 2); err == nil {
		t.Fatal("wrong hidden length accepted")
	}
	if err := ch.Forward(context.Background(), testConfig.ContextLen, make([]float32, testConfig.Dim), 1); err == nil {
		t.Fatal("position beyond the context accepted")
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ch.Forward(context.Background(), 0, make([]float32, testConfig.Dim), 1); err == nil {
		t.Fatal("closed chain computed")
	}
}
