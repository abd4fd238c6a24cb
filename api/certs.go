package api

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
)

// Audit is the verification outcome recorded in a certificate.
type Audit struct {
	// Status is AuditNone, AuditPending, AuditPassed or AuditFailed.
	Status string `json:"status"`
	// Verified is true only when checks ran and passed.
	Verified bool `json:"verified"`
	// Detail says in words what was (or was not) checked.
	Detail string `json:"detail"`
}

// Audit statuses.
const (
	AuditNone    = "none"    // nothing was checked
	AuditPending = "pending" // the generation or its audit is still running
	AuditPassed  = "passed"
	AuditFailed  = "failed"
)

// NoAudit is the audit of every generation until the proofs land: the
// certificate records what ran where, and says plainly that nothing was
// checked.
var NoAudit = Audit{
	Status: AuditNone,
	Detail: "no audit: receipts, Freivalds checks and re-execution are not implemented yet; " +
		"this certificate records which nodes computed which layers, but nothing was verified or signed",
}

// Hop is what one hop of a chain computed for a generation.
type Hop struct {
	Peer          string  `json:"peer"`   // node's peer id, or "local"
	Layers        string  `json:"layers"` // "first:last", half-open
	Local         bool    `json:"local"`
	Positions     uint64  `json:"positions"`
	Calls         uint64  `json:"calls"`
	BytesSent     uint64  `json:"bytes_sent"`
	BytesReceived uint64  `json:"bytes_received"`
	Millis        float64 `json:"ms"` // time in the hop, network included
}

// Sampling records how tokens were chosen, so that a generation can be
// reproduced from its prompt.
type Sampling struct {
	Temperature       float64 `json:"temperature"`
	TopP              float64 `json:"top_p"`
	TopK              int     `json:"top_k"`
	MinP              float64 `json:"min_p"`
	RepetitionPenalty float64 `json:"repetition_penalty"`
	Seed              uint64  `json:"seed"`
}

// Certificate is the record of one generation, returned by
// GET /v1/certificates/{id}.
type Certificate struct {
	ID               string   `json:"id"`
	Object           string   `json:"object"` // "certificate"
	Created          int64    `json:"created"`
	Model            string   `json:"model"`
	ModelCommitment  string   `json:"model_commitment,omitempty"`
	Account          string   `json:"account,omitempty"`
	RequestID        string   `json:"request_id"`
	PromptSHA256     string   `json:"prompt_sha256"` // of the prompt text (for chat, the rendered template)
	OutputSHA256     string   `json:"output_sha256"` // of the generated text
	PromptTokens     int      `json:"prompt_tokens"`
	CompletionTokens int      `json:"completion_tokens"`
	FinishReason     string   `json:"finish_reason,omitempty"`
	Sampling         Sampling `json:"sampling"`
	Hops             []Hop    `json:"hops"`
	Audit            Audit    `json:"audit"`
	// Complete is false while the generation runs and when it failed
	// (Error says why).
	Complete bool   `json:"complete"`
	Error    string `json:"error,omitempty"`
	// Proof is the verifier's signed certificate once proofs exist; it is
	// absent until then.
	Proof json.RawMessage `json:"proof,omitempty"`
}

// TextSHA256 is the hex SHA-256 of text, the certificate's prompt and
// output hashes (the same digest as proof.HashText).
func TextSHA256(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

// CertStore keeps the most recent certificates in memory, evicting the
// least recently stored or read beyond its capacity. It is safe for
// concurrent use.
type CertStore struct {
	mu    sync.Mutex
	cap   int
	order *list.List // of *Certificate, most recent first
	byID  map[string]*list.Element
}

// DefaultCertificates is the store's capacity when Config leaves it zero.
const DefaultCertificates = 10000

// NewCertStore returns a store of at most capacity certificates.
func NewCertStore(capacity int) *CertStore {
	return &CertStore{cap: max(1, capacity), order: list.New(), byID: map[string]*list.Element{}}
}

// Put stores c (a copy), replacing any certificate with the same id.
func (s *CertStore) Put(c Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byID[c.ID]; ok {
		e.Value = &c
		s.order.MoveToFront(e)
		return
	}
	s.byID[c.ID] = s.order.PushFront(&c)
	for s.order.Len() > s.cap {
		old := s.order.Back()
		s.order.Remove(old)
		delete(s.byID, old.Value.(*Certificate).ID)
	}
}

// Peek returns the certificate with this id without making it recent.
func (s *CertStore) Peek(id string) (Certificate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok {
		return Certificate{}, false
	}
	return *e.Value.(*Certificate), true
}

// Get returns the certificate with this id.
func (s *CertStore) Get(id string) (Certificate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok {
		return Certificate{}, false
	}
	s.order.MoveToFront(e)
	return *e.Value.(*Certificate), true
}

// Update applies f to the stored certificate with this id (for audits
// that finish after the answer); it reports whether one was found.
func (s *CertStore) Update(id string, f func(*Certificate)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok {
		return false
	}
	c := *e.Value.(*Certificate)
	f(&c)
	c.ID = id
	e.Value = &c
	return true
}

// Delete removes a certificate.
func (s *CertStore) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byID[id]; ok {
		s.order.Remove(e)
		delete(s.byID, id)
	}
}

// Len returns the number of certificates held.
func (s *CertStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}
