package api

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tessera-net/tessera/chat"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/sample"
)

// Generation is the record of one generation, for the dashboard
// (Server.Recent).
type Generation struct {
	Time             time.Time `json:"time"`
	RequestID        string    `json:"request_id"`
	Endpoint         string    `json:"endpoint"` // "chat.completions" or "completions"
	Model            string    `json:"model"`
	Account          string    `json:"account"`
	Stream           bool      `json:"stream"`
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
	Millis           float64   `json:"ms"`
	TTFTMillis       float64   `json:"ttft_ms"`
	TokensPerSecond  float64   `json:"tokens_per_second"`
	FinishReason     string    `json:"finish_reason,omitempty"`
	Certificate      string    `json:"certificate"`
	Audit            Audit     `json:"audit"`
	Hops             []Hop     `json:"hops"`
	Error            string    `json:"error,omitempty"`
}

// Totals are the gateway's counters since it started.
type Totals struct {
	Started          time.Time `json:"started"`
	Requests         uint64    `json:"requests"`
	Generations      uint64    `json:"generations"`
	Failed           uint64    `json:"failed"`
	PromptTokens     uint64    `json:"prompt_tokens"`
	CompletionTokens uint64    `json:"completion_tokens"`
	InFlight         int       `json:"in_flight"`
	Queued           int64     `json:"queued"`
	Certificates     int       `json:"certificates"`
}

// Recent returns the most recent generations, newest first.
func (s *Server) Recent() []Generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.recent)
	out := make([]Generation, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, s.recent[(s.next-i+n)%n])
	}
	return out
}

// Totals returns the gateway's counters.
func (s *Server) Totals() Totals {
	s.mu.Lock()
	t := s.served
	t.Requests = s.requests
	s.mu.Unlock()
	t.Started = s.started
	t.InFlight = len(s.slots)
	t.Queued = s.waiting.Load()
	t.Certificates = s.certs.Len()
	return t
}

func (s *Server) record(g Generation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recent) < cap(s.recent) {
		s.recent = append(s.recent, g)
		s.next = len(s.recent) % cap(s.recent)
	} else {
		s.recent[s.next] = g
		s.next = (s.next + 1) % len(s.recent)
	}
	if g.Error != "" {
		s.served.Failed++
		return
	}
	s.served.Generations++
	s.rate.add(g.Time, g.Time.Add(time.Duration(g.Millis*float64(time.Millisecond))), g.CompletionTokens)
	s.served.PromptTokens += uint64(g.PromptTokens)
	s.served.CompletionTokens += uint64(g.CompletionTokens)
}

// acquire waits for a generation slot.
func (s *Server) acquire(ctx context.Context) (func(), *Error) {
	select {
	case s.slots <- struct{}{}:
	default:
		if s.waiting.Add(1) > int64(s.cfg.MaxQueued) {
			s.waiting.Add(-1)
			return nil, &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: CodeBusy,
				Message: fmt.Sprintf("The gateway is busy: %d generations are running and %d requests are waiting. Retry later.", s.cfg.MaxConcurrent, s.cfg.MaxQueued)}
		}
		s.m.queued.Inc()
		select {
		case s.slots <- struct{}{}:
			s.waiting.Add(-1)
			s.m.queued.Dec()
		case <-ctx.Done():
			s.waiting.Add(-1)
			s.m.queued.Dec()
			return nil, &Error{Status: 499, Type: TypeInvalidRequest, Code: "client_closed_request", Message: "The client went away while the request waited for a slot."}
		}
	}
	s.m.inFlight.Inc()
	return func() { <-s.slots; s.m.inFlight.Dec() }, nil
}

