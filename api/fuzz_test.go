package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/chat"
	"github.com/tessera-net/tessera/generate"
)

// FuzzParseKeys: any keys file either fails with an error or gives a
// table in which every key maps to a named account and every ledger key
// belongs to one of those accounts.
func FuzzParseKeys(f *testing.F) {
	for _, s := range []string{
		"sk-a alice\n", "# c\nsk-a alice a.key\nsk-b bob\n", `{"sk-a": "alice"}`,
		`{"sk-a": {"account": "alice", "ledger_key": "a.key"}, "sk-b": "bob"}`, `{"sk-a": {"account": ""}}`, "sk-a alice a.key b.key\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKeys(strings.NewReader(s))
		if err != nil {
			return
		}
		if k.Len() == 0 {
			t.Fatal("a keys file without keys was accepted")
		}
		accounts := map[string]bool{}
		for _, a := range k.Accounts() {
			if a == "" {
				t.Fatal("an empty account name")
			}
			accounts[a] = true
		}
		for a, file := range k.ledger {
			if !accounts[a] || file == "" {
				t.Fatalf("ledger key %q of account %q, accounts %v", file, a, accounts)
			}
		}
	})
}

// jobRecorder is a Backend that generates nothing: it records the job the
// handler validated and answers at once, so that fuzzing exercises the
// request decoding and validation alone.
type jobRecorder struct {
	model *Model
	jobs  chan Job
}

func (b *jobRecorder) Models() []*Model { return []*Model{b.model} }

func (b *jobRecorder) Generate(_ context.Context, job Job, emit func(string) error) (generate.Result, Meta, error) {
	b.jobs <- job
	if err := emit("x"); err != nil {
		return generate.Result{}, Meta{}, err
	}
	return generate.Result{Tokens: []int{1}, FinishReason: "length"}, Meta{}, nil
}

// fuzzServer is a gateway over a jobRecorder for the embedded model.
func fuzzServer(t testing.TB, b *jobRecorder) *Server {
	s, err := New(Config{Backend: b, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBodyBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newJobRecorder(t testing.TB) *jobRecorder {
	k := kjv(t)
	return &jobRecorder{jobs: make(chan Job, 1), model: &Model{ID: testModel, Tokenizer: k.tok, ContextLen: k.model.Config.ContextLen,
		Commitment: strings.Repeat("ab", 32)}}
}

// fuzzEndpoint posts body to path and checks the one property every
// request must have: the answer is either a 4xx in OpenAI's error shape,
// or a 200 for a job that respects the model's limits. Never a panic,
// never a 5xx for what a client sent.
func fuzzEndpoint(t *testing.T, s *Server, b *jobRecorder, path string, body []byte) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var job *Job
	select {
	case j := <-b.jobs:
		job = &j
	default:
	}
	if rec.Code != http.StatusOK {
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("status %d for a client's request %q: %s", rec.Code, body, rec.Body)
		}
		if job != nil {
			t.Fatalf("status %d, but the backend ran %+v", rec.Code, job)
		}
		var eb errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Message == "" || eb.Error.Type == "" {
			t.Fatalf("status %d with a body not in OpenAI's error shape (%v): %s", rec.Code, err, rec.Body)
		}
		return
	}
	if job == nil {
		t.Fatalf("200 without a generation: %s", rec.Body)
	}
	vocab := b.model.Tokenizer.VocabSize()
	switch {
	case len(job.Prompt) == 0 || len(job.Prompt) >= b.model.ContextLen:
		t.Fatalf("accepted a prompt of %d tokens (context %d)", len(job.Prompt), b.model.ContextLen)
	case job.Request.MaxTokens < 0 || len(job.Prompt)+job.Request.MaxTokens > b.model.ContextLen:
		t.Fatalf("accepted max tokens %d for a prompt of %d (context %d)", job.Request.MaxTokens, len(job.Prompt), b.model.ContextLen)
	}
	for _, id := range job.Prompt {
		if id < 0 || id >= vocab {
			t.Fatalf("accepted token id %d outside the vocabulary of %d", id, vocab)
		}
	}
	if p := job.Request.Sample; p.Temperature < 0 || p.Temperature > 2 || p.TopP < 0 || p.TopP > 1 {
		t.Fatalf("accepted sampling %+v", p)
	}
}

// FuzzChatRequest: any body sent to /v1/chat/completions is refused with
// a 4xx error in OpenAI's shape or becomes a generation within the
// model's context.
func FuzzChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"kjv-tiny","messages":[{"role":"user","content":"In the beginning"}]}`,
		`{"model":"kjv-tiny","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4,"temperature":0.7,"top_p":0.9,"seed":1,"stop":["\n"]}`,
		`{"model":"kjv-tiny","messages":[{"role":"developer","content":"x"},{"role":"assistant","content":null}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"kjv-tiny","messages":[{"role":"user","content":"x"}],"max_completion_tokens":-1}`,
		`{"model":"kjv-tiny","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}`,
		`{"model":"kjv-tiny","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"},"n":2}`,
		`{"model":"kjv-tiny","messages":[{"role":"robot","content":"x"}],"logit_bias":{"1":5},"top_k":40,"min_p":0.1,"repeat_penalty":1.1}`,
		`{"model":"other","messages":[]}`,
		`{"model":"kjv-tiny","messages":"hello"}`,
		`{"model":"kjv-tiny","messages":[{"role":"user","content":"x"}]} {}`,
		`{"temperature":1e400}`, `[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	b := newJobRecorder(f)
	// ChatML rather than the default plain template: its rendering is
	// tokenized with special-token parsing, the path of model templates.
	tmpl, err := chat.Builtin(chat.ChatML)
	if err != nil {
		f.Fatal(err)
	}
	b.model.Chat = tmpl
	s := fuzzServer(f, b)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzEndpoint(t, s, b, "/v1/chat/completions", body)
	})
}

// FuzzCompletionRequest: the same for /v1/completions, whose prompt may
// be text, texts, token ids or arrays of them.
func FuzzCompletionRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"kjv-tiny","prompt":"In the beginning","max_tokens":8}`,
		`{"model":"kjv-tiny","prompt":["a"],"echo":true,"stream":true,"stop":"\n","temperature":0}`,
		`{"model":"kjv-tiny","prompt":[1,2,3],"max_tokens":0}`,
		`{"model":"kjv-tiny","prompt":[[1,2],[3]]}`,
		`{"model":"kjv-tiny","prompt":[-1,99999999]}`,
		`{"model":"kjv-tiny","prompt":"x","suffix":"y","best_of":2,"logprobs":3}`,
		`{"model":"kjv-tiny","prompt":"x","max_tokens":100000000000}`,
		`{"model":"kjv-tiny","prompt":"x","top_p":1.5,"seed":-1,"presence_penalty":3}`,
		`{"model":"kjv-tiny","prompt":""}`,
		`{"model":"kjv-tiny","prompt":"x","stop":[1]}`,
		`{"model":"kjv-tiny","prompt":{"a":1}}`, `{"model":5}`, `"x"`, `{}`,
	} {
		f.Add([]byte(s))
	}
	b := newJobRecorder(f)
	s := fuzzServer(f, b)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzEndpoint(t, s, b, "/v1/completions", body)
	})
}
