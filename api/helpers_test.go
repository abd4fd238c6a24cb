package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/tokenizer"
)

var testPool *kernels.Pool

func TestMain(m *testing.M) {
	testPool = kernels.NewPool(0)
	code := m.Run()
	testPool.Close()
	os.Exit(code)
}

// kjv is the embedded model loaded whole, shared by the tests.
type kjvModel struct {
	model  *model.Model
	tok    *tokenizer.Tokenizer
	client generate.Client
}

var loadKJV = sync.OnceValues(func() (*kjvModel, error) {
	f, err := models.Default()
	if err != nil {
		return nil, err
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, err
	}
	m, err := model.Load(f, model.Options{Layers: model.Range{First: 0, Last: cfg.Layers}, Client: true, Pool: testPool})
	if err != nil {
		return nil, err
	}
	return &kjvModel{model: m, tok: tok, client: generate.Client{Model: m, Tokenizer: tok}}, nil
})

func kjv(t testing.TB) *kjvModel {
	t.Helper()
	k, err := loadKJV()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const testModel = "kjv-tiny"

// localBackend runs the embedded model in this process, as the gateway
// does without peers.
func localBackend(t testing.TB) *ClientBackend {
	k := kjv(t)
	m := &Model{ID: testModel, Created: 1700000000, Tokenizer: k.tok, ContextLen: k.model.Config.ContextLen,
		Commitment: strings.Repeat("ab", 32)}
	return &ClientBackend{Model: m, Client: k.client,
		Layers: func(ctx context.Context, job Job) (generate.Layers, func(generate.Result, error) Meta, error) {
			l, err := generate.NewLocalLayers(k.model, len(job.Prompt)+job.Request.MaxTokens)
			if err != nil {
				return nil, nil, err
			}
			return l, func(generate.Result, error) Meta {
				return Meta{Hops: []Hop{{Peer: "local", Layers: "0:6", Local: true, Positions: uint64(l.Session.Len())}}}
			}, nil
		}}
}

// newTestServer starts a gateway over b on an httptest server.
func newTestServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

// post sends a JSON body and returns the response (body read) .
func post(t testing.TB, ts *httptest.Server, path, key string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func get(t testing.TB, ts *httptest.Server, path, key string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// sseEvent is one event as the official Python client's SSEDecoder
// produces it (openai/_streaming.py): the event name and the data lines
// joined by newlines.
type sseEvent struct {
	event string
	data  string
	id    string
}

// decodeSSE splits a stream into events exactly as that decoder does:
// lines end at \r\n, \n or \r; a blank line dispatches the event; lines
// starting with ':' are comments; "field: value" drops one leading space
// of value; data lines accumulate.
func decodeSSE(t testing.TB, body []byte) []sseEvent {
	t.Helper()
	var events []sseEvent
	var cur sseEvent
	var data []string
	sc := bufio.NewScanner(bytes.NewReader(bytes.ReplaceAll(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if cur.event == "" && data == nil && cur.id == "" {
				continue
			}
			cur.data = strings.Join(data, "\n")
			events = append(events, cur)
			cur, data = sseEvent{}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			cur.event = value
		case "data":
			data = append(data, value)
		case "id":
			cur.id = value
		}
	}
	if data != nil || cur.event != "" {
		t.Errorf("stream ends inside an event (no blank line after %q)", strings.Join(data, "\n"))
	}
	return events
}

// streamChunks decodes the events of a stream as the Python client's
// Stream does: it stops at [DONE], fails on an event carrying "error",
// and returns the JSON chunks.
func streamChunks(t testing.TB, body []byte) (chunks []map[string]any, done bool, apiErr map[string]any) {
	t.Helper()
	for _, ev := range decodeSSE(t, body) {
		if strings.HasPrefix(ev.data, "[DONE]") {
			return chunks, true, nil
		}
		if ev.event != "" {
			t.Errorf("event %q: the official clients expect unnamed events", ev.event)
		}
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(ev.data))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("event data %q is not a JSON object: %v", ev.data, err)
		}
		if e, ok := m["error"]; ok && e != nil {
			return chunks, false, e.(map[string]any)
		}
		chunks = append(chunks, m)
	}
	return chunks, false, nil
}

// The checks below mirror the models of the official clients
// (openai.types.chat.ChatCompletionChunk, openai.types.Completion, …):
// required fields present with the right JSON types, enums in range.

func wantString(t testing.TB, where string, m map[string]any, key string) string {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Errorf("%s: missing %q", where, key)
		return ""
	}
	s, ok := v.(string)
	if !ok {
		t.Errorf("%s: %q = %v (%T), want a string", where, key, v, v)
	}
	return s
}

func wantInt(t testing.TB, where string, m map[string]any, key string) int64 {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Errorf("%s: missing %q", where, key)
		return 0
	}
	n, ok := v.(json.Number)
	if !ok {
		t.Errorf("%s: %q = %v (%T), want an integer", where, key, v, v)
		return 0
	}
	i, err := n.Int64()
	if err != nil {
		t.Errorf("%s: %q = %v, want an integer", where, key, n)
	}
	return i
}

func wantNullOr(t testing.TB, where string, m map[string]any, key string, allowed ...string) any {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Errorf("%s: missing %q (it must be present, null or not)", where, key)
		return nil
	}
	if v == nil {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		t.Errorf("%s: %q = %v (%T), want null or a string", where, key, v, v)
		return nil
	}
	if len(allowed) > 0 {
		found := false
		for _, a := range allowed {
			found = found || a == s
		}
		if !found {
			t.Errorf("%s: %q = %q, want one of %v", where, key, s, allowed)
		}
	}
	return s
}

var finishReasons = []string{"stop", "length", "tool_calls", "content_filter", "function_call"}

func checkUsage(t testing.TB, where string, v any) (prompt, completion int64) {
	t.Helper()
	u, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: usage = %v (%T), want an object", where, v, v)
	}
	prompt = wantInt(t, where+".usage", u, "prompt_tokens")
	completion = wantInt(t, where+".usage", u, "completion_tokens")
	if total := wantInt(t, where+".usage", u, "total_tokens"); total != prompt+completion {
		t.Errorf("%s: total_tokens %d != %d + %d", where, total, prompt, completion)
	}
	return prompt, completion
}

// checkErrorBody checks OpenAI's error shape and returns type and code.
func checkErrorBody(t testing.TB, body []byte) (typ, code string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("error body %s has no error object", body)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("error %s has no message", body)
	}
	typ, _ = e["type"].(string)
	if typ == "" {
		t.Errorf("error %s has no type", body)
	}
	for _, k := range []string{"param", "code"} {
		v, present := e[k]
		if !present {
			t.Errorf("error %s lacks %q (null or a string)", body, k)
		}
		if _, isString := v.(string); v != nil && !isString {
			t.Errorf("error %s: %q is %T", body, k, v)
		}
	}
	code, _ = e["code"].(string)
	return typ, code
}