// samplingOf validates the shared sampling fields.
func samplingOf(f *samplingFields) (sample.Params, Sampling, *Error) {
	if f.N != nil && *f.N != 1 {
		return sample.Params{}, Sampling{}, invalid("n", CodeUnsupported, "n must be 1: this gateway generates one choice per request (got %d)", *f.N)
	}
	for _, c := range []struct {
		param  string
		v      *float64
		lo, hi float64
	}{
		{"temperature", f.Temperature, 0, 2},
		{"top_p", f.TopP, 0, 1},
		{"min_p", f.MinP, 0, 1},
		{"presence_penalty", f.PresencePenalty, -2, 2},
		{"frequency_penalty", f.FrequencyPenalty, -2, 2},
		{"repetition_penalty", f.RepetitionPenalty, 0, 10},
		{"repeat_penalty", f.RepeatPenalty, 0, 10},
	} {
		if e := checkFloat(c.param, c.v, c.lo, c.hi); e != nil {
			return sample.Params{}, Sampling{}, e
		}
	}
	for _, c := range []struct {
		param string
		v     *float64
	}{{"presence_penalty", f.PresencePenalty}, {"frequency_penalty", f.FrequencyPenalty}} {
		if c.v != nil && *c.v != 0 {
			return sample.Params{}, Sampling{}, invalid(c.param, CodeUnsupported, "%s is not supported; use repetition_penalty (1 = off)", c.param)
		}
	}
	if len(f.LogitBias) > 0 {
		return sample.Params{}, Sampling{}, invalid("logit_bias", CodeUnsupported, "logit_bias is not supported")
	}
	if f.TopK != nil && *f.TopK < 0 {
		return sample.Params{}, Sampling{}, invalid("top_k", CodeInvalidValue, "top_k must be >= 0 (0 = all tokens), got %d", *f.TopK)
	}
	p := sample.Params{Temperature: 1, TopP: 1, RepeatPenalty: 1}
	if f.Temperature != nil {
		p.Temperature = *f.Temperature
	}
	if f.TopP != nil {
		p.TopP = *f.TopP
		if p.TopP == 0 { // OpenAI's top_p 0 keeps only the most likely token
			p.TopP, p.TopK = 1, 1
		}
	}
	if f.TopK != nil && p.TopK == 0 {
		p.TopK = *f.TopK
	}
	if f.MinP != nil {
		p.MinP = *f.MinP
	}
	if f.RepeatPenalty != nil {
		p.RepeatPenalty = *f.RepeatPenalty
	}
	if f.RepetitionPenalty != nil {
		p.RepeatPenalty = *f.RepetitionPenalty
	}
	if f.Seed != nil {
		p.Seed = uint64(*f.Seed)
	} else {
		var b [8]byte
		_, _ = rand.Read(b[:])
		p.Seed = binary.LittleEndian.Uint64(b[:])
	}
	if err := p.Validate(); err != nil {
		return sample.Params{}, Sampling{}, invalid("", CodeInvalidValue, "%v", err)
	}
	return p, Sampling{Temperature: p.Temperature, TopP: p.TopP, TopK: p.TopK, MinP: p.MinP, RepetitionPenalty: p.RepeatPenalty, Seed: p.Seed}, nil
}

// maxTokens validates an optional token limit.
func maxTokens(param string, v *int, def int) (int, *Error) {
	if v == nil {
		return def, nil
	}
	if *v < 0 {
		return 0, invalid(param, CodeInvalidValue, "%s must be >= 0, got %d", param, *v)
	}
	return *v, nil
}

// job is a validated generation request.
type job struct {
	endpoint     string // "completions" or "chat.completions"
	model        *Model
	account      string
	prompt       []int
	promptText   string
	req          generate.Request
	sampling     Sampling
	stream       bool
	includeUsage bool
	echo         string // completions: text to put before the completion
	// maxTokensParam names the request's max_tokens field when it set one
	// ("" when req.MaxTokens is the default).
	maxTokensParam string
}

// DefaultCompletionTokens is max_tokens of /v1/completions when the
// request leaves it out, as in OpenAI's API.
const DefaultCompletionTokens = 16

