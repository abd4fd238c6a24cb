package api

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// expectRateLimited checks an OpenAI-shaped 429 rate_limit_exceeded with
// a Retry-After of want seconds.
func expectRateLimited(t *testing.T, status int, retryAfter string, body []byte, want, msgPart string) {
	t.Helper()
	typ, code := checkErrorBody(t, body)
	if status != 429 || typ != TypeRequests || code != CodeRateLimit {
		t.Fatalf("got %d %s, want 429 %s/%s", status, body, TypeRequests, CodeRateLimit)
	}
	if retryAfter != want {
		t.Errorf("Retry-After %q, want %q", retryAfter, want)
	}
	if !strings.Contains(string(body), msgPart) {
		t.Errorf("message %s does not mention %q", body, msgPart)
	}
}

// Each account may send RequestsPerMinute generation requests a minute;
// the next is answered 429 with when to retry, while other accounts and
// other endpoints are served.
func TestRequestsPerMinutePerKey(t *testing.T) {
	keys, err := NewKeys(map[string]string{"sk-a": "alice", "sk-b": "bob"})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	_, ts := newTestServer(t, Config{Backend: localBackend(t), Keys: keys, RequestsPerMinute: 2, Now: clk.now})
	body := map[string]any{"model": testModel, "prompt": "In the beginning", "max_tokens": 1}
	for i := range 2 {
		if resp, data := post(t, ts, "/v1/completions", "sk-a", body); resp.StatusCode != 200 {
			t.Fatalf("alice's request %d: %d %s", i, resp.StatusCode, data)
		}
	}
	resp, data := post(t, ts, "/v1/completions", "sk-a", body)
	expectRateLimited(t, resp.StatusCode, resp.Header.Get("Retry-After"), data, "30", "requests per min")
	// Chat shares the account's budget.
	chat := map[string]any{"model": testModel, "messages": []map[string]string{{"role": "user", "content": "hi"}}, "max_tokens": 1}
	resp, data = post(t, ts, "/v1/chat/completions", "sk-a", chat)
	expectRateLimited(t, resp.StatusCode, resp.Header.Get("Retry-After"), data, "30", "alice")
	if resp, data := post(t, ts, "/v1/completions", "sk-b", body); resp.StatusCode != 200 {
		t.Fatalf("bob while alice is limited: %d %s", resp.StatusCode, data)
	}
	if resp, data := get(t, ts, "/v1/models", "sk-a"); resp.StatusCode != 200 {
		t.Fatalf("alice's model list: %d %s", resp.StatusCode, data)
	}
	clk.add(30 * time.Second) // one request's worth
	if resp, data := post(t, ts, "/v1/completions", "sk-a", body); resp.StatusCode != 200 {
		t.Fatalf("alice after 30s: %d %s", resp.StatusCode, data)
	}
	resp, data = post(t, ts, "/v1/completions", "sk-a", body)
	expectRateLimited(t, resp.StatusCode, resp.Header.Get("Retry-After"), data, "30", "Limit 2")
}

// An account runs at most MaxConcurrentPerKey generations at once; the
// next is answered 429 at once (not queued), and other accounts run.
func TestConcurrentPerKey(t *testing.T) {
	keys, err := NewKeys(map[string]string{"sk-a": "alice", "sk-b": "bob"})
	if err != nil {
		t.Fatal(err)
	}
	b := &blocking{m: localBackend(t).Model, release: make(chan struct{}), running: make(chan struct{}, 10)}
	_, ts := newTestServer(t, Config{Backend: b, Keys: keys, MaxConcurrent: 4, MaxConcurrentPerKey: 1})
	body := map[string]any{"model": testModel, "prompt": "x", "max_tokens": 1}
	done := make(chan int, 2)
	for _, key := range []string{"sk-a", "sk-b"} {
		go func() {
			resp, _ := post(t, ts, "/v1/completions", key, body)
			done <- resp.StatusCode
		}()
	}
	<-b.running
	<-b.running // alice and bob both run
	resp, data := post(t, ts, "/v1/completions", "sk-a", body)
	expectRateLimited(t, resp.StatusCode, resp.Header.Get("Retry-After"), data, "1", "concurrent generations")
	close(b.release)
	for range 2 {
		if code := <-done; code != 200 {
			t.Errorf("a running generation ended %d", code)
		}
	}
	// Alice's slot is free again.
	if resp, data := post(t, ts, "/v1/completions", "sk-a", body); resp.StatusCode != 200 {
		t.Fatalf("alice after her generation ended: %d %s", resp.StatusCode, data)
	}
}

