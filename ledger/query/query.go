// Package query serves a ledger over HTTP with JSON, the same API whichever
// store holds it (solo or CometBFT), and is a client for that API.
//
// Routes (mount the handler at "/v1/ledger/"):
//
//	GET  /v1/ledger/info                          chain id, height, app hash, supply, params
//	GET  /v1/ledger/accounts/{key}                balance, stake, unbonding, nonce, node record
//	GET  /v1/ledger/accounts/{key}/history        ?before=HEIGHT&limit=N, newest first, whole blocks
//	                                              (next page: before = the last entry's height)
//	GET  /v1/ledger/nodes/{key}                   registered node
//	GET  /v1/ledger/certificates/{id}             settled certificate
//	GET  /v1/ledger/frauds/{evidence-sha256}      fraud record
//	GET  /v1/ledger/blocks/{height}               block: time, app hash, transactions and results
//	GET  /v1/ledger/txs/{hash}                    receipt of a committed transaction
//	POST /v1/ledger/txs                           submit an encoded transaction (raw bytes,
//	                                              or hex with Content-Type text/plain); returns the receipt
//
// Keys, hashes and ids are 64 hex digits. Errors are JSON objects
// {"error": "...", "code": N} with status 400 (bad request, and rejected
// transactions, whose ledger.Code is in "code"), 404 (not found), 501
// (submission not supported) or 503 (the store failed).
package query

import (
	"context"
	hexenc "encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tessera-net/tessera/ledger"
)

// Source is a ledger that can be queried; *blocklog.Chain and
// *solo.Ledger implement it.
type Source interface {
	Info() ledger.Info
	Account(ledger.PubKey) ledger.Account
	Node(ledger.PubKey) (ledger.Node, bool)
	Certificate(ledger.Hash) (ledger.Certificate, bool)
	Fraud(ledger.Hash) (ledger.Fraud, bool)
	History(k ledger.PubKey, before uint64, limit int) ([]ledger.HistoryEntry, error)
	Block(height uint64) (ledger.BlockRecord, error)
	Tx(hash ledger.Hash) (ledger.Receipt, error)
}

// Submitter accepts transactions; *solo.Ledger and the CometBFT node
// implement it. Submit returns once the transaction is committed, with a
// *ledger.RejectError if the ledger refused it.
type Submitter interface {
	Submit(ctx context.Context, tx []byte) (ledger.Receipt, error)
}

// AccountView is an account with its node record, if it is a node.
type AccountView struct {
	Key ledger.PubKey `json:"key"`
	ledger.Account
	Node *ledger.Node `json:"node,omitempty"`
}

// BlockView is a block as the API shows it.
type BlockView struct {
	Height  uint64         `json:"height"`
	Time    int64          `json:"time"`
	AppHash ledger.Hash    `json:"app_hash"`
	Begin   []ledger.Event `json:"begin,omitempty"`
	Txs     []TxView       `json:"txs"`
}

// TxView is one transaction of a block.
type TxView struct {
	Hash   ledger.Hash    `json:"hash"`
	Kind   string         `json:"kind"`
	Sender *ledger.PubKey `json:"sender,omitempty"`
	Nonce  uint64         `json:"nonce"`
	Raw    string         `json:"raw"` // hex
	Result ledger.Result  `json:"result"`
}

// ErrorBody is the JSON of an error response.
type ErrorBody struct {
	Error  string      `json:"error"`
	Code   ledger.Code `json:"code,omitempty"`   // of a rejected transaction
	Reason string      `json:"reason,omitempty"` // of a rejected transaction
}

// MaxRequestBytes bounds a submitted transaction (hex doubles it).
const MaxRequestBytes = 2*ledger.MaxTxBytes + 2

// Handler serves src. If src also implements Submitter, POST
// /v1/ledger/txs submits through it; sub, if not nil, takes precedence.
func Handler(src Source, sub Submitter) http.Handler {
	if sub == nil {
		sub, _ = src.(Submitter)
	}
	h := &handler{src: src, sub: sub}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ledger/info", h.info)
	mux.HandleFunc("GET /v1/ledger/accounts/{key}", h.account)
	mux.HandleFunc("GET /v1/ledger/accounts/{key}/history", h.history)
	mux.HandleFunc("GET /v1/ledger/nodes/{key}", h.node)
	mux.HandleFunc("GET /v1/ledger/certificates/{id}", h.certificate)
	mux.HandleFunc("GET /v1/ledger/frauds/{hash}", h.fraud)
	mux.HandleFunc("GET /v1/ledger/blocks/{height}", h.block)
	mux.HandleFunc("GET /v1/ledger/txs/{hash}", h.tx)
	mux.HandleFunc("POST /v1/ledger/txs", h.submit)
	return mux
}