func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request, account string) *Error {
	var req CompletionRequest
	if e := decodeBody(r, &req); e != nil {
		return e
	}
	infoOf(r).model = req.Model
	m, e := s.lookupModel(req.Model)
	if e != nil {
		return e
	}
	params, sampling, e := samplingOf(&req.samplingFields)
	if e != nil {
		return e
	}
	switch {
	case req.Suffix != nil && *req.Suffix != "":
		return invalid("suffix", CodeUnsupported, "suffix (insertion) is not supported")
	case req.BestOf != nil && *req.BestOf != 1:
		return invalid("best_of", CodeUnsupported, "best_of must be 1: this gateway generates one choice per request")
	case req.Logprobs != nil && *req.Logprobs > 0:
		return invalid("logprobs", CodeUnsupported, "logprobs are not supported")
	}
	stops, e := decodeStop(req.Stop)
	if e != nil {
		return e
	}
	n, e := maxTokens("max_tokens", req.MaxTokens, DefaultCompletionTokens)
	if e != nil {
		return e
	}
	in, e := decodePrompt(req.Prompt)
	if e != nil {
		return e
	}
	tok := m.Tokenizer
	var prompt []int
	echo := ""
	if in.isText {
		prompt = tok.Tokenize(in.text, true, false)
		echo = in.text
	} else {
		for i, id := range in.tokens {
			if id < 0 || id >= tok.VocabSize() {
				return invalid(fmt.Sprintf("prompt[%d]", i), CodeInvalidValue, "token id %d is outside the vocabulary of %d tokens", id, tok.VocabSize())
			}
		}
		prompt = in.tokens
		echo = tok.Decode(prompt)
	}
	promptText := in.text
	if !in.isText {
		promptText = echo
	}
	if !req.Echo {
		echo = ""
	}
	j := job{endpoint: "completions", model: m, account: account, prompt: prompt, promptText: promptText, sampling: sampling, echo: echo,
		req:    generate.Request{MaxTokens: n, Stop: stops, Sample: params},
		stream: req.Stream, includeUsage: req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
	if req.MaxTokens != nil {
		j.maxTokensParam = "max_tokens"
	}
	return s.run(w, r, j, "prompt")
}

var plainTemplate = sync.OnceValue(func() *chat.Template {
	t, err := chat.Builtin(chat.Plain)
	if err != nil {
		panic(err)
	}
	return t
})

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request, account string) *Error {
	var req ChatRequest
	if e := decodeBody(r, &req); e != nil {
		return e
	}
	infoOf(r).model = req.Model
	m, e := s.lookupModel(req.Model)
	if e != nil {
		return e
	}
	params, sampling, e := samplingOf(&req.samplingFields)
	if e != nil {
		return e
	}
	switch {
	case req.Logprobs != nil && *req.Logprobs:
		return invalid("logprobs", CodeUnsupported, "logprobs are not supported")
	case !rawIsNull(req.Tools) && string(req.Tools) != "[]":
		return invalid("tools", CodeUnsupported, "tools (function calling) are not supported")
	case !rawIsNull(req.Functions) && string(req.Functions) != "[]":
		return invalid("functions", CodeUnsupported, "functions (function calling) are not supported")
	case req.ResponseFormat != nil && req.ResponseFormat.Type != "" && req.ResponseFormat.Type != "text":
		return invalid("response_format", CodeUnsupported, "response_format %q is not supported; only \"text\"", req.ResponseFormat.Type)
	case len(req.Messages) == 0:
		return invalid("messages", CodeMissingParam, "messages must hold at least one message")
	}
	stops, e := decodeStop(req.Stop)
	if e != nil {
		return e
	}
	msgs := make([]chat.Message, len(req.Messages))
	for i, cm := range req.Messages {
		role := cm.Role
		switch role {
		case "system", "user", "assistant", "tool":
		case "developer":
			role = "system"
		case "":
			return invalid(fmt.Sprintf("messages[%d].role", i), CodeMissingParam, "messages[%d] has no role", i)
		default:
			return invalid(fmt.Sprintf("messages[%d].role", i), CodeInvalidValue,
				"messages[%d].role %q is not one of system, developer, user, assistant, tool", i, cm.Role)
		}
		content, e := decodeContent(i, cm.Content)
		if e != nil {
			return e
		}
		msgs[i] = chat.Message{Role: role, Content: content}
	}
	tmpl := m.Chat
	if tmpl == nil {
		tmpl = plainTemplate()
	}
	prompt, promptText, err := tmpl.Tokens(m.Tokenizer, msgs)
	if err != nil {
		return invalid("messages", CodeInvalidValue, "the model's chat template refused these messages: %v", err)
	}
	limit := req.MaxTokens
	param := "max_tokens"
	if req.MaxCompletionTokens != nil {
		limit, param = req.MaxCompletionTokens, "max_completion_tokens"
	}
	n, e := maxTokens(param, limit, max(0, m.ContextLen-len(prompt)))
	if e != nil {
		return e
	}
	j := job{endpoint: "chat.completions", model: m, account: account, prompt: prompt, promptText: promptText, sampling: sampling,
		req:    generate.Request{MaxTokens: n, Stop: stops, Sample: params},
		stream: req.Stream, includeUsage: req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
	if limit != nil {
		j.maxTokensParam = param
	}
	return s.run(w, r, j, "messages")
}

// run checks the prompt against the context, runs the generation on the
// backend and writes the answer (a JSON body or an event stream).
func (s *Server) run(w http.ResponseWriter, r *http.Request, j job, promptParam string) *Error {
	ri := infoOf(r)
	ri.promptTokens = len(j.prompt)
	switch {
	case len(j.prompt) == 0:
		return invalid(promptParam, CodeInvalidValue, "the prompt is empty")
	case j.model.ContextLen > 0 && len(j.prompt) >= j.model.ContextLen:
		return invalid(promptParam, CodeContextLength,
			"This model's maximum context length is %d tokens. However, your %s resulted in %d tokens, leaving no room for a completion.",
			j.model.ContextLen, promptParam, len(j.prompt))
	}
	if e := s.checkTokenLimits(&j, promptParam); e != nil {
		return e
	}
	if j.model.ContextLen > 0 {
		j.req.MaxTokens = min(j.req.MaxTokens, j.model.ContextLen-len(j.prompt))
	}
	release, e := s.acquire(r.Context())
	if e != nil {
		return e
	}
	defer release()

	chatAPI := j.endpoint == "chat.completions"
	idPrefix := "cmpl-"
	if chatAPI {
		idPrefix = "chatcmpl-"
	}
	start := s.cfg.Now()
	bj := Job{
		RequestID:     newID(idPrefix),
		CertificateID: newID("cert_"),
		Model:         j.model,
		Account:       j.account,
		Prompt:        j.prompt,
		PromptText:    j.promptText,
		Request:       j.req,
	}
	ri.certificate = bj.CertificateID
	cert := Certificate{
		ID: bj.CertificateID, Object: "certificate", Created: start.Unix(), Model: j.model.ID,
		ModelCommitment: j.model.Commitment, Account: j.account, RequestID: bj.RequestID,
		PromptSHA256: TextSHA256(j.promptText), PromptTokens: len(j.prompt), Sampling: j.sampling,
		Hops: []Hop{}, Audit: Audit{Status: AuditPending, Detail: "the generation is running"},
	}
	s.certs.Put(cert)
	w.Header().Set("X-Tessera-Certificate", bj.CertificateID)

	var fp *string
	if c := j.model.Commitment; len(c) >= 12 {
		f := "tessera-" + c[:12]
		fp = &f
	}
	st := &streamer{w: w, rc: http.NewResponseController(w), chat: chatAPI, id: bj.RequestID, created: start.Unix(),
		model: j.model.ID, fp: fp, cert: bj.CertificateID, includeUsage: j.includeUsage}
	var ttft time.Duration
	emit := func(text string) error {
		if ttft == 0 {
			ttft = s.cfg.Now().Sub(start)
		}
		if !j.stream {
			return nil
		}
		if err := st.begin(j.echo); err != nil {
			return err
		}
		return st.content(text)
	}
	res, meta, err := s.cfg.Backend.Generate(r.Context(), bj, emit)
	elapsed := s.cfg.Now().Sub(start)
	if ttft == 0 {
		ttft = elapsed
	}
	ri.completionTokens = len(res.Tokens)
	g := Generation{Time: start, RequestID: bj.RequestID, Endpoint: j.endpoint, Model: j.model.ID, Account: j.account,
		Stream: j.stream, PromptTokens: len(j.prompt), CompletionTokens: len(res.Tokens),
		Millis: ms(elapsed), TTFTMillis: ms(ttft), FinishReason: res.FinishReason, Certificate: bj.CertificateID, Hops: meta.Hops}
	if g.Hops == nil {
		g.Hops = []Hop{}
	}
	if elapsed > 0 {
		g.TokensPerSecond = float64(len(res.Tokens)) / elapsed.Seconds()
	}
	if err != nil {
		ae := asAPIError(err)
		ri.err = err
		g.Error = ae.Message
		g.Audit = NoAudit
		if !st.started {
			g.Certificate = "" // dropped below: the dashboard must not link to it
		}
		s.record(g)
		s.m.generations.WithLabelValues(j.model.ID, "error").Inc()
		if !st.started {
			// Nothing was sent: answer the error with its status, and
			// drop the certificate of a generation that did not happen.
			s.certs.Delete(bj.CertificateID)
			w.Header().Del("X-Tessera-Certificate")
			ri.certificate = ""
			return ae
		}
		s.certs.Update(bj.CertificateID, func(c *Certificate) {
			c.Hops, c.Audit, c.Error = g.Hops, NoAudit, ae.Message
			if meta.Audit != nil {
				// What was checked before the failure (a failed audit
				// may be why the generation stopped).
				c.Audit, c.Proof = *meta.Audit, meta.Proof
			}
			c.CompletionTokens, c.OutputSHA256 = len(res.Tokens), TextSHA256(res.Text)
		})
		s.m.errors.WithLabelValues(errCode(ae)).Inc()
		st.fail(ae)
		return nil
	}
	audit := NoAudit
	if meta.Audit != nil {
		audit = *meta.Audit
	}
	g.Audit = audit
	s.certs.Update(bj.CertificateID, func(c *Certificate) {
		c.Hops, c.Audit, c.Proof, c.Complete = g.Hops, audit, meta.Proof, true
		if meta.Settlement != nil && c.Settlement == nil { // a quick settlement may already be recorded
			c.Settlement = meta.Settlement
		}
		c.CompletionTokens, c.OutputSHA256, c.FinishReason = len(res.Tokens), TextSHA256(res.Text), res.FinishReason
	})
	s.record(g)
	s.m.ttft.Observe(ttft.Seconds())
	s.m.tokens.WithLabelValues(j.model.ID, "prompt").Add(float64(len(j.prompt)))
	s.m.tokens.WithLabelValues(j.model.ID, "completion").Add(float64(len(res.Tokens)))
	s.m.generations.WithLabelValues(j.model.ID, res.FinishReason).Inc()
	s.m.audits.WithLabelValues(audit.Status).Inc()

	usage := Usage{PromptTokens: len(j.prompt), CompletionTokens: len(res.Tokens), TotalTokens: len(j.prompt) + len(res.Tokens)}
	if j.stream {
		if err := st.begin(j.echo); err == nil {
			st.finish(res.FinishReason, usage)
		}
		return nil
	}
	finish := res.FinishReason
	if chatAPI {
		writeJSON(w, http.StatusOK, ChatCompletion{
			ID: bj.RequestID, Object: "chat.completion", Created: start.Unix(), Model: j.model.ID, SystemFingerprint: fp,
			Choices:       []ChatChoice{{Index: 0, Message: AssistantMessage{Role: "assistant", Content: res.Text}, FinishReason: finish}},
			Usage:         usage,
			CertificateID: bj.CertificateID,
		})
		return nil
	}
	writeJSON(w, http.StatusOK, Completion{
		ID: bj.RequestID, Object: "text_completion", Created: start.Unix(), Model: j.model.ID, SystemFingerprint: fp,
		Choices:       []CompletionChoice{{Text: j.echo + res.Text, Index: 0, FinishReason: &finish}},
		Usage:         &usage,
		CertificateID: bj.CertificateID,
	})
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// asAPIError turns a backend error into the answer's error.
func asAPIError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Status: 499, Type: TypeInvalidRequest, Code: "client_closed_request", Message: "The client went away during the generation."}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Status: http.StatusGatewayTimeout, Type: TypeServer, Code: "timeout", Message: "The generation timed out: " + err.Error()}
	}
	return &Error{Status: http.StatusInternalServerError, Type: TypeServer, Code: CodeInternal, Message: "The generation failed: " + err.Error()}
}

