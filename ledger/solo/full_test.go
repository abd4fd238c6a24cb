package solo_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/ledgertest"
	"github.com/tessera-net/tessera/ledger/solo"
)

// fillUntilError submits faucet transactions (with a snapshot every block
// to make the file grow fast) until one fails for a reason other than a
// rejection, and returns that error, the ledger's info just before it and
// the receipts acknowledged until then.
func fillUntilError(t *testing.T, l *solo.Ledger) (error, ledger.Info, []ledger.Receipt) {
	t.Helper()
	var acked []ledger.Receipt
	for i := 0; i < 100000; i++ {
		before := l.Info()
		name := []string{"alice", "bob", "carol", "dave"}[i%4]
		r, err := l.Submit(context.Background(), ledgertest.Sign(ledgertest.ChainID, name, l.Account(ledgertest.Pub(name)).Nonce, &ledger.Faucet{Amount: 1}))
		if err != nil {
			var rej *ledger.RejectError
			if errors.As(err, &rej) {
				t.Fatalf("unexpected rejection: %v", err)
			}
			return err, before, acked
		}
		acked = append(acked, r)
	}
	t.Fatal("the store never filled up")
	return nil, ledger.Info{}, nil
}

// checkAfterFull checks the ledger did not move on a failed write, and that
// a reopened store holds every acknowledged transaction.
func checkAfterFull(t *testing.T, l *solo.Ledger, path string, err error, before ledger.Info, acked []ledger.Receipt) {
	t.Helper()
	if !strings.Contains(err.Error(), "not recorded") || !strings.Contains(err.Error(), "writing block") {
		t.Errorf("error does not say what failed: %v", err)
	}
	if got := l.Info(); got != before {
		t.Fatalf("a failed write moved the ledger from %+v to %+v", before, got)
	}
	// Queries still work.
	if _, err := l.Tx(acked[len(acked)-1].TxHash); err != nil {
		t.Fatalf("query after a failed write: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	l2, err := solo.Open(path, solo.Options{Evidence: ledgertest.Checker})
	if err != nil {
		t.Fatalf("reopen after a full disk: %v", err)
	}
	defer l2.Close()
	if got := l2.Info(); got != before {
		t.Fatalf("reopened at %+v, the ledger was at %+v", got, before)
	}
	for _, r := range acked {
		if got, err := l2.Tx(r.TxHash); err != nil || got.AppHash != r.AppHash {
			t.Fatalf("acknowledged %s lost: %v", r.TxHash, err)
		}
	}
	if _, err := l2.Verify(nil); err != nil {
		t.Fatal(err)
	}
}

// TestFileSizeLimit fills a store capped by bbolt's MaxSize, which fails
// writes as a full disk would.
func TestFileSizeLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	g := ledgertest.Genesis()
	l, err := solo.Open(path, solo.Options{Genesis: &g, Evidence: ledgertest.Checker, SnapshotEvery: 1, MaxSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ferr, before, acked := fillUntilError(t, l)
	t.Logf("after %d blocks: %v", len(acked), ferr)
	checkAfterFull(t, l, path, ferr, before, acked)
}

// TestFullDisk fills a real 1 MiB tmpfs (needs root; skipped otherwise),
// checks the error and the consistency, then frees space and checks that
// the same ledger, without a restart, commits again.
func TestFullDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 256<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ledger.db")
	g := ledgertest.Genesis()
	l, err := solo.Open(path, solo.Options{Genesis: &g, Evidence: ledgertest.Checker, SnapshotEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ferr, before, acked := fillUntilError(t, l)
	t.Logf("after %d blocks: %v", len(acked), ferr)
	if !errors.Is(ferr, syscall.ENOSPC) && !strings.Contains(ferr.Error(), "no space left") {
		t.Errorf("error does not say the disk is full: %v", ferr)
	}
	if got := l.Info(); got != before {
		t.Fatalf("a failed write moved the ledger from %+v to %+v", before, got)
	}

	// Free space: the ledger goes on without a restart (unless it could
	// not prove the failed write harmless, which it must then say).
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	r, err := l.Submit(context.Background(), ledgertest.Sign(ledgertest.ChainID, "alice", l.Account(ledgertest.Pub("alice")).Nonce, &ledger.Faucet{Amount: 1}))
	switch {
	case err == nil:
		acked = append(acked, r)
		before = l.Info()
	case strings.Contains(err.Error(), "unknown state"):
		t.Logf("ledger asks to be reopened: %v", err)
	default:
		t.Fatalf("after freeing space: %v", err)
	}
	checkAfterFull(t, l, path, ferr, before, acked)
}
