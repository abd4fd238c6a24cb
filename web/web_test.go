package web

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/web/webtest"
)

// sample is a status with every kind of thing the page shows: a healthy
// chain, a second model with an unreachable node and a gap, generations
// with each audit outcome, and a ledger.
func sample() Status {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return Status{
		Role: "gateway", Name: "127.0.0.1:8080", Now: now, Started: now.Add(-time.Hour),
		Stats: []Stat{
			{Label: "Requests", Value: "1,204"}, {Label: "Generations", Value: "1,180", Hint: "12 failed"},
			{Label: "Tokens served", Value: "245,311"}, {Label: "In flight", Value: "2", Hint: "0 queued"},
			{Label: "Nodes", Value: "4", Hint: "3 healthy"}, {Label: "Uptime", Value: "1h 0m"},
		},
		TokensServed: 245311,
		Throughput:   wave(),
		Notes:        []string{"Every node's signed receipts are checked, but the nodes' computation is not audited."},
		Models: []ModelCoverage{
			{Model: "kjv-tiny", Commitment: strings.Repeat("3f", 32), Layers: 6, Detail: "plain chat template, context 256",
				Nodes: []Node{
					{Peer: "12D3KooWQaZ9n7vWcX1", Addr: "/ip4/127.0.0.1/tcp/41001", First: 2, Last: 4, Health: HealthOK, LatencyMs: 0.8, FreeSessions: 15, Sessions: 40, Positions: 5000, TokensPerSecond: 812, BytesIn: 1 << 20, BytesOut: 1 << 20, LastSeen: now},
					{Peer: "12D3KooWAbc4k2LpPq8", Addr: "/ip4/127.0.0.1/tcp/41000", First: 0, Last: 2, Health: HealthOK, LatencyMs: 0.6, FreeSessions: 16, Sessions: 40, Positions: 5000, TokensPerSecond: 790, LastSeen: now},
					{Peer: "12D3KooWZr7Ty1MnBv3", Addr: "/ip4/127.0.0.1/tcp/41002", First: 4, Last: 6, Health: HealthDegraded, Detail: "no free sessions", LatencyMs: 3.1, Sessions: 40, Positions: 5000, TokensPerSecond: 640, LastSeen: now.Add(-4 * time.Second)},
				}},
			{Model: "llama-3.2-1b", Layers: 16, Nodes: []Node{
				{Peer: "12D3KooWLm1", First: 0, Last: 8, Health: HealthOK, LastSeen: now},
				{Peer: "12D3KooWLm2", First: 8, Last: 12, Health: HealthUnreachable, Detail: "dial timeout", LastSeen: now.Add(-10 * time.Minute)},
			}},
		},
		Generations: []Generation{
			{Time: now, RequestID: "chatcmpl-1", Model: "kjv-tiny", Endpoint: "chat.completions", PromptTokens: 7, CompletionTokens: 48, Millis: 310, TTFTMillis: 21, TokensPerSecond: 154.8,
				FinishReason: "length", Certificate: "cert_0123456789abcdef01234567", Audit: Audit{Status: "none", Detail: "no audit"},
				Hops: []Hop{{Peer: "a", Layers: "0:2", Millis: 80}, {Peer: "b", Layers: "2:4", Millis: 81}, {Peer: "c", Layers: "4:6", Millis: 90}}},
			{Time: now.Add(-time.Minute), RequestID: "cmpl-2", Model: "kjv-tiny", Endpoint: "completions", PromptTokens: 5, CompletionTokens: 16, FinishReason: "stop",
				Certificate: "cert_2", Audit: Audit{Status: "passed", Verified: true}},
			{Time: now.Add(-2 * time.Minute), RequestID: "cmpl-3", Model: "kjv-tiny", Endpoint: "completions", PromptTokens: 5, Certificate: "cert_3",
				Audit: Audit{Status: "none"}, Error: "hop 2 went away"},
		},
		Ledger: &Ledger{
			Where: "ledger http://127.0.0.1:26658", ChainID: "tessera-testnet", Height: 1234, AppHash: strings.Repeat("c4", 32), Price: 1,
			Accounts: []Account{{Name: "alice", Role: "account", Balance: "1,000"}, {Name: "node-7", Role: "node", Balance: "12", Stake: "500", Earned: "96", WorkUnits: "101"},
				{Name: "node-9", Role: "node", Balance: "0", Detail: "not registered: its work is not paid"}},
			Transactions: []Transaction{{Time: now, Height: 1234, Kind: "certificate", From: "alice", To: "node-7", Amount: "24", Memo: "certificate 0123…, auditor fee 1"}},
		},
	}
}

// wave is a throughput history with bursts of generations.
func wave() []float64 {
	out := make([]float64, 120)
	for i := range out {
		if i%17 < 9 {
			out[i] = float64(120 + (i*37)%90)
		}
	}
	return out
}

