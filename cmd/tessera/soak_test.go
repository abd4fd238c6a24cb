package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	timerate "golang.org/x/time/rate"

	"github.com/tessera-net/tessera/api"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/swarm"
)

// soakPrompts are the prompts of the soak test, with max_tokens.
var soakPrompts = []struct {
	prompt string
	tokens int
}{
	{"In the beginning God created", 16},
	{"And the LORD spake unto Moses, saying", 24},
	{"Blessed are the meek", 8},
}

// soakResult is one request's outcome.
type soakResult struct {
	latency time.Duration
	status  int
	err     error // a request not answered cleanly, or a wrong answer
}

// TestSoak runs soakWorkers concurrent generations through a gateway over
// a three-node in-process swarm for a fixed time (3s; TESSERA_SOAK=10m
// for a long run), alternating chat and completions, streamed and not.
// Every request must be answered with the single-process text (greedy
// decoding is deterministic, so any wrong byte is a bug), and afterwards
// the goroutines and the heap of the whole process (gateway and nodes)
// must come back to their level before the load, within a tolerance.
func TestSoak(t *testing.T) {
	dur := 3 * time.Second
	if s := os.Getenv("TESSERA_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TESSERA_SOAK=%q: %v", s, err)
		}
		dur = d
	}
	const soakWorkers = 8
	if os.Getenv("TESSERA_SOAK_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 4096
	}
	want := make([]string, len(soakPrompts))
	for i, p := range soakPrompts {
		want[i] = generateText(t, p.prompt, p.tokens)
	}
	// The gateway reaches each node as one peer, with up to soakWorkers
	// generations at once (a closed session frees its slot on the node a
	// moment later) and hundreds of short sessions a second (kjv-tiny
	// generates in milliseconds): the nodes' per-peer limits are sized
	// for it, as an operator serving a gateway would (this test looks
	// for leaks; TestLimits* test the limits).
	limits := swarm.PeerLimits{Sessions: 2 * soakWorkers, Opens: swarm.Rate{Limit: timerate.Inf}, Forwards: swarm.Rate{Limit: timerate.Inf},
		Positions: swarm.Rate{Limit: timerate.Inf}, Openings: swarm.Rate{Limit: timerate.Inf}}
	nodes := startRangeNodesWith(t, []model.Range{{First: 0, Last: 2}, {First: 2, Last: 4}, {First: 4, Last: 6}}, limits)
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.host.Addrs()[0])
	}
	g := startTestGateway(t, gatewayOptions{Peers: addrs, MaxConcurrent: soakWorkers})
	// The gateway keeps every generation's certificate, with the nodes'
	// signed receipts (~25 KB each here), up to DefaultCertificateBytes of
	// proofs: growth by design, bounded. A small budget makes the store
	// reach its bound within seconds, so that what remains is a leak.
	certs := g.api.Certificates()
	certs.SetMaxBytes(soakCertBytes)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: soakWorkers}, Timeout: 2 * time.Minute}
	defer hc.CloseIdleConnections()

	// Warm up (connections to the nodes, pools, lazily built tables),
	// then take the baseline with no request in flight.
	for i := range soakPrompts {
		if r := soakRequest(hc, g.URL, g.model.ID, i, i%2 == 0, i%3 == 0, want[i]); r.err != nil {
			t.Fatalf("warm-up: %v", r.err)
		}
	}
	hc.CloseIdleConnections()
	baseG, baseHeap, baseRSS := settle()

	start := time.Now()
	deadline := start.Add(dur)
	results := make([][]soakResult, soakWorkers)
	var wg sync.WaitGroup
	for w := range soakWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; time.Now().Before(deadline); k++ {
				i := (w + k) % len(soakPrompts)
				results[w] = append(results[w], soakRequest(hc, g.URL, g.model.ID, i, (w+k)%2 == 0, (w/2+k)%2 == 0, want[i]))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	hc.CloseIdleConnections()

	var lat []time.Duration
	failed := 0
	for _, rs := range results {
		for _, r := range rs {
			if r.err != nil {
				failed++
				if failed <= 5 {
					t.Errorf("request failed: %v", r.err)
				}
				continue
			}
			lat = append(lat, r.latency)
		}
	}
	if len(lat) == 0 {
		t.Fatal("no request completed")
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }

	// Everything the load started must end: poll (bounded) until the
	// goroutines are back, then compare the heap after a GC.
	var endG int
	var endHeap, endRSS uint64
	for wait := time.Now().Add(30 * time.Second); ; {
		endG, endHeap, endRSS = settle()
		if endG <= baseG+soakGoroutineSlack || time.Now().After(wait) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("soak: %d workers for %v: %d requests (%.1f/s), %d failed; latency p50 %v p99 %v max %v",
		soakWorkers, elapsed.Round(time.Millisecond), len(lat)+failed, float64(len(lat)+failed)/elapsed.Seconds(), failed,
		pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	t.Logf("soak: goroutines %d before, %d after; heap %.1f MiB before, %.1f MiB after; RSS %.1f MiB before, %.1f MiB after; %d certificates held",
		baseG, endG, mib(baseHeap), mib(endHeap), mib(baseRSS), mib(endRSS), certs.Len())
	if endG > baseG+soakGoroutineSlack {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines grew from %d to %d; stacks:\n%s", baseG, endG, buf[:runtime.Stack(buf, true)])
	}
	if p := os.Getenv("TESSERA_SOAK_HEAPPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if endHeap > baseHeap+soakCertBytes+soakHeapSlack {
		t.Errorf("heap grew from %.1f MiB to %.1f MiB", mib(baseHeap), mib(endHeap))
	}
}

// Tolerances of the soak test: a few goroutines (timers, the health
// poller, libp2p's housekeeping come and go), the certificates' proof
// budget, and the gateway's other bounded stores (recent generations,
// the certificates' records besides their proofs), which fill up under
// load.
const (
	soakGoroutineSlack = 10
	soakCertBytes      = 4 << 20
	soakHeapSlack      = 16 << 20
)

// settle collects garbage and returns the goroutine count, the live heap
// and the resident set size.
func settle() (int, uint64, uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc, selfRSS()
}

// selfRSS is this process's resident set size (0 where /proc is absent).
func selfRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// soakRequest sends prompt i as a chat or completion request, streamed or
// not, and checks the answer is the single-process text want.
func soakRequest(hc *http.Client, base, modelID string, i int, chat, stream bool, want string) soakResult {
	p := soakPrompts[i]
	body := map[string]any{"model": modelID, "temperature": 0, "max_tokens": p.tokens, "stream": stream}
	path := "/v1/completions"
	if chat {
		path = "/v1/chat/completions"
		body["messages"] = []map[string]string{{"role": "user", "content": p.prompt}}
	} else {
		body["prompt"] = p.prompt
	}
	data, _ := json.Marshal(body)
	start := time.Now()
	resp, err := hc.Post(base+path, "application/json", bytes.NewReader(data))
	if err != nil {
		return soakResult{err: fmt.Errorf("%s: %w", path, err)}
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := soakResult{latency: time.Since(start), status: resp.StatusCode}
	if err != nil {
		r.err = fmt.Errorf("%s: reading the answer: %w", path, err)
		return r
	}
	if resp.StatusCode != http.StatusOK {
		r.err = fmt.Errorf("%s: status %d: %s", path, resp.StatusCode, out)
		return r
	}
	got, err := soakText(out, chat, stream)
	if err != nil {
		r.err = fmt.Errorf("%s (stream %v): %w: %s", path, stream, err, out)
	} else if got != want {
		r.err = fmt.Errorf("%s (stream %v): text %q, want %q", path, stream, got, want)
	}
	return r
}

// soakText extracts the generated text of an answer.
func soakText(out []byte, chat, stream bool) (string, error) {
	if !stream {
		if chat {
			var cc api.ChatCompletion
			if err := json.Unmarshal(out, &cc); err != nil || len(cc.Choices) != 1 {
				return "", fmt.Errorf("not a chat completion (%v)", err)
			}
			return cc.Choices[0].Message.Content, nil
		}
		var c api.Completion
		if err := json.Unmarshal(out, &c); err != nil || len(c.Choices) != 1 {
			return "", fmt.Errorf("not a completion (%v)", err)
		}
		return c.Choices[0].Text, nil
	}
	var text strings.Builder
	for _, ev := range strings.Split(string(out), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			return text.String(), nil
		}
		if chat {
			var c api.ChatCompletionChunk
			if err := json.Unmarshal([]byte(data), &c); err != nil {
				return "", fmt.Errorf("chunk %q: %w", data, err)
			}
			for _, ch := range c.Choices {
				if ch.Delta.Content != nil {
					text.WriteString(*ch.Delta.Content)
				}
			}
			continue
		}
		var c api.Completion
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return "", fmt.Errorf("chunk %q: %w", data, err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Text)
		}
	}
	return "", fmt.Errorf("stream without [DONE]")
}
