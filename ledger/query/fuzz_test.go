package query_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/query"
)

// cannedTransport answers every request with a fixed status and body, as
// a hostile or broken ledger API server could.
type cannedTransport struct {
	status int
	body   []byte
}

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Body: io.NopCloser(bytes.NewReader(c.body)), Header: http.Header{}, Request: r}, nil
}

// FuzzClient: a gateway or node reads the ledger API's answers from a
// server it does not control. Any status and body give each client call
// a value or an error, never a panic; a non-200 answer is always an error.
func FuzzClient(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"chain_id":"tessera-dev","height":3,"app_hash":"` + string(bytes.Repeat([]byte("ab"), 32)) + `"}`},
		{200, `{"account":{"balance":5,"nonce":1},"node":null}`},
		{200, `[{"height":1,"tx_hash":"00","kind":"faucet","delta":1}]`},
		{200, `{"height":1,"txs":[]}`},
		{400, `{"error":"rejected","code":3,"reason":"bad nonce"}`},
		{404, `{"error":"not found"}`},
		{500, `oops`},
		{200, `null`},
		{200, `{"app_hash":"zz"}`},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return // net/http never delivers such a status
		}
		c := &query.Client{URL: "http://ledger.invalid", HTTP: &http.Client{Transport: cannedTransport{status, body}}}
		ctx := context.Background()
		var k ledger.PubKey
		var h ledger.Hash
		errs := []error{}
		_, err := c.Info(ctx)
		errs = append(errs, err)
		_, err = c.Account(ctx, k)
		errs = append(errs, err)
		_, err = c.History(ctx, k, 5, 10)
		errs = append(errs, err)
		_, err = c.Certificate(ctx, h)
		errs = append(errs, err)
		_, err = c.Block(ctx, 1)
		errs = append(errs, err)
		_, err = c.Tx(ctx, h)
		errs = append(errs, err)
		_, err = c.Submit(ctx, []byte{1, 2, 3})
		errs = append(errs, err)
		if status == http.StatusOK {
			return
		}
		for i, err := range errs {
			if err == nil {
				t.Fatalf("call %d: status %d answered without an error", i, status)
			}
			var rej *ledger.RejectError
			var se *query.StatusError
			if !errors.As(err, &rej) && !errors.As(err, &se) {
				t.Fatalf("call %d: status %d gave an error of neither kind: %v", i, status, err)
			}
		}
	})
}
