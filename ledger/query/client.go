package query

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tessera-net/tessera/ledger"
)

// Client calls the API of Handler. It implements Submitter.
type Client struct {
	URL  string       // base, e.g. "http://127.0.0.1:8547"
	HTTP *http.Client // nil: http.DefaultClient
}

// StatusError is an error response that is not a rejection.
type StatusError struct {
	Status int
	Body   ErrorBody
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("ledger API: %d %s: %s", e.Status, http.StatusText(e.Status), e.Body.Error)
}

// Unwrap lets errors.Is(err, ledger.ErrNotFound) see a 404.
func (e *StatusError) Unwrap() error {
	if e.Status == http.StatusNotFound {
		return ledger.ErrNotFound
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("ledger API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("ledger API: %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(data))
		}
		if resp.StatusCode == http.StatusBadRequest && eb.Code != 0 {
			return &ledger.RejectError{Code: eb.Code, Reason: eb.Reason}
		}
		return &StatusError{Status: resp.StatusCode, Body: eb}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("ledger API: %s: %w", path, err)
	}
	return nil
}

// Info returns the chain's summary.
func (c *Client) Info(ctx context.Context) (ledger.Info, error) {
	var v ledger.Info
	return v, c.do(ctx, "GET", "/v1/ledger/info", nil, &v)
}

// Account returns an account and its node record.
func (c *Client) Account(ctx context.Context, k ledger.PubKey) (AccountView, error) {
	var v AccountView
	return v, c.do(ctx, "GET", "/v1/ledger/accounts/"+k.String(), nil, &v)
}

// History returns k's history below height before (0: newest), newest
// first: limit entries, or a few more to complete the last block (the next
// page is the one before its height).
func (c *Client) History(ctx context.Context, k ledger.PubKey, before uint64, limit int) ([]ledger.HistoryEntry, error) {
	q := url.Values{}
	if before > 0 {
		q.Set("before", strconv.FormatUint(before, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var v []ledger.HistoryEntry
	return v, c.do(ctx, "GET", "/v1/ledger/accounts/"+k.String()+"/history?"+q.Encode(), nil, &v)
}

// Certificate returns a settled certificate.
func (c *Client) Certificate(ctx context.Context, id ledger.Hash) (ledger.Certificate, error) {
	var v ledger.Certificate
	return v, c.do(ctx, "GET", "/v1/ledger/certificates/"+id.String(), nil, &v)
}

// Block returns a block.
func (c *Client) Block(ctx context.Context, height uint64) (BlockView, error) {
	var v BlockView
	return v, c.do(ctx, "GET", "/v1/ledger/blocks/"+strconv.FormatUint(height, 10), nil, &v)
}

// Tx returns the receipt of a committed transaction.
func (c *Client) Tx(ctx context.Context, hash ledger.Hash) (ledger.Receipt, error) {
	var v ledger.Receipt
	return v, c.do(ctx, "GET", "/v1/ledger/txs/"+hash.String(), nil, &v)
}

// Submit submits an encoded transaction and returns its receipt once
// committed; a rejection is a *ledger.RejectError.
func (c *Client) Submit(ctx context.Context, tx []byte) (ledger.Receipt, error) {
	var v ledger.Receipt
	return v, c.do(ctx, "POST", "/v1/ledger/txs", tx, &v)
}