type handler struct {
	src Source
	sub Submitter
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func fail(w http.ResponseWriter, status int, err error) {
	body := ErrorBody{Error: err.Error()}
	var r *ledger.RejectError
	if errors.As(err, &r) {
		body.Code, body.Reason = r.Code, r.Reason
	}
	writeJSON(w, status, body)
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.src.Info())
}

func (h *handler) account(w http.ResponseWriter, r *http.Request) {
	k, err := ledger.ParsePubKey(r.PathValue("key"))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, accountView(h.src, k))
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	k, err := ledger.ParsePubKey(r.PathValue("key"))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	q := r.URL.Query()
	var before uint64
	limit := 50
	if s := q.Get("before"); s != "" {
		if before, err = strconv.ParseUint(s, 10, 64); err != nil {
			fail(w, http.StatusBadRequest, errors.New("before: want a height"))
			return
		}
	}
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
			fail(w, http.StatusBadRequest, errors.New("limit: want 1 to 1000"))
			return
		}
	}
	hist, err := h.src.History(k, before, limit)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	if hist == nil {
		hist = []ledger.HistoryEntry{}
	}
	writeJSON(w, http.StatusOK, hist)
}

func (h *handler) node(w http.ResponseWriter, r *http.Request) {
	k, err := ledger.ParsePubKey(r.PathValue("key"))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	n, ok := h.src.Node(k)
	if !ok {
		fail(w, http.StatusNotFound, errors.New("node "+k.String()+" is not registered"))
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (h *handler) certificate(w http.ResponseWriter, r *http.Request) {
	id, err := ledger.ParseHash(r.PathValue("id"))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	c, ok := h.src.Certificate(id)
	if !ok {
		fail(w, http.StatusNotFound, errors.New("certificate "+id.String()+" is not on the ledger"))
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (h *handler) fraud(w http.ResponseWriter, r *http.Request) {
	id, err := ledger.ParseHash(r.PathValue("hash"))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	f, ok := h.src.Fraud(id)
	if !ok {
		fail(w, http.StatusNotFound, errors.New("no fraud record for evidence "+id.String()))
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (h *handler) block(w http.ResponseWriter, r *http.Request) {
	height, err := strconv.ParseUint(r.PathValue("height"), 10, 64)
	if err != nil {
		fail(w, http.StatusBadRequest, errors.New("height: want a number"))
		return
	}
	rec, err := h.src.Block(height)
	if err != nil {
		fail(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, blockView(rec))
}

func hex(b []byte) string { return hexenc.EncodeToString(b) }

func statusOf(err error) int {
	if errors.Is(err, ledger.ErrNotFound) {
		return http.StatusNotFound
	}
	return http.StatusServiceUnavailable
}

func (h *handler) tx(w http.ResponseWriter, r *http.Request) {
	th, err := ledger.ParseHash(r.PathValue("hash"))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	rc, err := h.src.Tx(th)
	if err != nil {
		fail(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

func (h *handler) submit(w http.ResponseWriter, r *http.Request) {
	if h.sub == nil {
		fail(w, http.StatusNotImplemented, errors.New("this ledger endpoint does not accept transactions"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if len(body) > MaxRequestBytes {
		fail(w, http.StatusRequestEntityTooLarge, errors.New("transaction too large"))
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/") {
		if body, err = hexenc.DecodeString(strings.TrimSpace(string(body))); err != nil {
			fail(w, http.StatusBadRequest, errors.New("body: want hex: "+err.Error()))
			return
		}
	}
	rc, err := h.sub.Submit(r.Context(), body)
	var rej *ledger.RejectError
	switch {
	case errors.As(err, &rej):
		fail(w, http.StatusBadRequest, err)
	case err != nil:
		fail(w, http.StatusServiceUnavailable, err)
	default:
		writeJSON(w, http.StatusOK, rc)
	}
}
