// Package api is Tessera's OpenAI-compatible gateway: an http.Handler that
// answers GET /v1/models, POST /v1/completions and POST
// /v1/chat/completions (streamed as server-sent events in the shape the
// official clients parse), GET /v1/certificates/{id}, GET /healthz and
// GET /metrics (Prometheus), over a Backend that runs generations — a
// chain of swarm nodes or a model in this process.
//
// The gateway owns everything between HTTP and tokens: API keys, request
// validation and OpenAI-shaped errors, chat templates, tokenization and
// usage counts, concurrency limits, certificates (kept in a bounded
// in-memory store) and metrics. The backend sees token ids and sampling
// parameters and streams text back.
//
// Every generation gets a certificate id, sent as the X-Tessera-Certificate
// header and the certificate_id field of the answer (and of every stream
// chunk). The certificate records what ran where, the audit's outcome and
// the auditor's signed proof certificate (Meta), and how the generation
// was paid on the ledger (UpdateSettlement).
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tessera-net/tessera/chat"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/tokenizer"
)

// Model is a model the gateway serves.
type Model struct {
	// ID is the name clients pass as "model".
	ID      string
	Created int64 // unix seconds, shown by /v1/models
	OwnedBy string
	// Tokenizer tokenizes prompts and counts usage.
	Tokenizer *tokenizer.Tokenizer
	// Chat renders chat conversations; nil means chat.Plain.
	Chat *chat.Template
	// ContextLen is the positions a generation may use, prompt included.
	ContextLen int
	// Commitment is the model commitment (hex), recorded in certificates.
	Commitment string
}

// Job is one generation asked of a Backend.
type Job struct {
	RequestID     string // the answer's id: "cmpl-…" or "chatcmpl-…"
	CertificateID string // the id the generation's certificate is stored under
	Model         *Model
	Account       string // the API key's account (Anonymous without keys)
	// Prompt is the tokenized prompt, BOS included when the model wants
	// it; the backend passes it to generate.Client.RunTokens.
	Prompt []int
	// PromptText is the text Prompt was tokenized from: the prompt, or
	// for chat the rendered template (for a prompt of token ids, their
	// decoding). The certificate hashes it.
	PromptText string
	// Request holds MaxTokens, Stop and Sample (its Prompt is empty).
	Request generate.Request
}

// Meta is what a backend reports about how a generation ran.
type Meta struct {
	// Hops are what each hop of the chain computed, in chain order.
	Hops []Hop
	// Audit is the verification outcome; nil means NoAudit.
	Audit *Audit
	// Proof is the auditor's signed proof certificate (any JSON).
	Proof json.RawMessage
	// Settlement is how the generation is paid, when it is (typically
	// SettlementPending, then UpdateSettlement).
	Settlement *Settlement
}

// Backend runs generations. Generate is called from many goroutines at
// once (at most Config.MaxConcurrent); a backend whose model cannot run
// concurrently serialises internally. It calls emit with each piece of
// generated text as soon as it is final (generate.Client.RunTokens does
// exactly this) and returns emit's error if emit fails (the client went
// away). Errors of type *Error choose the answer's status and code (see
// ErrMissingCoverage, ErrNodeFailed, ErrInsufficientCredits).
type Backend interface {
	Models() []*Model
	Generate(ctx context.Context, job Job, emit func(text string) error) (generate.Result, Meta, error)
}

// Config configures a Server.
type Config struct {
	Backend Backend
	// Keys authenticates /v1/ requests; nil lets every request in as
	// account Anonymous.
	Keys *Keys
	// Logger receives one line per request (nil: slog.Default()).
	Logger *slog.Logger
	// Registry receives the gateway's metrics and is served at /metrics
	// (nil: NewRegistry()). One registry serves one Server.
	Registry *prometheus.Registry
	// MaxBodyBytes bounds a request body (0: 1 MiB).
	MaxBodyBytes int64
	// MaxConcurrent bounds the generations running at once (0: 4); further
	// requests wait for a slot.
	MaxConcurrent int
	// MaxQueued bounds the requests waiting for a slot (0: 64); beyond it
	// requests are answered 429 server_busy.
	MaxQueued int
	// RequestsPerMinute limits each account's generation requests (0: no
	// limit), MaxConcurrentPerKey the generations it runs at once (0: no
	// bound); beyond them requests are answered 429 rate_limit_exceeded
	// with Retry-After. Without Keys they apply to each client address.
	RequestsPerMinute   int
	MaxConcurrentPerKey int
	// MaxPromptTokens bounds a prompt's tokens and MaxCompletionTokens a
	// request's max_tokens (0: only the model's context bounds them);
	// beyond them requests are answered 400.
	MaxPromptTokens     int
	MaxCompletionTokens int
	// Certificates is the number of certificates kept (0:
	// DefaultCertificates); CertificateBytes bounds the bytes of their
	// proofs (0: DefaultCertificateBytes).
	Certificates     int
	CertificateBytes int64
	// RecentGenerations is the number of generations Recent reports (0: 50).
	RecentGenerations int
	// Now is the clock (nil: time.Now); tests fix it.
	Now func() time.Time
}