// Without keys, the limits apply to each client address.
func TestLimitKey(t *testing.T) {
	cases := []struct {
		account, remote, want string
	}{
		{"alice", "10.0.0.1:5000", "account alice"},
		{Anonymous, "10.0.0.1:5000", "client 10.0.0.1"},
		{Anonymous, "10.0.0.1:6000", "client 10.0.0.1"},
		{Anonymous, "[::1]:6000", "client ::1"},
		{Anonymous, "garbage", "client garbage"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/v1/completions", nil)
		r.RemoteAddr = c.remote
		if got := limitKey(r, c.account); got != c.want {
			t.Errorf("limitKey(%s, %s) = %q, want %q", c.account, c.remote, got, c.want)
		}
	}
}

// The table of keys forgets idle keys and stays bounded.
func TestKeyLimitsBounded(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	k := newKeyLimits(Config{RequestsPerMinute: 1, Now: clk.now})
	hold, e := k.acquire("busy")
	if e != nil {
		t.Fatal(e)
	}
	for i := range 100 {
		release, e := k.acquire("k" + itoa(i))
		if e != nil {
			t.Fatal(e)
		}
		release()
		release() // twice gives back one slot
	}
	if n := k.tracked(); n != 101 {
		t.Fatalf("%d keys tracked, want 101", n)
	}
	clk.add(2 * time.Minute)
	if _, e := k.acquire("late"); e != nil {
		t.Fatal(e)
	}
	// Idle keys are forgotten; the one with a generation running is kept.
	if n := k.tracked(); n != 2 {
		t.Fatalf("%d keys tracked after two idle minutes, want 2", n)
	}
	hold()
	if newKeyLimits(Config{}) != nil {
		t.Fatal("limits without RequestsPerMinute or MaxConcurrentPerKey")
	}
}

// Prompts and max_tokens beyond the gateway's limits are a clear 400;
// an implicit max_tokens is lowered to the limit.
func TestTokenLimits(t *testing.T) {
	_, ts := newTestServer(t, Config{Backend: localBackend(t), MaxPromptTokens: 8, MaxCompletionTokens: 4})
	long := strings.Repeat("And it came to pass ", 10)
	msgs := func(s string) []map[string]string { return []map[string]string{{"role": "user", "content": s}} }
	cases := []struct {
		name   string
		path   string
		body   map[string]any
		status int
		param  string
		code   string
	}{
		{"short completion", "/v1/completions", map[string]any{"model": testModel, "prompt": "In the beginning", "max_tokens": 3}, 200, "", ""},
		{"long prompt", "/v1/completions", map[string]any{"model": testModel, "prompt": long, "max_tokens": 1}, 400, "prompt", CodeContextLength},
		{"max_tokens too large", "/v1/completions", map[string]any{"model": testModel, "prompt": "In", "max_tokens": 5}, 400, "max_tokens", CodeInvalidValue},
		{"chat max_completion_tokens too large", "/v1/chat/completions", map[string]any{"model": testModel, "messages": msgs("hi"), "max_completion_tokens": 50}, 400, "max_completion_tokens", CodeInvalidValue},
		{"chat long messages", "/v1/chat/completions", map[string]any{"model": testModel, "messages": msgs(long)}, 400, "messages", CodeContextLength},
		{"chat without max_tokens", "/v1/chat/completions", map[string]any{"model": testModel, "messages": msgs("hi")}, 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, data := post(t, ts, c.path, "", c.body)
			if resp.StatusCode != c.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, data, c.status)
			}
			if c.status == 200 {
				var out struct {
					Usage Usage `json:"usage"`
				}
				if err := json.Unmarshal(data, &out); err != nil {
					t.Fatal(err)
				}
				if out.Usage.CompletionTokens > 4 || out.Usage.PromptTokens > 8 {
					t.Fatalf("usage %+v beyond the limits", out.Usage)
				}
				return
			}
			_, code := checkErrorBody(t, data)
			var e errorBody
			if err := json.Unmarshal(data, &e); err != nil {
				t.Fatal(err)
			}
			if code != c.code || e.Error.Param == nil || *e.Error.Param != c.param {
				t.Fatalf("error %s, want code %s on %s", data, c.code, c.param)
			}
			if !strings.Contains(e.Error.Message, "at most") {
				t.Errorf("message %q does not state the limit", e.Error.Message)
			}
		})
	}
}
