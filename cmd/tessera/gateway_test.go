package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/api"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/slice"
	"github.com/tessera-net/tessera/web/webtest"
)

// startSliceNodeHandles is startSliceNodes returning the nodes too, so a
// test can stop one.
func startSliceNodeHandles(t *testing.T, ranges []model.Range) (string, []*runningNode) {
	t.Helper()
	src, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	written, err := slice.Write(src, ranges, t.TempDir(), slice.Options{Base: "kjv"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var client string
	var nodes []*runningNode
	for _, w := range written {
		if w.Slice.Client {
			client = w.Path
			continue
		}
		n, err := startNode(ctx, nodeOptions{ModelPath: w.Path, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		nodes = append(nodes, n)
	}
	return client, nodes
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startTestGateway starts a gateway over nodes on 127.0.0.1.
func startTestGateway(t *testing.T, o gatewayOptions) *runningGateway {
	t.Helper()
	o.Listen = "127.0.0.1:0"
	o.Threads = 1
	o.Timeout = 30 * time.Second
	if o.HealthEvery == 0 {
		o.HealthEvery = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	g, err := startGateway(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// apiCall posts body to the gateway and decodes the JSON answer.
func apiCall(t *testing.T, g *runningGateway, path, key string, body any) (int, http.Header, []byte) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, g.URL+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// generateText is what `tessera generate` prints after the prompt.
func generateText(t *testing.T, prompt string, n int) string {
	t.Helper()
	out, err := run(t, "generate", "--prompt", prompt, "-n", itoa(n), "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, prompt) {
		t.Fatalf("generate printed %q", out)
	}
	return strings.TrimSuffix(strings.TrimPrefix(out, prompt), "\n")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

const e2ePrompt = "In the beginning God created"

// A gateway over a local three-node swarm: chat completions through the
// chain are the text of `tessera generate`, the certificate names the
// three nodes and their layers, the dashboard (loaded in headless
// Chromium) shows the nodes and the generation, and when a node stops the
// API answers 503 missing_coverage and the dashboard shows the gap.
func TestGatewayThroughThreeNodes(t *testing.T) {
	client, nodes := startSliceNodeHandles(t, demoRanges)
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.host.Addrs()[0])
	}
	const key = "sk-e2e-test-key"
	g := startTestGateway(t, gatewayOptions{ModelPath: client, Peers: addrs, APIKeys: []string{key}})
	if g.model.ID != "kjv" {
		t.Errorf("model id %q, want kjv (from kjv.client.gguf)", g.model.ID)
	}
	want := generateText(t, e2ePrompt, 16)

	status, hdr, body := apiCall(t, g, "/v1/chat/completions", key, map[string]any{
		"model": "kjv", "temperature": 0, "max_tokens": 16,
		"messages": []map[string]string{{"role": "user", "content": e2ePrompt}},
	})
	if status != 200 {
		t.Fatalf("chat completion: %d %s", status, body)
	}
	var cc api.ChatCompletion
	if err := json.Unmarshal(body, &cc); err != nil {
		t.Fatal(err)
	}
	if got := cc.Choices[0].Message.Content; got != want {
		t.Fatalf("through the gateway %q, tessera generate %q", got, want)
	}
	cert := hdr.Get("X-Tessera-Certificate")
	if cert == "" || cert != cc.CertificateID {
		t.Fatalf("certificate header %q, field %q", cert, cc.CertificateID)
	}

	req, _ := http.NewRequest(http.MethodGet, g.URL+"/v1/certificates/"+cert, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var c api.Certificate
	err = json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Hops) != 3 {
		t.Fatalf("certificate hops %+v", c.Hops)
	}
	for i, h := range c.Hops {
		if h.Peer != nodes[i].host.ID() || h.Layers != demoRanges[i].String() || h.Local || h.Positions == 0 || h.BytesSent == 0 {
			t.Errorf("hop %d: %+v, want node %s layers %s", i, h, nodes[i].host.ID(), demoRanges[i])
		}
	}
	if c.Audit.Status != api.AuditReceipts || c.Audit.Verified || c.Account != "default" || c.ModelCommitment != g.model.Commitment || len(c.Proof) == 0 {
		t.Errorf("certificate %+v", c)
	}

	// Streamed, the same text.
	status, _, body = apiCall(t, g, "/v1/chat/completions", key, map[string]any{
		"model": "kjv", "temperature": 0, "max_tokens": 16, "stream": true,
		"messages": []map[string]string{{"role": "user", "content": e2ePrompt}},
	})
	if status != 200 {
		t.Fatalf("streamed: %d %s", status, body)
	}
	if got := sseContent(t, body); got != want {
		t.Errorf("streamed %q, want %q", got, want)
	}
	if status, _, body = apiCall(t, g, "/v1/chat/completions", "", map[string]any{"model": "kjv"}); status != 401 || !strings.Contains(string(body), "invalid_api_key") {
		t.Errorf("without a key: %d %s", status, body)
	}

	// The dashboard shows the three nodes, their ranges, the generation
	// and its certificate.
	webtest.Chromium(t)
	dom := webtest.DumpDOM(t, g.URL+"/", webtest.Options{})
	checks := []string{`data-loaded="true"`, "fully covered", ">0:2<", ">2:4<", ">4:6<", "receipts checked", cert[len(cert)-8:], "Tokens generated"}
	for _, n := range nodes {
		checks = append(checks, shortPeer(n.host.ID()), n.host.Addrs()[0])
	}
	for _, w := range checks {
		if !strings.Contains(dom, w) {
			t.Errorf("the dashboard lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
	webtest.Screenshot(t, g.URL+"/", "dashboard-gateway.png", webtest.Options{})

	// Stop the middle node: its layers are no longer covered.
	nodes[1].Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, _ := gatewayStatus{g}.Status(context.Background())
		if st.Models[0].Nodes[1].Health == "unreachable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not notice the stopped node: %+v", st.Models[0].Nodes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	status, _, body = apiCall(t, g, "/v1/chat/completions", key, map[string]any{
		"model": "kjv", "max_tokens": 4, "messages": []map[string]string{{"role": "user", "content": e2ePrompt}},
	})
	if status != 503 || !strings.Contains(string(body), `"code":"missing_coverage"`) || !strings.Contains(string(body), "no node serves layers 2:4") {
		t.Errorf("with layers 2:4 gone: %d %s", status, body)
	}
	dom = webtest.DumpDOM(t, g.URL+"/", webtest.Options{})
	for _, w := range []string{"uncovered 2:4", "unreachable"} {
		if !strings.Contains(dom, w) {
			t.Errorf("the dashboard after a node stopped lacks %q", w)
		}
	}
}

// sseContent joins the delta contents of a chat stream.
func sseContent(t *testing.T, body []byte) string {
	t.Helper()
	var text strings.Builder
	done := false
	for _, ev := range strings.Split(string(body), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			break
		}
		var c api.ChatCompletionChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text.WriteString(*ch.Delta.Content)
			}
		}
	}
	if !done {
		t.Errorf("stream without [DONE]: %s", body)
	}
	return text.String()
}

// Without peers the gateway runs every layer itself; its dashboard shows
// the local hop. A node's own dashboard shows the node and its metrics.
func TestGatewayLocalAndNodeDashboard(t *testing.T) {
	g := startTestGateway(t, gatewayOptions{})
	want := generateText(t, e2ePrompt, 8)
	status, _, body := apiCall(t, g, "/v1/completions", "", map[string]any{"model": "kjv-tiny-q8_0", "prompt": e2ePrompt, "max_tokens": 8, "temperature": 0})
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var c api.Completion
	if err := json.Unmarshal(body, &c); err != nil || c.Choices[0].Text != want {
		t.Fatalf("local completion %s, want %q", body, want)
	}
	st, err := gatewayStatus{g}.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := st.Models[0].Nodes; len(n) != 1 || n[0].Peer != "local" || n[0].Last != 6 || n[0].Positions == 0 {
		t.Errorf("local gateway's coverage %+v", n)
	}
	resp, err := http.Get(g.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `tessera_gateway_tokens_total{kind="completion",model="kjv-tiny-q8_0"} 8`) {
		t.Errorf("gateway metrics lack the tokens served:\n%s", metrics)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := startNode(ctx, nodeOptions{Layers: "2:4", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	h, err := startNodeHTTP(n, "127.0.0.1:0", quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	resp, err = http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{"tessera_node_positions_total 0", `tessera_node_info{layers="2:4"`, "tessera_node_sessions_open 0"} {
		if !strings.Contains(string(metrics), w) {
			t.Errorf("node metrics lack %s", w)
		}
	}
	webtest.Chromium(t)
	dom := webtest.DumpDOM(t, h.URL+"/", webtest.Options{})
	for _, w := range []string{`data-loaded="true"`, ">node<", "(this node)", ">2:4<", "serving 2:4", shortPeer(n.host.ID()),
		`id="gens-panel" hidden=""`, "positions computed per second"} {
		if !strings.Contains(dom, w) {
			t.Errorf("the node's dashboard lacks %q", w)
		}
	}
	if strings.Contains(dom, "uncovered") {
		t.Error("a node's own page reports the layers it does not serve as gaps")
	}

	// The default address taken: the node runs without a dashboard; an
	// address asked for explicitly must work.
	taken := strings.TrimPrefix(h.URL, "http://")
	if h2, err := startNodeDashboard(n, taken, false, quietLogger()); h2 != nil || err != nil {
		t.Errorf("default address taken: %v %v, want no dashboard and no error", h2, err)
	}
	if _, err := startNodeDashboard(n, taken, true, quietLogger()); err == nil {
		t.Error("an explicit address that is taken was accepted")
	}
	if h2, err := startNodeDashboard(n, "", true, quietLogger()); h2 != nil || err != nil {
		t.Errorf("--http \"\": %v %v", h2, err)
	}
}

func TestGatewayOptionErrors(t *testing.T) {
	for _, c := range []struct {
		o    gatewayOptions
		want string
	}{
		{gatewayOptions{LocalLayers: 2}, "--local-layers needs --peers"},
		{gatewayOptions{ChatTemplate: "/nonexistent.jinja"}, "--chat-template"},
		{gatewayOptions{KeysFile: "/nonexistent-keys"}, "nonexistent-keys"},
		{gatewayOptions{Listen: "127.0.0.1:99999"}, "listen"},
		{gatewayOptions{Ledger: ledgerFlags{Home: t.TempDir()}, APIKeys: []string{"sk-a"}}, `account "default" has no ledger key`},
		{gatewayOptions{Ledger: ledgerFlags{Home: t.TempDir()}, LedgerKey: "/nonexistent.key"}, "nonexistent.key"},
		{gatewayOptions{Ledger: ledgerFlags{URL: "ftp://x"}}, "--ledger-url"},
		{gatewayOptions{Ledger: ledgerFlags{URL: "http://127.0.0.1:1", Home: "x"}}, "not both"},
		{gatewayOptions{LedgerKey: "a.key"}, "--ledger-key needs a ledger"},
		{gatewayOptions{Verify: verifyOptions{VKs: []string{"a.vk"}}}, "--vk needs --peers"},
	} {
		c.o.Logger = quietLogger()
		if c.o.Listen == "" {
			c.o.Listen = "127.0.0.1:0"
		}
		g, err := startGateway(context.Background(), c.o)
		if err == nil {
			g.Close()
			t.Errorf("%+v started", c.o)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %q does not mention %q", err, c.want)
		}
	}
}

func TestLogFormats(t *testing.T) {
	var buf bytes.Buffer
	l, err := logOptions{Format: "json", Level: "debug"}.logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("hello", "k", 1)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["msg"] != "hello" || m["level"] != "DEBUG" {
		t.Errorf("json log line %q", buf.String())
	}
	buf.Reset()
	l, _ = logOptions{Format: "text", Level: "warn"}.logger(&buf)
	l.Info("quiet")
	l.Warn("loud", "k", "v")
	if s := buf.String(); strings.Contains(s, "quiet") || !strings.Contains(s, "level=WARN msg=loud k=v") {
		t.Errorf("text log %q", s)
	}
	for _, bad := range []logOptions{{Format: "xml"}, {Level: "chatty"}} {
		if _, err := bad.logger(io.Discard); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestGatewayHasNoReexecFlags: re-execution is delegated by generate only
// (the gateway answers before a validator could), so the gateway must
// refuse the flags rather than accept and ignore them.
func TestGatewayHasNoReexecFlags(t *testing.T) {
	for _, c := range []struct {
		cmd  *cobra.Command
		want bool
	}{{newGenerateCmd(), true}, {newGatewayCmd(), false}} {
		for _, name := range []string{"validator", "reexec-rate", "validator-timeout"} {
			if got := c.cmd.Flags().Lookup(name) != nil; got != c.want {
				t.Errorf("%s --%s registered: %v, want %v", c.cmd.Name(), name, got, c.want)
			}
		}
		for _, name := range []string{"vk", "audit-budget", "audit-cells"} {
			if c.cmd.Flags().Lookup(name) == nil {
				t.Errorf("%s lacks --%s", c.cmd.Name(), name)
			}
		}
	}
	cmd := newGatewayCmd()
	cmd.SetArgs([]string{"--validator", "/ip4/127.0.0.1/tcp/1"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "unknown flag: --validator") {
		t.Errorf("gateway --validator: %v", err)
	}
}
