package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/swarm"
)

// TestLedgerReportFraud: the evidence an audit writes against a dishonest
// node, submitted with `tessera ledger report`, slashes the node's stake,
// excludes it and rewards the reporter; malformed evidence and evidence
// that proves nothing are refused with the reason and change nothing.
func TestLedgerReportFraud(t *testing.T) {
	dir := t.TempDir()
	f, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	vk, err := demoVK(f)
	if err != nil {
		t.Fatal(err)
	}
	chain, client, tok, _ := inProcessChain(t, &swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: proof.AuditConfig{Cells: 100}},
		func(srv *swarm.Server) { srv.Forward = downScaled(srv.Model) })
	if _, err := (generate.Client{Model: client, Tokenizer: tok}).Run(context.Background(), chain,
		generate.Request{Prompt: "In the beginning God created", MaxTokens: 6}, nil); err == nil {
		t.Fatal("the dishonest node was not caught")
	}
	var log bytes.Buffer
	files := reportProofs(&log, chain, filepath.Join(dir, "run"))
	if len(files) != 1 {
		t.Fatalf("evidence files %v\n%s", files, log.String())
	}

	// The dishonest node (inProcessChain's second) staked on the ledger.
	home := filepath.Join(dir, "ledger")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := openSoloLedger(filepath.Join(home, "ledger.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn := localLedger(l)
	seed := sha256.Sum256([]byte{1})
	nodeKey := ed25519.NewKeyFromSeed(seed[:])
	node := ledger.KeyOf(nodeKey)
	stake := conn.solo.Info().Params.MinNodeStake
	for _, body := range []ledger.Body{&ledger.Faucet{Amount: stake}, &ledger.Stake{Amount: stake}, &ledger.RegisterNode{Capacity: 1}} {
		if _, err := conn.account(nodeKey).send(context.Background(), body); err != nil {
			t.Fatalf("%s: %v", body.Kind(), err)
		}
	}
	conn.Close()

	reporterFile := filepath.Join(dir, "alice.key")
	if _, err := newLedgerKey(reporterFile); err != nil {
		t.Fatal(err)
	}
	report := func(file string) (string, error) {
		return runLedger(t, "report", file, "--key", reporterFile, "--home", home)
	}
	balance := func() string {
		out, err := runLedger(t, "balance", node.String(), "--home", home)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := balance()

	garbage := filepath.Join(dir, "garbage.evidence")
	_ = os.WriteFile(garbage, []byte("not evidence"), 0o644)
	if _, err := report(garbage); err == nil || !strings.Contains(err.Error(), "fraud evidence") {
		t.Fatalf("malformed evidence: %v", err)
	}
	// The same evidence claiming another equation proves nothing.
	ev, _ := os.ReadFile(files[0])
	e, err := proof.UnmarshalEvidence(ev)
	if err != nil {
		t.Fatal(err)
	}
	e.Finding.Equation = proof.EqGate
	wrong := filepath.Join(dir, "wrong.evidence")
	_ = os.WriteFile(wrong, e.Marshal(), 0o644)
	if _, err := report(wrong); ledger.CodeOf(err) != ledger.CodeInvalidEvidence {
		t.Fatalf("evidence that proves nothing: %v", err)
	}
	if got := balance(); got != before {
		t.Fatalf("refused evidence changed the node:\n%s\nwas\n%s", got, before)
	}

	out, err := report(files[0])
	if err != nil || !strings.Contains(out, "excluded for fraud") {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if got := balance(); !strings.Contains(got, "EXCLUDED for fraud") || got == before {
		t.Fatalf("the node after the evidence:\n%s", got)
	}
	// The same evidence twice is a replay.
	if _, err := report(files[0]); ledger.CodeOf(err) != ledger.CodeDuplicate {
		t.Fatalf("evidence reported twice: %v", err)
	}
}