// Server is the gateway's HTTP handler. Create it with New.
type Server struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	m       *metrics
	certs   *CertStore
	mux     *http.ServeMux
	slots   chan struct{}
	waiting atomic.Int64
	keys    *keyLimits // nil without per-key limits
	started time.Time

	mu       sync.Mutex
	recent   []Generation // ring, newest at recent[(next-1) % len]
	next     int
	requests uint64
	served   Totals
	rate     rateRing
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("api: no backend")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = NewRegistry()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 4
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 64
	}
	if cfg.Certificates <= 0 {
		cfg.Certificates = DefaultCertificates
	}
	if cfg.RecentGenerations <= 0 {
		cfg.RecentGenerations = 50
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		reg:     cfg.Registry,
		certs:   NewCertStore(cfg.Certificates),
		slots:   make(chan struct{}, cfg.MaxConcurrent),
		started: cfg.Now(),
	}
	if cfg.CertificateBytes > 0 {
		s.certs.SetMaxBytes(cfg.CertificateBytes)
	}
	s.keys = newKeyLimits(cfg)
	s.m = newMetrics(cfg.Registry, s.certs)
	s.recent = make([]Generation, 0, cfg.RecentGenerations)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/models", s.v1("models", http.MethodGet, s.handleModels))
	mux.HandleFunc("/v1/models/{model...}", s.v1("models", http.MethodGet, s.handleModel))
	mux.HandleFunc("/v1/completions", s.v1("completions", http.MethodPost, s.handleCompletions))
	mux.HandleFunc("/v1/chat/completions", s.v1("chat_completions", http.MethodPost, s.handleChat))
	mux.HandleFunc("/v1/certificates/{id}", s.v1("certificates", http.MethodGet, s.handleCertificate))
	mux.HandleFunc("/v1/", s.v1("unknown", "", func(w http.ResponseWriter, r *http.Request, _ string) *Error {
		return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: CodeNotFound, Message: "Unknown request URL: " + r.Method + " " + r.URL.Path + "."}
	}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	s.mux = mux
	return s, nil
}

// ServeHTTP serves /v1/…, /metrics and /healthz; other paths are 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Registry returns the registry served at /metrics, for more series.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Certificates returns the certificate store (for the dashboard).
func (s *Server) Certificates() *CertStore { return s.certs }

// UpdateAudit records the outcome of an audit that finished after the
// answer (a backend returns Meta.Audit with status AuditPending, then
// calls this): the certificate's audit and proof are replaced and the
// audit metric counts the outcome. It reports whether the certificate is
// still held.
func (s *Server) UpdateAudit(id string, a Audit, proof json.RawMessage) bool {
	ok := s.certs.Update(id, func(c *Certificate) {
		c.Audit = a
		if proof != nil {
			c.Proof = proof
		}
	})
	if ok {
		s.m.audits.WithLabelValues(a.Status).Inc()
	}
	return ok
}

// UpdateSettlement records how a generation was paid (a backend returns
// Meta.Settlement pending, then calls this once the ledger answered). It
// reports whether the certificate is still held.
func (s *Server) UpdateSettlement(id string, st Settlement) bool {
	return s.certs.Update(id, func(c *Certificate) { c.Settlement = &st })
}

// handler is an endpoint: it writes its answer and returns nil, or
// returns the error to answer (when it has not written anything yet).
type handler func(w http.ResponseWriter, r *http.Request, account string) *Error

// statusWriter records the status code for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.code, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestInfo is filled by endpoints for the request's log line.
type requestInfo struct {
	model            string
	promptTokens     int
	completionTokens int
	certificate      string
	err              error
}

type infoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	if ri, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// v1 wraps an endpoint with the method check, authentication, the body
// limit, logging and metrics.
func (s *Server) v1(endpoint, method string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		ri := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		reqID := newID("req_")
		sw.Header().Set("X-Request-Id", reqID)
		s.mu.Lock()
		s.requests++
		s.mu.Unlock()
		account, e := s.cfg.Keys.authenticate(r)
		if e == nil && method != "" && r.Method != method {
			sw.Header().Set("Allow", method)
			e = &Error{Status: http.StatusMethodNotAllowed, Type: TypeInvalidRequest, Code: CodeMethodNotAllowed,
				Message: "Method " + r.Method + " is not allowed for " + r.URL.Path + "; use " + method + "."}
		}
		if e == nil && generates(endpoint) {
			var release func()
			if release, e = s.keys.acquire(limitKey(r, account)); e == nil {
				defer release()
			}
		}
		if e == nil {
			r.Body = http.MaxBytesReader(sw, r.Body, s.cfg.MaxBodyBytes)
			e = h(sw, r, account)
		}
		if e != nil {
			writeError(sw, e)
			s.m.errors.WithLabelValues(errCode(e)).Inc()
			if ri.err == nil {
				ri.err = e
			}
		}
		if !sw.wrote {
			sw.code = http.StatusOK
		}
		el := time.Since(start)
		s.m.requests.WithLabelValues(endpoint, itoa(sw.code)).Inc()
		s.m.latency.WithLabelValues(endpoint).Observe(el.Seconds())
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", sw.code, "ms", el.Milliseconds(), "account", account, "request_id", reqID}
		if ri.model != "" {
			attrs = append(attrs, "model", ri.model, "prompt_tokens", ri.promptTokens, "completion_tokens", ri.completionTokens)
		}
		if ri.certificate != "" {
			attrs = append(attrs, "certificate", ri.certificate)
		}
		if ri.err != nil {
			attrs = append(attrs, "error", ri.err.Error())
			s.log.Warn("request", attrs...)
		} else {
			s.log.Info("request", attrs...)
		}
	}
}

func errCode(e *Error) string {
	if e.Code != "" {
		return e.Code
	}
	return e.Type
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// newID returns prefix followed by 24 random hex digits.
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// decodeBody decodes a JSON request body into v.
func decodeBody(r *http.Request, v any) *Error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Type: TypeInvalidRequest, Code: CodeTooLarge,
				Message: "The request body is larger than the gateway's limit of " + itoa(int(tooBig.Limit)) + " bytes."}
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field := strings.TrimPrefix(te.Field, "samplingFields.")
			return invalid(field, CodeInvalidValue, "%s has the wrong type: got a JSON %s, want %s", field, te.Value, jsonKind(te.Type.Kind().String()))
		}
		return invalid("", CodeInvalidJSON, "We could not parse the JSON body of your request (%v). Send a JSON object with Content-Type: application/json.", err)
	}
	if dec.More() {
		return invalid("", CodeInvalidJSON, "The request body holds more than one JSON value.")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "ptr":
		return "a value of another type"
	}
	return "a number"
}

func (s *Server) lookupModel(id string) (*Model, *Error) {
	if id == "" {
		return nil, invalid("model", CodeMissingParam, "you must provide a model parameter")
	}
	for _, m := range s.cfg.Backend.Models() {
		if m.ID == id {
			return m, nil
		}
	}
	return nil, &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: CodeModelNotFound, Param: "model",
		Message: "The model `" + id + "` does not exist or you do not have access to it."}
}

func (s *Server) modelObject(m *Model) ModelObject {
	o := ModelObject{ID: m.ID, Object: "model", Created: m.Created, OwnedBy: m.OwnedBy, ContextLength: m.ContextLen, ModelCommitment: m.Commitment}
	if o.OwnedBy == "" {
		o.OwnedBy = "tessera"
	}
	if m.Chat != nil {
		o.ChatTemplate = m.Chat.Name()
	} else {
		o.ChatTemplate = chat.Plain
	}
	return o
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request, _ string) *Error {
	list := ModelList{Object: "list", Data: []ModelObject{}}
	for _, m := range s.cfg.Backend.Models() {
		list.Data = append(list.Data, s.modelObject(m))
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request, _ string) *Error {
	m, e := s.lookupModel(r.PathValue("model"))
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, s.modelObject(m))
	return nil
}

func (s *Server) handleCertificate(w http.ResponseWriter, r *http.Request, _ string) *Error {
	id := r.PathValue("id")
	c, ok := s.certs.Get(id)
	if !ok {
		return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: CodeCertificateNotFound, Param: "id",
			Message: "No certificate " + id + " is held by this gateway (it keeps the most recent " + itoa(s.cfg.Certificates) + ")."}
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
