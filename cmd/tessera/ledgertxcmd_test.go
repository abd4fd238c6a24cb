package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/ledger"
)

// The account commands on an embedded dev ledger: keys, faucet, transfer,
// register, info, and their refusals.
func TestLedgerAccountCommands(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "ledger")
	alice, bob := filepath.Join(dir, "alice.key"), filepath.Join(dir, "bob.key")
	out, err := runLedger(t, "key", "--new", alice)
	if err != nil {
		t.Fatal(err)
	}
	aliceKey, err := ledger.ParsePubKey(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("key --new printed %q: %v", out, err)
	}
	if out2, err := runLedger(t, "key", alice); err != nil || out2 != out {
		t.Fatalf("key printed %q then %q (%v)", out, out2, err)
	}
	if _, err := runLedger(t, "key", "--new", alice); err == nil {
		t.Error("key --new replaced an existing key")
	}
	if _, err := runLedger(t, "key", "--new", bob); err != nil {
		t.Fatal(err)
	}
	bobOut, _ := runLedger(t, "key", bob)
	bobKey := strings.TrimSpace(bobOut)

	steps := []struct {
		args []string
		want string // in stdout, or in the error when fail
		fail bool
	}{
		{[]string{"faucet", "--key", alice, "--amount", "5000"}, "balance 5000, stake 0", false},
		{[]string{"transfer", "--key", alice, "--to", bobKey, "--amount", "1200"}, "balance 3800", false},
		{[]string{"transfer", "--key", alice, "--to", bobKey, "--amount", "999999"}, "insufficient funds", true},
		{[]string{"transfer", "--key", alice, "--to", "nothex", "--amount", "1"}, "--to", true},
		{[]string{"register", "--key", alice, "--stake", "10"}, "below the ledger's minimum node stake of 1000", true},
		{[]string{"register", "--key", alice, "--stake", "1000", "--capacity", "4"}, "balance 2800, stake 1000", false},
		// A dev ledger's faucet funds a stake the balance lacks.
		{[]string{"register", "--key", bob, "--stake", "2000"}, "balance 0, stake 2000", false},
		{[]string{"faucet", "--amount", "1"}, "--key", true},
		{[]string{"faucet", "--key", filepath.Join(dir, "missing.key")}, "tessera ledger key --new", true},
		{[]string{"balance", aliceKey.String()}, "capacity 4", false},
		{[]string{"info"}, "price      1 credits per layer and token position", false},
	}
	for _, s := range steps {
		args := append(s.args, "--home", home)
		out, err := runLedger(t, args...)
		switch {
		case s.fail && (err == nil || !strings.Contains(err.Error(), s.want)):
			t.Errorf("%v: %v, want an error mentioning %q", s.args, err, s.want)
		case !s.fail && (err != nil || !strings.Contains(out, s.want)):
			t.Errorf("%v: %v\n%s\nwant %q", s.args, err, out, s.want)
		}
	}

	// A key readable by others is refused, as the node's identity is.
	if err := os.Chmod(alice, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runLedger(t, "faucet", "--key", alice, "--home", home); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("an open key file: %v", err)
	}
	// A validator's home takes transactions through its node.
	if err := os.MkdirAll(filepath.Join(dir, "val", "config"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "val", "config", "tessera-node.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runLedger(t, "faucet", "--key", bob, "--home", filepath.Join(dir, "val")); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Errorf("a validator's home: %v", err)
	}
	// Every transaction above replays.
	if out, err := runLedger(t, "verify", "--home", home); err != nil || !strings.Contains(out, "verified") {
		t.Errorf("verify: %v %s", err, out)
	}
}
