package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/ledgertest"
	"github.com/tessera-net/tessera/ledger/query"
	"github.com/tessera-net/tessera/ledger/solo"
)

// runLedger executes `tessera ledger ARGS` in process and returns stdout.
func runLedger(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newLedgerCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestLedgerCommandsOnSolo(t *testing.T) {
	home := t.TempDir()
	g := ledgertest.Genesis()
	l, err := solo.Open(filepath.Join(home, "ledger.db"), solo.Options{Genesis: &g})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, body := range []ledger.Body{&ledger.Faucet{Amount: 700}, &ledger.Stake{Amount: 200}, &ledger.Unstake{Amount: 50}} {
		if _, err := l.Submit(ctx, ledgertest.Sign(ledgertest.ChainID, "carol", uint64(i), body)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	carol := ledgertest.Pub("carol").String()

	out, err := runLedger(t, "balance", carol, "--home", home)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"balance    500", "stake      150", "unbonding  50 (returns at height 6)", "nonce      3"} {
		if !strings.Contains(out, want) {
			t.Errorf("balance output lacks %q:\n%s", want, out)
		}
	}
	out, err = runLedger(t, "history", carol, "--home", home)
	if err != nil || !strings.Contains(out, "unstake") || !strings.Contains(out, "faucet(account=") {
		t.Fatalf("history: %v\n%s", err, out)
	}
	out, err = runLedger(t, "verify", "--home", home)
	if err != nil || !strings.Contains(out, "3 blocks, 3 transactions, height 3") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if _, err := runLedger(t, "balance", "nothex", "--home", home); err == nil {
		t.Error("balance of a bad key succeeded")
	}
	if _, err := runLedger(t, "verify", "--home", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no ledger") {
		t.Errorf("verify of an empty home: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLedgerInitAndNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a CometBFT validator")
	}
	dir := t.TempDir()
	out, err := runLedger(t, "init", "--validators", "1", "--home", dir, "--base-port", "0",
		"--chain-id", "cli-test", "--timeout-propose", "200ms", "--timeout-commit", "10ms")
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "node0")
	if !strings.Contains(out, "--home "+home) {
		t.Fatalf("init output:\n%s", out)
	}
	if _, err := runLedger(t, "init", "--validators", "1", "--home", dir); err == nil {
		t.Fatal("init overwrote an existing home")
	}

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- runLedgerNode(ctx, &stdout, &stderr, home, "", "none", nil) }()
	defer func() {
		cancel()
		<-done
	}()
	apiRE := regexp.MustCompile(`ledger API (http://127\.0\.0\.1:\d+)/v1/ledger/info`)
	var url string
	for deadline := time.Now().Add(20 * time.Second); url == ""; time.Sleep(20 * time.Millisecond) {
		if m := apiRE.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("node exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node did not start:\n%s\n%s", stdout.String(), stderr.String())
		}
	}

	c := &query.Client{URL: url}
	r, err := c.Submit(ctx, ledgertest.Sign("cli-test", "carol", 0, &ledger.Faucet{Amount: 321}))
	if err != nil {
		t.Fatal(err)
	}
	carol := ledgertest.Pub("carol").String()
	out, err = runLedger(t, "balance", carol, "--url", url)
	if err != nil || !strings.Contains(out, "balance    321") {
		t.Fatalf("balance over the API: %v\n%s", err, out)
	}

	// Fraud evidence is judged with the weights of the embedded model: the
	// node it accuses (a key of the evidence corpus) stakes and registers,
	// carol reports it, the node is slashed and excluded.
	ev, err := os.ReadFile("../../ledger/proofcheck/testdata/down-1e-2.evidence")
	if err != nil {
		t.Fatal(err)
	}
	seed := sha256.Sum256([]byte("proofcheck corpus node 1"))
	nodePriv := ed25519.NewKeyFromSeed(seed[:])
	node := ledger.KeyOf(nodePriv)
	for i, body := range []ledger.Body{&ledger.Faucet{Amount: 1000}, &ledger.Stake{Amount: 1000}, &ledger.RegisterNode{Capacity: 3}} {
		tx := &ledger.Tx{ChainID: "cli-test", Nonce: uint64(i), Body: body}
		tx.Sign(nodePriv)
		if _, err := c.Submit(ctx, tx.Encode()); err != nil {
			t.Fatalf("%s: %v", body.Kind(), err)
		}
	}
	if _, err := c.Submit(ctx, ledgertest.Sign("cli-test", "carol", 1, &ledger.SubmitEvidence{Node: node, Evidence: ev})); err != nil {
		t.Fatalf("evidence: %v", err)
	}
	out, err = runLedger(t, "balance", node.String(), "--url", url)
	if err != nil || !strings.Contains(out, "EXCLUDED for fraud") || !strings.Contains(out, "stake      500") {
		t.Fatalf("the accused node after the evidence: %v\n%s", err, out)
	}
	if !strings.Contains(stdout.String(), "judges fraud evidence about model") {
		t.Errorf("the node does not say which weights judge evidence:\n%s", stdout.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil // for the deferred receive

	out, err = runLedger(t, "verify", "--home", home)
	if err != nil || !strings.Contains(out, "chain cli-test") {
		t.Fatalf("verify of the validator's log: %v\n%s", err, out)
	}
	out, err = runLedger(t, "history", carol, "--home", home)
	if err != nil || !strings.Contains(out, "faucet") {
		t.Fatalf("history: %v\n%s", err, out)
	}
	t.Logf("faucet committed at height %d", r.Height)
}