type certSource struct{ Source }

func (certSource) Certificate(id string) (any, bool) {
	if id != "cert_0123456789abcdef01234567" {
		return nil, false
	}
	return map[string]any{"id": id, "audit": map[string]any{"status": "none", "detail": "no audit: nothing was verified"}}, true
}

func TestStatusJSON(t *testing.T) {
	st := sample()
	ts := httptest.NewServer(Handler(certSource{SourceFunc(func(context.Context) (Status, error) { return st, nil })}))
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got Status
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	m := got.Models[0]
	if m.Nodes[0].First != 0 || m.Nodes[1].First != 2 || len(m.Gaps) != 0 {
		t.Errorf("nodes not sorted or gaps wrong: %+v", m)
	}
	if g := got.Models[1].Gaps; !slices.Equal(g, []Range{{8, 16}}) {
		t.Errorf("gaps %v, want 8:16 (8:12 is unreachable)", g)
	}
	resp, err = http.Get(ts.URL + "/api/certificates/cert_0123456789abcdef01234567")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("certificate: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if resp, _ = http.Get(ts.URL + "/api/certificates/nope"); resp.StatusCode != 404 {
		t.Errorf("unknown certificate: %d", resp.StatusCode)
	}
	// Empty statuses still give arrays.
	ts2 := httptest.NewServer(Handler(SourceFunc(func(context.Context) (Status, error) { return Status{Role: "node"}, nil })))
	defer ts2.Close()
	resp, err = http.Get(ts2.URL + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{`"models":[]`, `"generations":[]`, `"stats":[]`, `"ledger":null`} {
		if !strings.Contains(string(body), w) {
			t.Errorf("empty status %s lacks %s", body, w)
		}
	}
	if resp, _ = http.Get(ts2.URL + "/api/certificates/x"); resp.StatusCode != 404 {
		t.Errorf("a node's certificate endpoint: %d", resp.StatusCode)
	}
}

func TestPageAndAssets(t *testing.T) {
	ts := httptest.NewServer(Handler(SourceFunc(func(context.Context) (Status, error) { return sample(), nil })))
	defer ts.Close()
	for path, ctype := range map[string]string{"/": "text/html", "/static/app.js": "javascript", "/static/style.css": "text/css"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: no content security policy", path)
		}
	}
	if resp, _ := http.Get(ts.URL + "/nope"); resp.StatusCode != 404 {
		t.Errorf("/nope: %d", resp.StatusCode)
	}
}

// The page loads nothing from outside: no URLs with a scheme or a
// protocol-relative host in the embedded files.
func TestNoExternalResources(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?https?:`)
	err := fs.WalkDir(static, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := static.ReadFile(path)
		if err != nil {
			return err
		}
		if m := external.FindString(string(data)); m != "" {
			t.Errorf("%s refers to an outside resource: %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGaps(t *testing.T) {
	nodes := []Node{{First: 0, Last: 2, Health: HealthOK}, {First: 3, Last: 5, Health: HealthDegraded}, {First: 5, Last: 8, Health: HealthUnreachable}}
	if g := Gaps(10, nodes); !slices.Equal(g, []Range{{2, 3}, {5, 10}}) {
		t.Errorf("gaps %v", g)
	}
	if g := Gaps(4, []Node{{First: 0, Last: 4, Health: HealthOK}}); len(g) != 0 {
		t.Errorf("full coverage has gaps %v", g)
	}
}

// The page, rendered by headless Chromium from a sample status, shows
// every node, the gap, the generations with their audit outcome and the
// ledger; a screenshot is written as an artifact.
func TestDashboardInChromium(t *testing.T) {
	webtest.Chromium(t)
	ts := httptest.NewServer(Handler(certSource{SourceFunc(func(context.Context) (Status, error) { return sample(), nil })}))
	defer ts.Close()
	dom := webtest.DumpDOM(t, ts.URL+"/", webtest.Options{})
	for _, w := range []string{
		`data-loaded="true"`,
		"vWcX1<", "2LpPq8<", "Ty1MnBv3<", // peers, shortened
		"/ip4/127.0.0.1/tcp/41001",
		">0:2<", ">2:4<", ">4:6<",
		"fully covered", "uncovered 8:16", "dial timeout", "no free sessions",
		"no audit", "verified", "failed: hop 2 went away",
		"…01234567", // the certificate, shortened
		"node-7", ">500<", ">96<", "height 1,234", "app hash c4c4c4c4", "not registered: its work is not paid", "certificate 0123…",
		"computation is not audited",
		"1,204", "245,311",
	} {
		if !strings.Contains(dom, w) {
			t.Errorf("the rendered page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
	webtest.Screenshot(t, ts.URL+"/", "dashboard-sample.png", webtest.Options{})
}
