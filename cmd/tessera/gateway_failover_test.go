package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/api"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/swarm"
)

// A gateway keeps answering when the node computing the middle layers
// stops in the middle of a streamed completion: its chain fails over to
// another node serving them, the streamed text is the text of `tessera
// generate`, the failover is logged, and the node is shown failed.
func TestGatewayFailsOver(t *testing.T) {
	ranges := []model.Range{{First: 0, Last: 2}, {First: 2, Last: 4}, {First: 4, Last: 6}, {First: 1, Last: 6}}
	nodes := startRangeNodes(t, ranges)
	var addrs []string
	for _, n := range nodes {
		srv := n.current()
		// Slow each call a little, so the stream is still going when the
		// node stops (set before any session: no call reads it yet).
		srv.Forward = func(s *model.Session, start int, hidden []float32, cnt int, tr *model.Trace) error {
			time.Sleep(10 * time.Millisecond)
			return s.Model().ForwardTrace(s, start, hidden, cnt, tr)
		}
		addrs = append(addrs, n.host.Addrs()[0])
	}
	var logs bytes.Buffer
	g := startTestGateway(t, gatewayOptions{Peers: addrs,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, nil))})
	const tokens = 24
	want := generateText(t, e2ePrompt, tokens)

	data, _ := json.Marshal(map[string]any{"model": g.model.ID, "temperature": 0, "max_tokens": tokens, "stream": true,
		"messages": []map[string]string{{"role": "user", "content": e2ePrompt}}})
	resp, err := http.Post(g.URL+"/v1/chat/completions", "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Read up to the first content chunk, then stop the node with an open
	// session that computes layer 3.
	var body bytes.Buffer
	rd := bufio.NewReader(resp.Body)
	for !strings.Contains(body.String(), `"content":"`) {
		line, err := rd.ReadString('\n')
		body.WriteString(line)
		if err != nil {
			t.Fatalf("stream ended early: %v\n%s", err, body.String())
		}
	}
	var victim *runningNode
	for _, n := range nodes {
		r := n.current().Model.Range
		if n.current().Stats().SessionsOpen > 0 && r.First <= 3 && 3 < r.Last {
			victim = n
		}
	}
	if victim == nil {
		t.Fatal("no node with an open session computes layer 3")
	}
	victim.Close()
	rest, err := readAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	body.WriteString(rest)
	if got := sseContent(t, body.Bytes()); got != want {
		t.Fatalf("streamed across the failover %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "msg=failover") || !strings.Contains(logs.String(), "failed="+victim.host.ID()) {
		t.Fatalf("the failover is not logged:\n%s", logs.String())
	}
	if _, failed := g.swarm.router.Failure(victim.host.ID()); !failed {
		t.Error("the router does not remember the stopped node")
	}
	// The next request is planned around it.
	status, _, out := apiCall(t, g, "/v1/chat/completions", "", map[string]any{
		"model": g.model.ID, "temperature": 0, "max_tokens": tokens,
		"messages": []map[string]string{{"role": "user", "content": e2ePrompt}},
	})
	var cc api.ChatCompletion
	if status != 200 || json.Unmarshal(out, &cc) != nil || cc.Choices[0].Message.Content != want {
		t.Fatalf("after the failover: %d %s", status, out)
	}
	t.Logf("gateway log:\n%s", logs.String())
}

// startRangeNodes starts one in-process node per range, each serving that
// range of the embedded model (ranges may overlap).
func startRangeNodes(t *testing.T, ranges []model.Range) []*runningNode {
	t.Helper()
	return startRangeNodesWith(t, ranges, swarm.PeerLimits{})
}

// startRangeNodesWith is startRangeNodes with per-peer limits.
func startRangeNodesWith(t *testing.T, ranges []model.Range, limits swarm.PeerLimits) []*runningNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var nodes []*runningNode
	for _, r := range ranges {
		n, err := startNode(ctx, nodeOptions{Layers: r.String(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Threads: 1, PeerLimits: limits})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		nodes = append(nodes, n)
	}
	return nodes
}

func readAll(rd *bufio.Reader) (string, error) {
	var b strings.Builder
	_, err := rd.WriteTo(&b)
	return b.String(), err
}