// streamer writes an answer as server-sent events:
//
//	data: {chunk}\n\n … data: [DONE]\n\n
//
// Headers are sent with the first chunk, so an error before any text is
// still answered with its own status.
type streamer struct {
	w            http.ResponseWriter
	rc           *http.ResponseController
	chat         bool
	id           string
	created      int64
	model        string
	fp           *string
	cert         string
	includeUsage bool
	started      bool
	err          error
}

// begin sends the headers and the opening chunk (the assistant role for
// chat, the echoed prompt for completions) once.
func (st *streamer) begin(echo string) error {
	if st.started {
		return st.err
	}
	st.started = true
	h := st.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	st.w.WriteHeader(http.StatusOK)
	if st.chat {
		empty := ""
		return st.send(st.chatChunk(ChatDelta{Role: "assistant", Content: &empty}, nil))
	}
	if echo != "" {
		return st.content(echo)
	}
	return st.flush()
}

func (st *streamer) chatChunk(delta ChatDelta, finish *string) ChatCompletionChunk {
	return ChatCompletionChunk{ID: st.id, Object: "chat.completion.chunk", Created: st.created, Model: st.model,
		SystemFingerprint: st.fp, CertificateID: st.cert,
		Choices: []ChatChunkChoice{{Index: 0, Delta: delta, FinishReason: finish}}}
}

