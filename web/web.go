// Package web is Tessera's dashboard: one page, embedded in the binary with
// no external resources, that shows a swarm's layer coverage (which node
// serves which layers, its health and throughput), recent generations with
// their certificates and audit outcomes, and the ledger, updated live.
//
// The page polls GET /api/status once a second; the JSON comes from a
// Source the command implements (a gateway reports its chain of nodes and
// its generations, a node reports itself). Handler serves:
//
//	GET /                        the page
//	GET /static/…                its script and style sheet
//	GET /api/status              Status as JSON
//	GET /api/certificates/{id}   a certificate, when the Source is a CertificateSource
package web

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"sort"
	"time"
)

//go:embed static
var static embed.FS

// Source reports the status the page shows.
type Source interface {
	Status(ctx context.Context) (Status, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (Status, error)

// Status implements Source.
func (f SourceFunc) Status(ctx context.Context) (Status, error) { return f(ctx) }

// CertificateSource is a Source that can also show certificates (a
// gateway); the page links each generation's certificate to it.
type CertificateSource interface {
	Source
	// Certificate returns the certificate as a JSON-encodable value.
	Certificate(id string) (any, bool)
}

// Status is everything the page shows.
type Status struct {
	Role    string    `json:"role"` // "gateway" or "node"
	Name    string    `json:"name"` // the node's peer id, or the gateway's address
	Now     time.Time `json:"now"`
	Started time.Time `json:"started"`
	// Stats are the headline numbers, shown as cards in order.
	Stats []Stat `json:"stats"`
	// Throughput is generated tokens per second over the last seconds,
	// oldest first, one value a second (the page graphs the last 120).
	// When it is empty the page samples TokensServed, a running total,
	// instead.
	Throughput   []float64 `json:"throughput,omitempty"`
	TokensServed uint64    `json:"tokens_served"`
	// ThroughputLabel says what is counted (default "generated tokens
	// per second").
	ThroughputLabel string `json:"throughput_label,omitempty"`
	// HideGenerations drops the generations panel (a node sees none).
	HideGenerations bool            `json:"hide_generations,omitempty"`
	Models          []ModelCoverage `json:"models"`
	Generations     []Generation    `json:"generations"`
	// Ledger is nil until a ledger is connected; the page then says so.
	Ledger *Ledger `json:"ledger"`
	// Notes are caveats shown in plain words (e.g. that nothing is
	// audited yet).
	Notes []string `json:"notes,omitempty"`
}

// Stat is one headline number.
type Stat struct {
	Label string `json:"label"`
	Value string `json:"value"`
	Hint  string `json:"hint,omitempty"`
}

// ModelCoverage is a model and the nodes serving its layers.
type ModelCoverage struct {
	Model      string `json:"model"`
	Commitment string `json:"commitment,omitempty"` // hex
	Layers     int    `json:"layers"`
	Nodes      []Node `json:"nodes"`
	// Gaps are the layer ranges no healthy node serves (filled by
	// Normalize unless Partial).
	Gaps []Range `json:"gaps"`
	// Partial says Nodes are not the whole swarm (a node's own page), so
	// layers outside them are not gaps.
	Partial bool `json:"partial,omitempty"`
	// Detail is a line about the model (chat template, context length…).
	Detail string `json:"detail,omitempty"`
}

// Range is a half-open layer range.
type Range struct {
	First int `json:"first"`
	Last  int `json:"last"`
}

// Node health values.
const (
	HealthOK          = "ok"
	HealthDegraded    = "degraded" // answers, but with errors or no free sessions
	HealthUnreachable = "unreachable"
	HealthUnknown     = "unknown"
)

// Node is one node serving a layer range.
type Node struct {
	Peer         string  `json:"peer"` // peer id, or "local"
	Addr         string  `json:"addr,omitempty"`
	First        int     `json:"first"`
	Last         int     `json:"last"`
	Health       string  `json:"health"`
	Detail       string  `json:"detail,omitempty"` // why it is not ok
	LatencyMs    float64 `json:"latency_ms"`       // last info round trip
	FreeSessions int     `json:"free_sessions"`
	Sessions     uint64  `json:"sessions"`  // sessions served (or used by this gateway)
	Positions    uint64  `json:"positions"` // positions computed
	// TokensPerSecond is positions per second of time spent in the hop,
	// network included.
	TokensPerSecond float64   `json:"tokens_per_second"`
	BytesIn         uint64    `json:"bytes_in"`
	BytesOut        uint64    `json:"bytes_out"`
	LastSeen        time.Time `json:"last_seen"`
	Self            bool      `json:"self,omitempty"` // the node serving this page
}

// Generation is one recent generation.
type Generation struct {
	Time             time.Time `json:"time"`
	RequestID        string    `json:"request_id"`
	Model            string    `json:"model"`
	Endpoint         string    `json:"endpoint"`
	Account          string    `json:"account,omitempty"`
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
	Millis           float64   `json:"ms"`
	TTFTMillis       float64   `json:"ttft_ms"`
	TokensPerSecond  float64   `json:"tokens_per_second"`
	FinishReason     string    `json:"finish_reason,omitempty"`
	Certificate      string    `json:"certificate"`
	Audit            Audit     `json:"audit"`
	// Paid says how the generation was paid on the ledger ("96 credits",
	// "pending", "failed: …"); empty without a ledger.
	Paid  string `json:"paid,omitempty"`
	Hops  []Hop  `json:"hops"`
	Error string `json:"error,omitempty"`
}

// Audit is a generation's verification outcome.
type Audit struct {
	Status   string `json:"status"` // "none", "pending", "passed", "failed"
	Verified bool   `json:"verified"`
	Detail   string `json:"detail"`
}

// Hop is the part one node played in a generation.
type Hop struct {
	Peer   string  `json:"peer"`
	Layers string  `json:"layers"`
	Millis float64 `json:"ms"`
}

// Ledger is the ledger's view for the page: where it is, its height and
// app hash, the accounts this server cares about (a gateway's paying
// accounts and the nodes it used; a node's own account) and their recent
// transactions.
type Ledger struct {
	Where   string `json:"where"` // "embedded ledger PATH" or "ledger URL"
	ChainID string `json:"chain_id,omitempty"`
	Height  uint64 `json:"height"`
	AppHash string `json:"app_hash,omitempty"` // hex
	// Price is credits per layer and token position.
	Price uint64 `json:"price"`
	// Error says why the ledger could not be read this time (the rest is
	// then empty).
	Error        string        `json:"error,omitempty"`
	Accounts     []Account     `json:"accounts"`
	Transactions []Transaction `json:"transactions"`
}

// Account is a ledger account.
type Account struct {
	Name    string `json:"name"`
	Key     string `json:"key,omitempty"`  // hex public key
	Role    string `json:"role,omitempty"` // "account", "node", "this node"…
	Balance string `json:"balance"`
	Stake   string `json:"stake,omitempty"`
	// Earned and WorkUnits are a node's record; Detail says more (not
	// registered, excluded…).
	Earned    string `json:"earned,omitempty"`
	WorkUnits string `json:"work_units,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// Transaction is a recent ledger transaction.
type Transaction struct {
	Time   time.Time `json:"time"`
	Height uint64    `json:"height,omitempty"`
	Kind   string    `json:"kind"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Amount string    `json:"amount"`
	Memo   string    `json:"memo,omitempty"`
}

// Normalize sorts nodes by layer range, fills each model's Gaps (ranges
// no healthy node serves) and replaces nil slices by empty ones so the
// JSON has arrays.
func (s *Status) Normalize() {
	if s.Stats == nil {
		s.Stats = []Stat{}
	}
	if s.Models == nil {
		s.Models = []ModelCoverage{}
	}
	if s.Generations == nil {
		s.Generations = []Generation{}
	}
	if l := s.Ledger; l != nil {
		if l.Accounts == nil {
			l.Accounts = []Account{}
		}
		if l.Transactions == nil {
			l.Transactions = []Transaction{}
		}
	}
	for i := range s.Generations {
		if s.Generations[i].Hops == nil {
			s.Generations[i].Hops = []Hop{}
		}
	}
	for i := range s.Models {
		m := &s.Models[i]
		if m.Nodes == nil {
			m.Nodes = []Node{}
		}
		sort.SliceStable(m.Nodes, func(a, b int) bool {
			if m.Nodes[a].First != m.Nodes[b].First {
				return m.Nodes[a].First < m.Nodes[b].First
			}
			return m.Nodes[a].Last > m.Nodes[b].Last
		})
		m.Gaps = []Range{}
		if !m.Partial {
			m.Gaps = Gaps(m.Layers, m.Nodes)
		}
	}
}

// Gaps returns the ranges of [0, layers) that no node in good or degraded
// health serves.
func Gaps(layers int, nodes []Node) []Range {
	covered := make([]bool, layers)
	for _, n := range nodes {
		if n.Health == HealthUnreachable {
			continue
		}
		for l := max(0, n.First); l < min(layers, n.Last); l++ {
			covered[l] = true
		}
	}
	gaps := []Range{}
	for l := 0; l < layers; l++ {
		if covered[l] {
			continue
		}
		if k := len(gaps); k > 0 && gaps[k-1].Last == l {
			gaps[k-1].Last = l + 1
		} else {
			gaps = append(gaps, Range{First: l, Last: l + 1})
		}
	}
	return gaps
}

// Handler serves the dashboard over src.
func Handler(src Source) http.Handler {
	mux := http.NewServeMux()
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(index)
	})
	fileServer := http.StripPrefix("/static/", http.FileServerFS(files))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w)
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		st, err := src.Status(ctx)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		if st.Now.IsZero() {
			st.Now = time.Now()
		}
		st.Normalize()
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /api/certificates/{id}", func(w http.ResponseWriter, r *http.Request) {
		cs, ok := src.(CertificateSource)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "this server keeps no certificates"})
			return
		}
		c, ok := cs.Certificate(r.PathValue("id"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no certificate " + r.PathValue("id")})
			return
		}
		writeJSON(w, http.StatusOK, c)
	})
	return mux
}

// secureHeaders keep the page self-contained: no outside scripts, styles,
// images or connections.
func secureHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
