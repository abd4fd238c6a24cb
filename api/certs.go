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
	AuditNone     = "none"     // nothing was checked
	AuditReceipts = "receipts" // every node's signed receipts were checked; no audit (no verification key)
	AuditPending  = "pending"  // the generation or its audit is still running
	AuditPassed   = "passed"
	AuditFailed   = "failed"
)

// NoAudit is the audit of a generation that a backend did not check.
var NoAudit = Audit{
	Status: AuditNone,
	Detail: "no audit: this certificate records which nodes computed which layers, but nothing was verified or signed",
}

// Settlement is how a generation was paid on the ledger: the signed proof
// certificate's settlement, which the gateway submits for the account.
type Settlement struct {
	// Status is SettlementPending, SettlementSettled, SettlementFailed
	// or SettlementNone.
	Status string `json:"status"`
	Ledger string `json:"ledger,omitempty"` // where: "embedded ledger PATH" or "ledger URL"
	// ID is the ledger's certificate id: the SHA-256 of the signed
	// proof certificate (Certificate.Proof).
	ID      string `json:"id,omitempty"`
	Payer   string `json:"payer,omitempty"` // the paying account's ledger key (hex)
	Height  uint64 `json:"height,omitempty"`
	TxHash  string `json:"tx_hash,omitempty"`
	Charged uint64 `json:"charged"`
	Fee     uint64 `json:"auditor_fee"`
	// Nodes are the nodes paid (or, with Unpaid, left out because the
	// ledger cannot pay them).
	Nodes []NodePayment `json:"nodes,omitempty"`
	// Detail says in words what happened (why it failed, why nothing
	// was settled).
	Detail string `json:"detail,omitempty"`
}

// NodePayment is one node's part of a settlement.
type NodePayment struct {
	Key       string `json:"key"` // ledger account (hex), the node's identity key
	Peer      string `json:"peer,omitempty"`
	Layers    string `json:"layers,omitempty"`
	WorkUnits uint64 `json:"work_units"`
	Earned    uint64 `json:"earned"`
	Unpaid    string `json:"unpaid,omitempty"` // why the node was left out
}

// Settlement statuses.
const (
	SettlementPending = "pending" // submitted, not committed yet
	SettlementSettled = "settled"
	SettlementFailed  = "failed" // the ledger refused it or did not answer
	SettlementNone    = "none"   // nothing to pay (no node, or none the ledger can pay)
)

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
	// Proof is the auditor's signed proof certificate (its encoding and
	// what it states), when the generation ran on nodes.
	Proof json.RawMessage `json:"proof,omitempty"`
	// Settlement is how the generation was paid, when the gateway has a
	// ledger.
	Settlement *Settlement `json:"settlement,omitempty"`
}

// TextSHA256 is the hex SHA-256 of text, the certificate's prompt and
// output hashes (the same digest as proof.HashText).
func TextSHA256(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

// CertStore keeps the most recent certificates in memory, evicting the
// least recently stored or read beyond its capacity, or beyond its byte
// budget for proofs (a proof certificate carries every receipt, so a long
// generation's is large). It is safe for concurrent use.
type CertStore struct {
	mu       sync.Mutex
	cap      int
	maxBytes int64
	bytes    int64      // of the proofs held
	order    *list.List // of *Certificate, most recent first
	byID     map[string]*list.Element
}

// DefaultCertificates is the store's capacity when Config leaves it zero.
const DefaultCertificates = 10000

// DefaultCertificateBytes is the store's budget for proofs when Config
// leaves it zero.
const DefaultCertificateBytes = 256 << 20

// NewCertStore returns a store of at most capacity certificates, whose
// proofs take at most DefaultCertificateBytes.
func NewCertStore(capacity int) *CertStore {
	return &CertStore{cap: max(1, capacity), maxBytes: DefaultCertificateBytes, order: list.New(), byID: map[string]*list.Element{}}
}

// SetMaxBytes sets the budget for proofs (at least one certificate is
// always kept).
func (s *CertStore) SetMaxBytes(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxBytes = n
	s.evict()
}

// evict drops the least recent certificates beyond the limits; s.mu is held.
func (s *CertStore) evict() {
	for s.order.Len() > s.cap || (s.bytes > s.maxBytes && s.order.Len() > 1) {
		old := s.order.Back()
		s.order.Remove(old)
		c := old.Value.(*Certificate)
		s.bytes -= int64(len(c.Proof))
		delete(s.byID, c.ID)
	}
}

// Put stores c (a copy), replacing any certificate with the same id.
func (s *CertStore) Put(c Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bytes += int64(len(c.Proof))
	if e, ok := s.byID[c.ID]; ok {
		s.bytes -= int64(len(e.Value.(*Certificate).Proof))
		e.Value = &c
		s.order.MoveToFront(e)
	} else {
		s.byID[c.ID] = s.order.PushFront(&c)
	}
	s.evict()
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
// and settlements that finish after the answer); it reports whether one
// was found.
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
	s.bytes += int64(len(c.Proof)) - int64(len(e.Value.(*Certificate).Proof))
	e.Value = &c
	s.evict()
	return true
}

// Delete removes a certificate.
func (s *CertStore) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byID[id]; ok {
		s.bytes -= int64(len(e.Value.(*Certificate).Proof))
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
