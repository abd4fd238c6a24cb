package query_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/blocklog"
	"github.com/tessera-net/tessera/ledger/ledgertest"
	"github.com/tessera-net/tessera/ledger/query"
	"github.com/tessera-net/tessera/ledger/solo"
)

var (
	_ query.Source    = (*solo.Ledger)(nil)
	_ query.Submitter = (*solo.Ledger)(nil)
	_ query.Source    = (*blocklog.Chain)(nil)
	_ query.Submitter = (*query.Client)(nil)
)

func TestAPI(t *testing.T) {
	g := ledgertest.Genesis()
	l, err := solo.Open(filepath.Join(t.TempDir(), "ledger.db"), solo.Options{Genesis: &g, Evidence: ledgertest.Checker})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := httptest.NewServer(query.Handler(l, nil)) // listens on 127.0.0.1
	defer srv.Close()
	c := &query.Client{URL: srv.URL}
	ctx := context.Background()
	sign := func(name string, body ledger.Body) []byte {
		return ledgertest.Sign(ledgertest.ChainID, name, l.Account(ledgertest.Pub(name)).Nonce, body)
	}

	// Submit over HTTP: register a node, settle a certificate.
	if _, err := c.Submit(ctx, sign("n1", &ledger.RegisterNode{Capacity: 4})); err != nil {
		t.Fatal(err)
	}
	ct := &ledger.SubmitCertificate{
		ID: sha256.Sum256([]byte("cert")), Client: ledgertest.Pub("alice"), Auditor: ledgertest.Pub("aud"),
		Tokens: 10, Passed: true, Work: []ledger.Work{{Node: ledgertest.Pub("n1"), Layers: 5, Positions: 10}},
	}
	ct.SignAuditor(ledgertest.ChainID, ledgertest.Key("aud"))
	rc, err := c.Submit(ctx, sign("alice", ct))
	if err != nil {
		t.Fatal(err)
	}
	if rc.Height != 2 || rc.AppHash != l.AppHash() {
		t.Fatalf("receipt %+v", rc)
	}

	// A rejection comes back as a *ledger.RejectError with its code.
	_, err = c.Submit(ctx, sign("bob", &ledger.Transfer{To: ledgertest.Pub("alice"), Amount: 1 << 50}))
	var rej *ledger.RejectError
	if !errors.As(err, &rej) || rej.Code != ledger.CodeInsufficientFunds || rej.Reason == "" {
		t.Fatalf("overdraft over HTTP: %v", err)
	}

	info, err := c.Info(ctx)
	if err != nil || info != l.Info() {
		t.Fatalf("info %+v %v, want %+v", info, err, l.Info())
	}
	acct, err := c.Account(ctx, ledgertest.Pub("n1"))
	if err != nil || acct.Node == nil || acct.Node.WorkUnits != 50 || acct.Balance != l.Account(ledgertest.Pub("n1")).Balance {
		t.Fatalf("account %+v %v", acct, err)
	}
	hist, err := c.History(ctx, ledgertest.Pub("n1"), 0, 10)
	if err != nil || len(hist) != 2 || hist[0].Kind != "certificate" || hist[1].Kind != "register_node" {
		t.Fatalf("history %+v %v", hist, err)
	}
	cert, err := c.Certificate(ctx, ct.ID)
	if err != nil || cert.Charged != 50 || cert.Client != ledgertest.Pub("alice") {
		t.Fatalf("certificate %+v %v", cert, err)
	}
	blk, err := c.Block(ctx, 2)
	if err != nil || len(blk.Txs) != 1 || blk.Txs[0].Kind != "certificate" || blk.AppHash != rc.AppHash {
		t.Fatalf("block %+v %v", blk, err)
	}
	got, err := c.Tx(ctx, rc.TxHash)
	if err != nil || got.Height != 2 {
		t.Fatalf("tx %+v %v", got, err)
	}

	// Errors.
	if _, err := c.Certificate(ctx, ledger.Hash{1}); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("unknown certificate: %v", err)
	}
	if _, err := c.Block(ctx, 99); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("unknown block: %v", err)
	}
	for path, want := range map[string]int{
		"/v1/ledger/accounts/xyz":                     http.StatusBadRequest,
		"/v1/ledger/nodes/" + strings.Repeat("0", 64): http.StatusNotFound,
		"/v1/ledger/blocks/abc":                       http.StatusBadRequest,
		"/v1/ledger/accounts/" + ledgertest.Pub("n1").String() + "/history?limit=0": http.StatusBadRequest,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	// Hex submission.
	resp, err := http.Post(srv.URL+"/v1/ledger/txs", "text/plain", strings.NewReader("zz"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad hex: %d", resp.StatusCode)
	}
}

func TestReadOnlyHandler(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := solo.Open(path, solo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A Source that is not a Submitter refuses submissions.
	srv := httptest.NewServer(query.Handler(struct{ query.Source }{l}, nil))
	defer srv.Close()
	_, err = (&query.Client{URL: srv.URL}).Submit(context.Background(), []byte{1})
	var se *query.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusNotImplemented {
		t.Fatalf("submit to a read-only endpoint: %v", err)
	}
}

// Local (a ledger in this process) answers as the HTTP client does, so a
// program can use either without knowing where the ledger lives.
func TestLocalMatchesClient(t *testing.T) {
	g := ledgertest.Genesis()
	l, err := solo.Open(filepath.Join(t.TempDir(), "ledger.db"), solo.Options{Genesis: &g})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := httptest.NewServer(query.Handler(l, nil))
	defer srv.Close()
	ctx := context.Background()
	apis := map[string]query.API{"client": &query.Client{URL: srv.URL}, "local": query.Local{Src: l}}
	// Each API submits one transfer; the other sees it.
	for _, name := range []string{"client", "local"} {
		raw := ledgertest.Sign(ledgertest.ChainID, "alice", l.Account(ledgertest.Pub("alice")).Nonce, &ledger.Transfer{To: ledgertest.Pub("bob"), Amount: 7})
		if _, err := apis[name].Submit(ctx, raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var views []string
	for _, name := range []string{"client", "local"} {
		a := apis[name]
		info, err1 := a.Info(ctx)
		acct, err2 := a.Account(ctx, ledgertest.Pub("bob"))
		hist, err3 := a.History(ctx, ledgertest.Pub("bob"), 0, 10)
		blk, err4 := a.Block(ctx, 2)
		rc, err5 := a.Tx(ctx, blk.Txs[0].Hash)
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := a.Certificate(ctx, ledger.Hash{9}); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("%s: unknown certificate: %v", name, err)
		}
		if _, err := a.Block(ctx, 99); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("%s: unknown block: %v", name, err)
		}
		views = append(views, fmt.Sprintf("%+v|%+v|%d|%+v|%+v", info, acct, len(hist), blk, rc))
	}
	if views[0] != views[1] {
		t.Errorf("client and local disagree:\n%s\n%s", views[0], views[1])
	}
	if _, err := (query.Local{Src: struct{ query.Source }{l}}).Submit(ctx, []byte{1}); err == nil {
		t.Error("a read-only local ledger accepted a transaction")
	}
}
