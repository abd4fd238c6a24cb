package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xrate "golang.org/x/time/rate"

	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// TestLimitsFloodingPeerRefused: a real node on 127.0.0.1 refuses a
// client that opens session after session (first by its sessions at once,
// then by its rate of opens), saying which limit, while another client
// generates through the same node, token for token as locally.
func TestLimitsFloodingPeerRefused(t *testing.T) {
	prompt := "And it came to pass"
	local, err := run(t, "generate", "--prompt", prompt, "-n", "16", "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := startNode(ctx, nodeOptions{Layers: "0:6", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Threads: 1,
		PeerLimits: swarm.PeerLimits{Sessions: 2, Opens: swarm.Rate{Limit: 0.001, Burst: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	addr := n.host.Addrs()[0]

	flood, err := p2p.New(ctx, p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	nodeID, err := flood.Connect(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	r := n.current().Model.Range
	open := func() wire.Message {
		t.Helper()
		s, err := flood.OpenStream(ctx, nodeID, wire.ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() }) // opened sessions stay open
		_ = s.SetDeadline(time.Now().Add(30 * time.Second))
		if err := wire.WriteMessage(s, &wire.OpenSession{Version: wire.Version, ModelCommit: n.commit.Model,
			First: r.First, Last: r.Last, MaxPositions: 64, DType: wire.DTypeF32}); err != nil {
			t.Fatal(err)
		}
		m, err := wire.ReadMessage(bufio.NewReader(s), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	var got []string
	for range 8 { // bounded: 5 opens pass the rate, 2 sessions stay open
		switch m := open().(type) {
		case *wire.SessionOpened:
			got = append(got, "opened")
		case *wire.Error:
			if !strings.Contains(m.Message, "per-peer") {
				t.Errorf("refusal %q does not name the per-peer limit", m.Message)
			}
			if m.Code == wire.CodeBusy && !strings.Contains(m.Message, "retry in") {
				t.Errorf("rate refusal %q does not say when to retry", m.Message)
			}
			got = append(got, m.Code.String())
		default:
			t.Fatalf("opening a session: got %T", m)
		}
	}
	busy := wire.CodeBusy.String()
	tooMany := wire.CodeTooManySessions.String()
	want := []string{"opened", "opened", tooMany, tooMany, tooMany, busy, busy, busy}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("flooding client got %v, want %v", got, want)
	}

	// Another client, with its own peer id, is served in full.
	out, err := run(t, "generate", "--prompt", prompt, "-n", "16", "--peers", addr)
	if err != nil {
		t.Fatalf("another client while the flooder holds its sessions: %v", err)
	}
	if out != local {
		t.Fatalf("through the node:\n%q\nlocally:\n%q", out, local)
	}
	// The operator sees the refusals in the node's metrics.
	h, err := startNodeHTTP(n, "127.0.0.1:0", quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	resp, err := http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{`tessera_node_refused_total{limit="sessions"} 3`, `tessera_node_refused_total{limit="opens"} 3`} {
		if !strings.Contains(string(metrics), w) {
			t.Errorf("node metrics lack %s", w)
		}
	}
}

func TestPeerRateFlags(t *testing.T) {
	cases := []struct {
		sessions   int
		open, pos  string
		wantSess   int
		wantOpen   xrate.Limit
		wantPos    xrate.Limit
		wantErrSub string
	}{
		{sessions: 4, wantSess: 4},
		{sessions: 0, wantSess: -1},
		{sessions: 2, open: "120/min", pos: "1000/s", wantSess: 2, wantOpen: 2, wantPos: 1000},
		{sessions: 2, open: "0", wantSess: 2, wantOpen: xrate.Inf},
		{sessions: -3, wantErrSub: "--max-sessions-per-peer"},
		{sessions: 4, pos: "fast", wantErrSub: "--peer-position-rate"},
	}
	for _, c := range cases {
		l := swarm.PeerLimits{Sessions: c.sessions}
		err := (&peerRateFlags{sessions: c.open, positions: c.pos}).apply(&l)
		if c.wantErrSub != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErrSub) {
				t.Errorf("%+v: error %v, want one naming %s", c, err, c.wantErrSub)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", c, err)
			continue
		}
		if l.Sessions != c.wantSess || l.Opens.Limit != c.wantOpen || l.Positions.Limit != c.wantPos {
			t.Errorf("%+v: got %+v", c, l)
		}
	}
}

func TestRequestsPerMinuteFlag(t *testing.T) {
	cases := []struct {
		in   string
		want int
		err  bool
	}{
		{"120/min", 120, false},
		{"2/s", 120, false},
		{"60/h", 1, false},
		{"0", 0, false},
		{"10/h", 0, true},
		{"lots", 0, true},
	}
	for _, c := range cases {
		got, err := requestsPerMinute(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("requestsPerMinute(%q) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

// The gateway's per-key limits, as `tessera gateway --rate-limit` sets
// them: a key beyond its rate gets an OpenAI-shaped 429 with Retry-After
// while another key is served.
func TestLimitsGatewayRateLimit(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("sk-a alice\nsk-b bob\nsk-c carol\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startTestGateway(t, gatewayOptions{KeysFile: keys, RequestsPerMinute: 1, MaxPromptTokens: 16})
	body := map[string]any{"model": g.model.ID, "prompt": "In the beginning", "max_tokens": 2}
	if code, _, data := apiCall(t, g, "/v1/completions", "sk-a", body); code != 200 {
		t.Fatalf("first request: %d %s", code, data)
	}
	code, h, data := apiCall(t, g, "/v1/completions", "sk-a", body)
	if code != 429 || h.Get("Retry-After") != "60" || !strings.Contains(string(data), `"code":"rate_limit_exceeded"`) {
		t.Fatalf("second request within the minute: %d Retry-After %q %s", code, h.Get("Retry-After"), data)
	}
	if code, _, data := apiCall(t, g, "/v1/completions", "sk-b", body); code != 200 {
		t.Fatalf("another key: %d %s", code, data)
	}
	long := map[string]any{"model": g.model.ID, "prompt": strings.Repeat("And it came to pass ", 10), "max_tokens": 2}
	if code, _, data := apiCall(t, g, "/v1/completions", "sk-c", long); code != 400 || !strings.Contains(string(data), "at most 16 tokens") {
		t.Fatalf("a prompt beyond --max-prompt-tokens: %d %s", code, data)
	}
}

// A validator runs one job per client at a time (--max-jobs-per-peer):
// a client's second job while its first is being received is refused at
// once, naming the limit, while another client's job is taken.
func TestLimitsValidatorJobsPerPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	val, err := startValidator(ctx, validatorOptions{Listen: loopback, Threads: 1, MaxJobs: 4, PeerJobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer val.Close()
	client := func() (*p2p.Host, string) {
		h, err := p2p.New(ctx, p2p.Config{Listen: loopback})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		id, err := h.Connect(ctx, val.host.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		return h, id
	}
	// stream opens a job stream; with partial, it sends the first byte of
	// a job (the protocol is negotiated on the first write), and the
	// validator waits for the rest.
	stream := func(h *p2p.Host, id string, partial bool) (*bufio.Reader, func(wire.Message)) {
		s, err := h.OpenStream(ctx, id, wire.ValidateProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		_ = s.SetDeadline(time.Now().Add(30 * time.Second))
		if partial {
			if _, err := s.Write([]byte{0x80}); err != nil {
				t.Fatal(err)
			}
		}
		return bufio.NewReader(s), func(m wire.Message) {
			if err := wire.WriteMessage(s, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	readErr := func(r *bufio.Reader) *wire.Error {
		m, err := wire.ReadValidateMessage(r, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := m.(*wire.Error)
		if !ok {
			t.Fatalf("got %T, want an error", m)
		}
		return e
	}
	a, aid := client()
	stream(a, aid, true) // a job that is still being sent: it holds a's slot
	deadline := time.Now().Add(20 * time.Second)
	for len(val.slots) == 0 { // the validator is receiving the job
		if time.Now().After(deadline) {
			t.Fatal("the validator did not take the first job")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r, send := stream(a, aid, false)
	send(&wire.ValidateJob{Job: []byte("not a job")})
	if e := readErr(r); e.Code != wire.CodeTooManySessions || !strings.Contains(e.Message, "1 jobs open") {
		t.Fatalf("second job of one client: %v, want refused by the per-peer job limit", e)
	}
	b, bid := client()
	r, send = stream(b, bid, false)
	send(&wire.ValidateJob{Job: []byte("not a job")})
	if e := readErr(r); e.Code != wire.CodeBadRequest {
		t.Fatalf("another client's job: %v, want it read (and refused as malformed)", e)
	}
}