func (st *streamer) textChunk(text string, finish *string) Completion {
	return Completion{ID: st.id, Object: "text_completion", Created: st.created, Model: st.model,
		SystemFingerprint: st.fp, CertificateID: st.cert,
		Choices: []CompletionChoice{{Text: text, Index: 0, FinishReason: finish}}}
}

func (st *streamer) content(text string) error {
	if text == "" {
		return nil
	}
	if st.chat {
		return st.send(st.chatChunk(ChatDelta{Content: &text}, nil))
	}
	return st.send(st.textChunk(text, nil))
}

// finish sends the chunk with the finish reason, the usage chunk when
// asked for, and [DONE].
func (st *streamer) finish(reason string, usage Usage) {
	if st.chat {
		_ = st.send(st.chatChunk(ChatDelta{}, &reason))
	} else {
		_ = st.send(st.textChunk("", &reason))
	}
	if st.includeUsage {
		if st.chat {
			c := st.chatChunk(ChatDelta{}, nil)
			c.Choices, c.Usage = []ChatChunkChoice{}, &usage
			_ = st.sendRaw(c)
		} else {
			c := st.textChunk("", nil)
			c.Choices, c.Usage = []CompletionChoice{}, &usage
			_ = st.sendRaw(c)
		}
	}
	_ = st.write("data: [DONE]\n\n")
}

// fail ends a stream that has begun with an error event, which the
// official clients raise as an APIError.
func (st *streamer) fail(e *Error) {
	_ = st.sendRaw(e.body())
}

// send writes a chunk; with include_usage, chunks other than the usage
// chunk carry "usage": null.
func (st *streamer) send(v any) error {
	if !st.includeUsage {
		return st.sendRaw(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// The chunk types drop a nil Usage (omitempty); put the null back.
	b = append(b[:len(b)-1], `,"usage":null}`...)
	return st.writeData(b)
}

func (st *streamer) sendRaw(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.writeData(b)
}

func (st *streamer) writeData(b []byte) error {
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	sb.WriteString("data: ")
	sb.Write(b)
	sb.WriteString("\n\n")
	return st.write(sb.String())
}

func (st *streamer) write(s string) error {
	if st.err != nil {
		return st.err
	}
	if _, err := st.w.Write([]byte(s)); err != nil {
		st.err = err
		return err
	}
	return st.flush()
}

func (st *streamer) flush() error {
	if err := st.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		st.err = err
		return err
	}
	return nil
}
