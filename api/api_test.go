package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-net/tessera/chat"
	"github.com/tessera-net/tessera/generate"
)

const prompt = "In the beginning God created"

// want is the greedy continuation of prompt run directly through
// generate.Client, the reference the gateway must reproduce.
func want(t testing.TB, text string, n int, stop ...string) generate.Result {
	t.Helper()
	k := kjv(t)
	l, err := generate.NewLocalLayers(k.model, k.model.Config.ContextLen)
	if err != nil {
		t.Fatal(err)
	}
	res, err := k.client.Run(context.Background(), l, generate.Request{Prompt: text, MaxTokens: n, Stop: stop}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestModels(t *testing.T) {
	_, ts := newTestServer(t, Config{Backend: localBackend(t)})
	resp, body := get(t, ts, "/v1/models", "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/models: %d %s", resp.StatusCode, body)
	}
	var list struct {
		Object string           `json:"object"`
		Data   []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if list.Object != "list" || len(list.Data) != 1 {
		t.Fatalf("models answer %s", body)
	}
	m := list.Data[0]
	if m["id"] != testModel || m["object"] != "model" || m["owned_by"] != "tessera" || m["created"] != float64(1700000000) ||
		m["context_length"] != float64(256) || m["chat_template"] != "plain" {
		t.Errorf("model entry %v", m)
	}
	resp, body = get(t, ts, "/v1/models/"+testModel, "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":"kjv-tiny"`) {
		t.Errorf("GET /v1/models/%s: %d %s", testModel, resp.StatusCode, body)
	}
	resp, body = get(t, ts, "/v1/models/gpt-4", "")
	if _, code := checkErrorBody(t, body); resp.StatusCode != 404 || code != CodeModelNotFound {
		t.Errorf("GET /v1/models/gpt-4: %d %s", resp.StatusCode, body)
	}
}

// A completion through the gateway is the text generate.Client produces
// for the same prompt, with usage, ids and a certificate.
func TestCompletionMatchesGenerate(t *testing.T) {
	s, ts := newTestServer(t, Config{Backend: localBackend(t)})
	ref := want(t, prompt, 12)
	resp, body := post(t, ts, "/v1/completions", "", map[string]any{"model": testModel, "prompt": prompt, "max_tokens": 12, "temperature": 0})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var c Completion
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ID, "cmpl-") || c.Object != "text_completion" || c.Model != testModel || c.Created == 0 {
		t.Errorf("completion header fields: %s", body)
	}
	if len(c.Choices) != 1 || c.Choices[0].Text != ref.Text || *c.Choices[0].FinishReason != ref.FinishReason {
		t.Fatalf("completion %s, want text %q finish %s", body, ref.Text, ref.FinishReason)
	}
	if c.Usage == nil || c.Usage.PromptTokens != len(ref.PromptTokens) || c.Usage.CompletionTokens != len(ref.Tokens) ||
		c.Usage.TotalTokens != len(ref.PromptTokens)+len(ref.Tokens) {
		t.Errorf("usage %+v, want %d + %d", c.Usage, len(ref.PromptTokens), len(ref.Tokens))
	}
	if !strings.Contains(string(body), `"logprobs":null`) {
		t.Errorf("choices lack \"logprobs\": null: %s", body)
	}
	cert := resp.Header.Get("X-Tessera-Certificate")
	if cert == "" || cert != c.CertificateID {
		t.Fatalf("certificate header %q, field %q", cert, c.CertificateID)
	}
	resp, body = get(t, ts, "/v1/certificates/"+cert, "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET certificate: %d %s", resp.StatusCode, body)
	}
	var got Certificate
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != cert || got.Object != "certificate" || !got.Complete || got.RequestID != c.ID || got.Model != testModel ||
		got.PromptSHA256 != TextSHA256(prompt) || got.OutputSHA256 != TextSHA256(ref.Text) ||
		got.PromptTokens != len(ref.PromptTokens) || got.CompletionTokens != len(ref.Tokens) || got.FinishReason != ref.FinishReason {
		t.Errorf("certificate %s", body)
	}
	if got.Audit.Status != AuditNone || got.Audit.Verified || !strings.Contains(got.Audit.Detail, "no audit") {
		t.Errorf("placeholder certificate must say plainly that nothing was audited: %+v", got.Audit)
	}
	if len(got.Hops) != 1 || got.Hops[0].Layers != "0:6" {
		t.Errorf("certificate hops %+v", got.Hops)
	}
	if got.Sampling.Temperature != 0 {
		t.Errorf("certificate sampling %+v", got.Sampling)
	}
	// The dashboard's record.
	rec := s.Recent()
	if len(rec) != 1 || rec[0].Certificate != cert || rec[0].CompletionTokens != len(ref.Tokens) || rec[0].Audit.Status != AuditNone {
		t.Errorf("recent generations %+v", rec)
	}
	if tot := s.Totals(); tot.Generations != 1 || tot.CompletionTokens != uint64(len(ref.Tokens)) || tot.Requests != 2 {
		t.Errorf("totals %+v", tot)
	}
	// echo puts the prompt before the completion; token prompts work.
	_, body = post(t, ts, "/v1/completions", "", map[string]any{"model": testModel, "prompt": prompt, "max_tokens": 12, "temperature": 0, "echo": true})
	if err := json.Unmarshal(body, &c); err != nil || c.Choices[0].Text != prompt+ref.Text {
		t.Errorf("echo: %s", body)
	}
	_, body = post(t, ts, "/v1/completions", "", map[string]any{"model": testModel, "prompt": [][]int{ref.PromptTokens}, "max_tokens": 12, "temperature": 0})
	if err := json.Unmarshal(body, &c); err != nil || c.Choices[0].Text != ref.Text {
		t.Errorf("token prompt: %s", body)
	}
}

// With the plain template (the embedded model has none), a chat of one
// user message completes that message as a prompt.
func TestChatMatchesGenerate(t *testing.T) {
	_, ts := newTestServer(t, Config{Backend: localBackend(t)})
	ref := want(t, prompt, 10)
	resp, body := post(t, ts, "/v1/chat/completions", "", map[string]any{
		"model": testModel, "max_completion_tokens": 10, "temperature": 0,
		"messages": []map[string]any{{"role": "user", "content": []map[string]string{{"type": "text", "text": prompt}}}},
	})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	where := "chat.completion"
	if !strings.HasPrefix(wantString(t, where, m, "id"), "chatcmpl-") || m["object"] != "chat.completion" || m["model"] != testModel {
		t.Errorf("chat completion %s", body)
	}
	choices := m["choices"].([]any)
	if len(choices) != 1 {
		t.Fatalf("choices %v", choices)
	}
	ch := choices[0].(map[string]any)
	msg := ch["message"].(map[string]any)
	if msg["role"] != "assistant" || msg["content"] != ref.Text || ch["finish_reason"] != ref.FinishReason || ch["index"] != float64(0) {
		t.Errorf("choice %v, want content %q", ch, ref.Text)
	}
	if _, ok := ch["logprobs"]; !ok {
		t.Error("choice lacks logprobs")
	}
	if m["certificate_id"] != resp.Header.Get("X-Tessera-Certificate") || m["certificate_id"] == "" {
		t.Errorf("certificate_id %v, header %q", m["certificate_id"], resp.Header.Get("X-Tessera-Certificate"))
	}
	u := m["usage"].(map[string]any)
	if u["prompt_tokens"] != float64(len(ref.PromptTokens)) || u["completion_tokens"] != float64(len(ref.Tokens)) {
		t.Errorf("usage %v", u)
	}
}

// The chat stream, decoded as the official Python client decodes it: a
// role chunk, content chunks, a chunk with the finish reason, the usage
// chunk (include_usage) and [DONE]; every chunk well formed.
func TestChatStream(t *testing.T) {
	_, ts := newTestServer(t, Config{Backend: localBackend(t)})
	ref := want(t, prompt, 10)
	resp, body := post(t, ts, "/v1/chat/completions", "", map[string]any{
		"model": testModel, "max_tokens": 10, "temperature": 0, "stream": true, "stream_options": map[string]any{"include_usage": true},
		"messages": []map[string]any{{"role": "user", "content": prompt}},
	})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type %q", ct)
	}
	cert := resp.Header.Get("X-Tessera-Certificate")
	if !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Errorf("stream does not end with data: [DONE]: %q", body)
	}
	chunks, done, apiErr := streamChunks(t, body)
	if !done || apiErr != nil {
		t.Fatalf("stream done %v, error %v", done, apiErr)
	}
	var text strings.Builder
	var id string
	finishes := 0
	for i, c := range chunks {
		where := fmt.Sprintf("chunk %d", i)
		cid := wantString(t, where, c, "id")
		if id == "" {
			id = cid
		} else if cid != id {
			t.Errorf("%s: id %q, first chunk %q", where, cid, id)
		}
		if wantString(t, where, c, "object") != "chat.completion.chunk" || wantString(t, where, c, "model") != testModel {
			t.Errorf("%s: %v", where, c)
		}
		wantInt(t, where, c, "created")
		wantNullOr(t, where, c, "system_fingerprint")
		if c["certificate_id"] != cert {
			t.Errorf("%s: certificate_id %v, header %q", where, c["certificate_id"], cert)
		}
		if _, ok := c["usage"]; !ok {
			t.Errorf("%s: with include_usage every chunk has a usage key", where)
		}
		choices, ok := c["choices"].([]any)
		if !ok {
			t.Fatalf("%s: choices %v", where, c["choices"])
		}
		if i == len(chunks)-1 {
			if len(choices) != 0 {
				t.Errorf("the usage chunk has choices %v", choices)
			}
			p, n := checkUsage(t, where, c["usage"])
			if p != int64(len(ref.PromptTokens)) || n != int64(len(ref.Tokens)) {
				t.Errorf("usage %d + %d, want %d + %d", p, n, len(ref.PromptTokens), len(ref.Tokens))
			}
			continue
		}
		if c["usage"] != nil {
			t.Errorf("%s: usage %v before the last chunk", where, c["usage"])
		}
		if len(choices) != 1 {
			t.Fatalf("%s: %d choices", where, len(choices))
		}
		ch := choices[0].(map[string]any)
		if wantInt(t, where, ch, "index") != 0 {
			t.Errorf("%s: index %v", where, ch["index"])
		}
		if v, ok := ch["logprobs"]; !ok || v != nil {
			t.Errorf("%s: logprobs %v (present %v), want null", where, v, ok)
		}
		delta, ok := ch["delta"].(map[string]any)
		if !ok {
			t.Fatalf("%s: delta %v", where, ch["delta"])
		}
		if i == 0 && (delta["role"] != "assistant" || delta["content"] != "") {
			t.Errorf("first chunk delta %v, want role assistant and empty content", delta)
		}
		if i > 0 && delta["role"] != nil {
			t.Errorf("%s: role repeated", where)
		}
		if s, ok := delta["content"].(string); ok {
			text.WriteString(s)
		}
		if fr := wantNullOr(t, where, ch, "finish_reason", finishReasons...); fr != nil {
			finishes++
			if fr != ref.FinishReason || len(delta) != 0 || i != len(chunks)-2 {
				t.Errorf("%s: finish %v with delta %v; want %s, an empty delta, in the chunk before usage", where, fr, delta, ref.FinishReason)
			}
		}
	}
	if finishes != 1 {
		t.Errorf("%d chunks with a finish reason, want 1", finishes)
	}
	if text.String() != ref.Text {
		t.Errorf("streamed text %q, want %q", text.String(), ref.Text)
	}
}

func TestCompletionStream(t *testing.T) {
	_, ts := newTestServer(t, Config{Backend: localBackend(t)})
	ref := want(t, prompt, 8)
	resp, body := post(t, ts, "/v1/completions", "", map[string]any{
		"model": testModel, "prompt": prompt, "max_tokens": 8, "temperature": 0, "stream": true, "echo": true,
	})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	chunks, done, apiErr := streamChunks(t, body)
	if !done || apiErr != nil || len(chunks) < 2 {
		t.Fatalf("stream done %v, error %v, %d chunks", done, apiErr, len(chunks))
	}
	var text strings.Builder
	for i, c := range chunks {
		where := fmt.Sprintf("chunk %d", i)
		if wantString(t, where, c, "object") != "text_completion" || !strings.HasPrefix(wantString(t, where, c, "id"), "cmpl-") {
			t.Errorf("%s: %v", where, c)
		}
		if _, ok := c["usage"]; ok {
			t.Errorf("%s: usage without include_usage", where)
		}
		ch := c["choices"].([]any)[0].(map[string]any)
		text.WriteString(wantString(t, where, ch, "text"))
		fr := wantNullOr(t, where, ch, "finish_reason", finishReasons...)
		if (fr != nil) != (i == len(chunks)-1) {
			t.Errorf("%s: finish_reason %v", where, fr)
		}
	}
	if text.String() != prompt+ref.Text {
		t.Errorf("streamed %q, want the echoed prompt and %q", text.String(), ref.Text)
	}
}

func TestStopSequences(t *testing.T) {
	_, ts := newTestServer(t, Config{Backend: localBackend(t)})
	for _, stop := range []any{"things", []string{"xyz", "things"}} {
		_, body := post(t, ts, "/v1/completions", "", map[string]any{"model": testModel, "prompt": prompt, "max_tokens": 20, "temperature": 0, "stop": stop})
		var c Completion
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatal(err)
		}
		if c.Choices[0].Text != " the world, and the " || *c.Choices[0].FinishReason != "stop" {
			t.Errorf("stop %v: %q finish %s", stop, c.Choices[0].Text, *c.Choices[0].FinishReason)
		}
	}
}

// The same seed gives the same sampled text; temperature and top_p reach
// the sampler.
func TestSeededSampling(t *testing.T) {
	_, ts := newTestServer(t, Config{Backend: localBackend(t)})
	run := func(seed int) string {
		_, body := post(t, ts, "/v1/completions", "", map[string]any{"model": testModel, "prompt": prompt, "max_tokens": 8, "temperature": 1.2, "top_p": 0.9, "seed": seed})
		var c Completion
		if err := json.Unmarshal(body, &c); err != nil || len(c.Choices) != 1 {
			t.Fatalf("%s", body)
		}
		return c.Choices[0].Text
	}
	a, b := run(7), run(7)
	if a != b {
		t.Errorf("seed 7 gave %q then %q", a, b)
	}
	differs := false
	for seed := 8; seed < 12 && !differs; seed++ {
		differs = run(seed) != a
	}
	if !differs {
		t.Error("five seeds gave the same sampled text")
	}
}

// failing is a backend whose Generate returns err after emitting emitted.
type failing struct {
	m       *Model
	emitted []string
	err     error
}

func (f *failing) Models() []*Model { return []*Model{f.m} }

func (f *failing) Generate(ctx context.Context, job Job, emit func(string) error) (generate.Result, Meta, error) {
	for _, s := range f.emitted {
		if err := emit(s); err != nil {
			return generate.Result{}, Meta{}, err
		}
	}
	return generate.Result{Tokens: make([]int, len(f.emitted))}, Meta{}, f.err
}

func TestErrorShapes(t *testing.T) {
	keys, err := NewKeys(map[string]string{"sk-good-key-123": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	lb := localBackend(t)
	_, ts := newTestServer(t, Config{Backend: lb, Keys: keys, MaxBodyBytes: 4096})
	chatBody := func(extra map[string]any) map[string]any {
		b := map[string]any{"model": testModel, "messages": []map[string]any{{"role": "user", "content": "Hi"}}, "max_tokens": 1}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	const key = "sk-good-key-123"
	cases := []struct {
		name         string
		path, key    string
		body         any
		status       int
		typ, code    string
		param        string
		messageHints string
	}{
		{"no key", "/v1/chat/completions", "", chatBody(nil), 401, TypeInvalidRequest, CodeInvalidAPIKey, "", "API key"},
		{"wrong key", "/v1/chat/completions", "sk-bad-key-456", chatBody(nil), 401, TypeInvalidRequest, CodeInvalidAPIKey, "", "sk-****-456"},
		{"unknown model", "/v1/chat/completions", key, chatBody(map[string]any{"model": "gpt-4o"}), 404, TypeInvalidRequest, CodeModelNotFound, "model", "gpt-4o"},
		{"no model", "/v1/completions", key, map[string]any{"prompt": "x"}, 400, TypeInvalidRequest, CodeMissingParam, "model", "model"},
		{"bad json", "/v1/chat/completions", key, `{"model": `, 400, TypeInvalidRequest, CodeInvalidJSON, "", "JSON"},
		{"wrong type", "/v1/chat/completions", key, `{"model": "kjv-tiny", "temperature": "hot", "messages": []}`, 400, TypeInvalidRequest, CodeInvalidValue, "temperature", "temperature"},
		{"n=2", "/v1/chat/completions", key, chatBody(map[string]any{"n": 2}), 400, TypeInvalidRequest, CodeUnsupported, "n", "n must be 1"},
		{"temperature", "/v1/chat/completions", key, chatBody(map[string]any{"temperature": 3}), 400, TypeInvalidRequest, CodeInvalidValue, "temperature", "between 0 and 2"},
		{"top_p", "/v1/completions", key, map[string]any{"model": testModel, "prompt": "x", "top_p": 1.5}, 400, TypeInvalidRequest, CodeInvalidValue, "top_p", "top_p"},
		{"negative max_tokens", "/v1/completions", key, map[string]any{"model": testModel, "prompt": "x", "max_tokens": -1}, 400, TypeInvalidRequest, CodeInvalidValue, "max_tokens", ">= 0"},
		{"stop type", "/v1/chat/completions", key, chatBody(map[string]any{"stop": 5}), 400, TypeInvalidRequest, CodeInvalidValue, "stop", "stop"},
		{"no messages", "/v1/chat/completions", key, chatBody(map[string]any{"messages": []any{}}), 400, TypeInvalidRequest, CodeMissingParam, "messages", "messages"},
		{"bad role", "/v1/chat/completions", key, chatBody(map[string]any{"messages": []map[string]any{{"role": "wizard", "content": "x"}}}), 400, TypeInvalidRequest, CodeInvalidValue, "messages[0].role", "wizard"},
		{"image", "/v1/chat/completions", key, chatBody(map[string]any{"messages": []map[string]any{{"role": "user", "content": []map[string]any{{"type": "image_url", "image_url": map[string]string{"url": "x"}}}}}}), 400, TypeInvalidRequest, CodeUnsupported, "messages[0].content[0]", "image_url"},
		{"tools", "/v1/chat/completions", key, chatBody(map[string]any{"tools": []map[string]any{{"type": "function"}}}), 400, TypeInvalidRequest, CodeUnsupported, "tools", "tools"},
		{"presence penalty", "/v1/chat/completions", key, chatBody(map[string]any{"presence_penalty": 0.5}), 400, TypeInvalidRequest, CodeUnsupported, "presence_penalty", "repetition_penalty"},
		{"no prompt", "/v1/completions", key, map[string]any{"model": testModel}, 400, TypeInvalidRequest, CodeMissingParam, "prompt", "prompt"},
		{"two prompts", "/v1/completions", key, map[string]any{"model": testModel, "prompt": []string{"a", "b"}}, 400, TypeInvalidRequest, CodeUnsupported, "prompt", "one prompt"},
		{"bad token", "/v1/completions", key, map[string]any{"model": testModel, "prompt": []int{1, 99999}}, 400, TypeInvalidRequest, CodeInvalidValue, "prompt[1]", "vocabulary"},
		{"context", "/v1/completions", key, map[string]any{"model": testModel, "prompt": strings.Repeat("And ", 300)}, 400, TypeInvalidRequest, CodeContextLength, "prompt", "maximum context length is 256"},
		{"too large", "/v1/completions", key, map[string]any{"model": testModel, "prompt": strings.Repeat("x", 5000)}, 413, TypeInvalidRequest, CodeTooLarge, "", "4096 bytes"},
		{"unknown path", "/v1/embeddings", key, map[string]any{"model": testModel}, 404, TypeInvalidRequest, CodeNotFound, "", "/v1/embeddings"},
		{"unknown certificate", "/v1/certificates/cert_nope", key, nil, 404, TypeInvalidRequest, CodeCertificateNotFound, "id", "cert_nope"},
		{"wrong method", "/v1/models", key, map[string]any{}, 405, TypeInvalidRequest, CodeMethodNotAllowed, "", "GET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var resp *http.Response
			var body []byte
			if c.body == nil {
				resp, body = get(t, ts, c.path, c.key)
			} else {
				resp, body = post(t, ts, c.path, c.key, c.body)
			}
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			typ, code := checkErrorBody(t, body)
			if typ != c.typ || code != c.code {
				t.Errorf("type %q code %q, want %q %q: %s", typ, code, c.typ, c.code, body)
			}
			var e errorBody
			_ = json.Unmarshal(body, &e)
			if p := e.Error.Param; (p == nil) != (c.param == "") || (p != nil && *p != c.param) {
				t.Errorf("param %v, want %q", p, c.param)
			}
			if !strings.Contains(e.Error.Message, c.messageHints) {
				t.Errorf("message %q does not mention %q", e.Error.Message, c.messageHints)
			}
			if resp.Header.Get("X-Tessera-Certificate") != "" {
				t.Error("an error answer carries a certificate")
			}
		})
	}
	// The right key gets in.
	resp, body := post(t, ts, "/v1/chat/completions", key, chatBody(nil))
	if resp.StatusCode != 200 {
		t.Fatalf("with the key: %d %s", resp.StatusCode, body)
	}
}

// Backend errors choose the answer: before any text as an error answer,
// after the stream began as an error event the official clients raise.
func TestBackendErrors(t *testing.T) {
	m := localBackend(t).Model
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"missing coverage", ErrMissingCoverage("no peer serves layers starting at 2 (uncovered range 2:6)"), 503, CodeMissingCoverage},
		{"wrapped coverage", fmt.Errorf("chain: %w", ErrMissingCoverage("layers 2:6 uncovered")), 503, CodeMissingCoverage},
		{"node failed", ErrNodeFailed("hop 1 (peer …x, layers 2:4): connection reset"), 502, CodeNodeFailed},
		{"credits", ErrInsufficientCredits("account alice has 3 credits, the generation needs 40"), 429, CodeInsufficientQuota},
		{"ledger down", ErrLedgerUnavailable("the ledger at http://… did not answer"), 503, CodeLedgerUnavailable},
		{"other", errors.New("disk on fire"), 500, CodeInternal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, ts := newTestServer(t, Config{Backend: &failing{m: m, err: c.err}})
			for _, stream := range []bool{false, true} {
				resp, body := post(t, ts, "/v1/chat/completions", "", map[string]any{"model": testModel, "stream": stream, "messages": []map[string]any{{"role": "user", "content": "Hi"}}})
				if resp.StatusCode != c.status {
					t.Fatalf("stream %v: status %d, want %d: %s", stream, resp.StatusCode, c.status, body)
				}
				if _, code := checkErrorBody(t, body); code != c.code {
					t.Errorf("stream %v: code %q, want %q", stream, code, c.code)
				}
				// The official clients must not retry what cannot succeed.
				if noRetry := resp.Header.Get("X-Should-Retry") == "false"; noRetry != (c.code == CodeInsufficientQuota) {
					t.Errorf("stream %v: X-Should-Retry %q", stream, resp.Header.Get("X-Should-Retry"))
				}
			}
			if n := s.Certificates().Len(); n != 0 {
				t.Errorf("%d certificates kept for generations that failed before any text", n)
			}
		})
	}
	// Mid-stream failure.
	s, ts := newTestServer(t, Config{Backend: &failing{m: m, emitted: []string{" the", " world"}, err: ErrNodeFailed("hop 2 went away")}})
	resp, body := post(t, ts, "/v1/chat/completions", "", map[string]any{"model": testModel, "stream": true, "messages": []map[string]any{{"role": "user", "content": "Hi"}}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	chunks, done, apiErr := streamChunks(t, body)
	if done || apiErr == nil || len(chunks) != 3 {
		t.Fatalf("mid-stream failure: %d chunks, done %v, error %v:\n%s", len(chunks), done, apiErr, body)
	}
	if apiErr["code"] != CodeNodeFailed || !strings.Contains(apiErr["message"].(string), "hop 2") {
		t.Errorf("error event %v", apiErr)
	}
	c, ok := s.Certificates().Get(resp.Header.Get("X-Tessera-Certificate"))
	if !ok || c.Complete || !strings.Contains(c.Error, "hop 2") || c.CompletionTokens != 2 {
		t.Errorf("certificate of the failed stream: %+v (found %v)", c, ok)
	}
	if rec := s.Recent(); len(rec) != 1 || rec[0].Error == "" {
		t.Errorf("recent %+v", rec)
	}
}

// blocking is a backend whose generations wait for release.
type blocking struct {
	m       *Model
	release chan struct{}
	running chan struct{}
}

func (b *blocking) Models() []*Model { return []*Model{b.m} }

func (b *blocking) Generate(ctx context.Context, job Job, emit func(string) error) (generate.Result, Meta, error) {
	b.running <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return generate.Result{}, Meta{}, ctx.Err()
	}
	if err := emit("ok"); err != nil {
		return generate.Result{}, Meta{}, err
	}
	return generate.Result{Tokens: []int{5}, Text: "ok", FinishReason: "stop"}, Meta{}, nil
}

// Requests are served concurrently up to MaxConcurrent, then queue up to
// MaxQueued, then are answered 429.
func TestConcurrencyLimits(t *testing.T) {
	b := &blocking{m: localBackend(t).Model, release: make(chan struct{}), running: make(chan struct{}, 10)}
	s, ts := newTestServer(t, Config{Backend: b, MaxConcurrent: 2, MaxQueued: 1})
	body := map[string]any{"model": testModel, "prompt": "x", "max_tokens": 1}
	type answer struct {
		status int
		body   string
	}
	answers := make(chan answer, 3)
	for range 3 {
		go func() {
			resp, data := post(t, ts, "/v1/completions", "", body)
			answers <- answer{resp.StatusCode, string(data)}
		}()
	}
	<-b.running
	<-b.running // two run at once
	deadline := time.Now().Add(5 * time.Second)
	for s.Totals().Queued != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if tot := s.Totals(); tot.InFlight != 2 || tot.Queued != 1 {
		t.Fatalf("totals %+v, want 2 in flight and 1 queued", tot)
	}
	resp, data := post(t, ts, "/v1/completions", "", body)
	if _, code := checkErrorBody(t, data); resp.StatusCode != 429 || code != CodeBusy {
		t.Errorf("a fourth request: %d %s", resp.StatusCode, data)
	}
	close(b.release)
	for range 3 {
		a := <-answers
		if a.status != 200 || !strings.Contains(a.body, `"text":"ok"`) {
			t.Errorf("answer %d %s", a.status, a.body)
		}
	}
}

// Concurrent generations on the real model all get their own correct
// text (run with -race).
func TestConcurrentGenerations(t *testing.T) {
	_, ts := newTestServer(t, Config{Backend: localBackend(t), MaxConcurrent: 3})
	prompts := []string{prompt, "And Jesus said unto them", "The LORD is my shepherd"}
	refs := make([]string, len(prompts))
	for i, p := range prompts {
		refs[i] = want(t, p, 6).Text
	}
	var wg sync.WaitGroup
	for round := range 2 {
		for i, p := range prompts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, body := post(t, ts, "/v1/chat/completions", "", map[string]any{"model": testModel, "max_tokens": 6, "temperature": 0,
					"stream": round == 1, "messages": []map[string]any{{"role": "user", "content": p}}})
				if resp.StatusCode != 200 {
					t.Errorf("%d %s", resp.StatusCode, body)
					return
				}
				var text string
				if round == 1 {
					chunks, _, _ := streamChunks(t, body)
					for _, c := range chunks {
						for _, ch := range c["choices"].([]any) {
							if s, ok := ch.(map[string]any)["delta"].(map[string]any)["content"].(string); ok {
								text += s
							}
						}
					}
				} else {
					var c ChatCompletion
					_ = json.Unmarshal(body, &c)
					text = c.Choices[0].Message.Content
				}
				if text != refs[i] {
					t.Errorf("prompt %q: %q, want %q", p, text, refs[i])
				}
			}()
		}
	}
	wg.Wait()
}

func TestMetrics(t *testing.T) {
	_, ts := newTestServer(t, Config{Backend: localBackend(t)})
	post(t, ts, "/v1/completions", "", map[string]any{"model": testModel, "prompt": prompt, "max_tokens": 3, "temperature": 0})
	post(t, ts, "/v1/completions", "", map[string]any{"model": "nope", "prompt": prompt})
	resp, body := get(t, ts, "/metrics", "")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	text := string(body)
	for _, w := range []string{
		`tessera_gateway_tokens_total{kind="completion",model="kjv-tiny"} 3`,
		`tessera_gateway_requests_total{code="200",endpoint="completions"} 1`,
		`tessera_gateway_requests_total{code="404",endpoint="completions"} 1`,
		`tessera_gateway_errors_total{code="model_not_found"} 1`,
		`tessera_gateway_audits_total{result="none"} 1`,
		`tessera_gateway_request_duration_seconds_bucket{endpoint="completions"`,
		`tessera_gateway_time_to_first_token_seconds_count 1`,
		`tessera_gateway_certificates_stored 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}

func TestKeysFile(t *testing.T) {
	k, err := ParseKeys(strings.NewReader("# operators\nsk-aaaa-1111 alice\n\n  sk-bbbb-2222   bob  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := k.Account("sk-bbbb-2222"); !ok || a != "bob" || k.Len() != 2 {
		t.Errorf("account %q %v, %d keys", a, ok, k.Len())
	}
	if _, ok := k.Account("sk-cccc"); ok {
		t.Error("an unknown key was accepted")
	}
	k, err = ParseKeys(strings.NewReader(`{"sk-json-1": "carol"}`))
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := k.Account("sk-json-1"); a != "carol" {
		t.Errorf("JSON keys file: %q", a)
	}
	for _, bad := range []string{"", "sk-x\n", "sk-x alice a.key extra\n", "sk-x alice\nsk-x bob\n", `{"": "x"}`,
		"sk-x alice a.key\nsk-y alice b.key\n", `{"sk-x": {"account": "a", "ledger": "typo.key"}}`, `{"sk-x": {"ledger_key": "a.key"}}`, `{"sk-x": 7}`} {
		if _, err := ParseKeys(strings.NewReader(bad)); err == nil {
			t.Errorf("keys file %q accepted", bad)
		}
	}
}

// A keys file names each account's ledger key file; relative files are
// relative to the keys file.
func TestKeysFileLedgerKeys(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"keys.txt":  "sk-aaaa-1 alice alice.key\nsk-aaaa-2 alice alice.key\nsk-bbbb-1 bob /abs/bob.key\nsk-cccc-1 carol\n",
		"keys.json": `{"sk-aaaa-1": {"account": "alice", "ledger_key": "alice.key"}, "sk-bbbb-1": {"account": "bob", "ledger_key": "/abs/bob.key"}, "sk-cccc-1": "carol"}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := LoadKeysFile(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f, ok := k.LedgerKey("alice"); !ok || f != filepath.Join(dir, "alice.key") {
			t.Errorf("%s: alice's ledger key %q %v", name, f, ok)
		}
		if f, _ := k.LedgerKey("bob"); f != "/abs/bob.key" {
			t.Errorf("%s: bob's ledger key %q", name, f)
		}
		if _, ok := k.LedgerKey("carol"); ok {
			t.Errorf("%s: carol has a ledger key", name)
		}
		if a := k.Accounts(); !slices.Equal(a, []string{"alice", "bob", "carol"}) {
			t.Errorf("%s: accounts %v", name, a)
		}
	}
}

func TestCertStoreEvicts(t *testing.T) {
	s := NewCertStore(3)
	for i := range 5 {
		s.Put(Certificate{ID: fmt.Sprint(i)})
		if i == 2 {
			s.Get("0") // reading keeps a certificate
		}
	}
	for id, want := range map[string]bool{"0": true, "1": false, "2": false, "3": true, "4": true} {
		if _, ok := s.Get(id); ok != want {
			t.Errorf("certificate %s held %v, want %v", id, ok, want)
		}
	}
	if !s.Update("3", func(c *Certificate) { c.Audit = NoAudit }) || s.Update("9", func(*Certificate) {}) {
		t.Error("Update found the wrong certificates")
	}
	if c, _ := s.Get("3"); c.Audit.Status != AuditNone {
		t.Errorf("update lost: %+v", c)
	}
}

func TestThroughputSeries(t *testing.T) {
	var r rateRing
	t0 := time.Unix(1000, 500e6)
	r.add(t0, t0.Add(2*time.Second), 40) // 1000.5 .. 1002.5: 10, 20, 10
	r.add(time.Unix(1002, 0), time.Unix(1002, 0), 5)
	got := r.series(time.Unix(1003, 0))
	if len(got) != rateWindow {
		t.Fatalf("%d values", len(got))
	}
	if tail := got[rateWindow-3:]; tail[0] != 10 || tail[1] != 20 || tail[2] != 15 {
		t.Errorf("last three seconds %v, want [10 20 15]", tail)
	}
	// Two minutes later the old counts are gone.
	for _, v := range r.series(time.Unix(1200, 0)) {
		if v != 0 {
			t.Fatalf("stale counts in %v", r.series(time.Unix(1200, 0)))
		}
	}
}

// capturing is a backend that reports each job and waits for release.
type capturing struct {
	m       *Model
	jobs    chan Job
	release chan struct{}
	audit   *Audit
}

func (c *capturing) Models() []*Model { return []*Model{c.m} }

func (c *capturing) Generate(ctx context.Context, job Job, emit func(string) error) (generate.Result, Meta, error) {
	c.jobs <- job
	<-c.release
	if err := emit(" and the earth"); err != nil {
		return generate.Result{}, Meta{}, err
	}
	return generate.Result{Tokens: []int{1, 2, 3}, Text: " and the earth", FinishReason: "stop"},
		Meta{Hops: []Hop{{Peer: "p", Layers: "0:6"}}, Audit: c.audit}, nil
}

// A certificate exists (pending) while its generation runs, is completed
// with the answer, and takes an audit outcome that arrives later.
func TestCertificateLifecycle(t *testing.T) {
	b := &capturing{m: localBackend(t).Model, jobs: make(chan Job, 1), release: make(chan struct{}),
		audit: &Audit{Status: AuditPending, Detail: "auditing"}}
	s, ts := newTestServer(t, Config{Backend: b})
	done := make(chan []byte, 1)
	go func() {
		_, body := post(t, ts, "/v1/completions", "", map[string]any{"model": testModel, "prompt": prompt, "max_tokens": 3})
		done <- body
	}()
	job := <-b.jobs
	if job.PromptText != prompt || job.Account != Anonymous || job.Request.MaxTokens != 3 || len(job.Prompt) == 0 {
		t.Errorf("job %+v", job)
	}
	_, body := get(t, ts, "/v1/certificates/"+job.CertificateID, "")
	var c Certificate
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if c.Complete || c.Audit.Status != AuditPending || c.PromptSHA256 != TextSHA256(prompt) {
		t.Errorf("certificate while running: %s", body)
	}
	close(b.release)
	<-done
	c, _ = s.Certificates().Get(job.CertificateID)
	if !c.Complete || c.Audit.Status != AuditPending || c.OutputSHA256 != TextSHA256(" and the earth") || c.CompletionTokens != 3 {
		t.Errorf("certificate after the answer: %+v", c)
	}
	if !s.UpdateAudit(job.CertificateID, Audit{Status: AuditPassed, Verified: true, Detail: "12 cells checked"}, json.RawMessage(`{"sig":"00"}`)) {
		t.Fatal("UpdateAudit lost the certificate")
	}
	if s.UpdateAudit("cert_gone", Audit{Status: AuditFailed}, nil) {
		t.Error("UpdateAudit found a certificate that does not exist")
	}
	_, body = get(t, ts, "/v1/certificates/"+job.CertificateID, "")
	if !strings.Contains(string(body), `"status":"passed","verified":true`) || !strings.Contains(string(body), `"proof":{"sig":"00"}`) {
		t.Errorf("certificate after the audit: %s", body)
	}
	_, metrics := get(t, ts, "/metrics", "")
	if !strings.Contains(string(metrics), `tessera_gateway_audits_total{result="passed"} 1`) {
		t.Error("the audit outcome is not counted")
	}
}

// A model's chat template shapes the prompt the backend gets.
func TestChatTemplateApplied(t *testing.T) {
	m := *localBackend(t).Model
	k := kjv(t)
	tmpl, err := chat.New("test", "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}",
		k.tok.TokenText(k.tok.BOS()), k.tok.TokenText(k.tok.EOS()))
	if err != nil {
		t.Fatal(err)
	}
	m.Chat = tmpl
	b := &capturing{m: &m, jobs: make(chan Job, 1), release: make(chan struct{})}
	close(b.release)
	_, ts := newTestServer(t, Config{Backend: b})
	resp, body := post(t, ts, "/v1/chat/completions", "", map[string]any{"model": testModel,
		"messages": []map[string]string{{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Who made the world?"}}})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	job := <-b.jobs
	wantText := "<s>system: Be brief.\nuser: Who made the world?\nassistant:"
	if job.PromptText != wantText {
		t.Errorf("rendered prompt %q, want %q", job.PromptText, wantText)
	}
	if want := append([]int{k.tok.BOS()}, k.tok.Encode("system: Be brief.\nuser: Who made the world?\nassistant:")...); !slices.Equal(job.Prompt, want) {
		t.Errorf("prompt tokens %v, want %v (one BOS, the template's)", job.Prompt, want)
	}
	if job.Request.MaxTokens != m.ContextLen-len(job.Prompt) {
		t.Errorf("default max tokens %d, want the rest of the context (%d)", job.Request.MaxTokens, m.ContextLen-len(job.Prompt))
	}
	_, body = get(t, ts, "/v1/models", "")
	if !strings.Contains(string(body), `"chat_template":"test"`) {
		t.Errorf("models list: %s", body)
	}
}

// The store evicts the least recent certificates when their proofs take
// more than its byte budget, and keeps the newest one whatever its size.
func TestCertStoreByteBudget(t *testing.T) {
	s := NewCertStore(100)
	s.SetMaxBytes(100)
	proof := func(n int) json.RawMessage { return json.RawMessage(`"` + strings.Repeat("x", n-2) + `"`) }
	s.Put(Certificate{ID: "a", Proof: proof(40)})
	s.Put(Certificate{ID: "b", Proof: proof(40)})
	s.Put(Certificate{ID: "c"})
	if s.Len() != 3 {
		t.Fatalf("%d held", s.Len())
	}
	// Growing b's proof to 70 bytes makes 110: a goes.
	s.Update("b", func(c *Certificate) { c.Proof = proof(70) })
	if _, ok := s.Peek("a"); ok || s.Len() != 2 {
		t.Errorf("a kept, %d held", s.Len())
	}
	s.Put(Certificate{ID: "d", Proof: proof(500)})
	if _, ok := s.Peek("d"); !ok || s.Len() != 1 {
		t.Errorf("an oversized newest certificate: held %v, %d in all", ok, s.Len())
	}
	s.Delete("d")
	s.Put(Certificate{ID: "e", Proof: proof(90)})
	s.Put(Certificate{ID: "f", Proof: proof(10)})
	if s.Len() != 2 {
		t.Errorf("after delete, %d held, want e and f", s.Len())
	}
}
