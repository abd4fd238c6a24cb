package solo_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/ledgertest"
	"github.com/tessera-net/tessera/ledger/solo"
)

func open(t testing.TB, path string, o solo.Options) *solo.Ledger {
	t.Helper()
	if o.Genesis == nil {
		g := ledgertest.Genesis()
		o.Genesis = &g
	}
	if o.Evidence == nil {
		o.Evidence = ledgertest.Checker
	}
	l, err := solo.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// submitWorkload submits n workload transactions one at a time and returns
// the receipts of the accepted ones.
func submitWorkload(t testing.TB, l *solo.Ledger, seed uint64, n int) []ledger.Receipt {
	t.Helper()
	w := ledgertest.NewWorkload(seed)
	var out []ledger.Receipt
	for i := 0; i < n; i++ {
		r, err := l.Submit(context.Background(), w.Next(l))
		var rej *ledger.RejectError
		switch {
		case errors.As(err, &rej):
		case err != nil:
			t.Fatal(err)
		default:
			out = append(out, r)
		}
	}
	return out
}

func TestSubmitReopenVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, path, solo.Options{SnapshotEvery: 7})
	if h := l.Height(); h != 0 {
		t.Fatalf("new ledger at height %d", h)
	}
	genesisHash := l.AppHash()
	receipts := submitWorkload(t, l, 1, 300)
	if len(receipts) < 100 {
		t.Fatalf("only %d of 300 accepted", len(receipts))
	}
	info := l.Info()
	if info.AppHash == genesisHash || info.Height != uint64(len(receipts)) {
		t.Fatalf("info %+v after %d accepted transactions (one block each)", info, len(receipts))
	}
	// Every receipt can be looked up and its block holds its app hash.
	for _, r := range receipts {
		got, err := l.Tx(r.TxHash)
		if err != nil || got.Height != r.Height || got.AppHash != r.AppHash {
			t.Fatalf("lookup %s: %+v %v, want %+v", r.TxHash, got, err, r)
		}
	}
	hist, err := l.History(ledgertest.Pub("alice"), 0, 5)
	if err != nil || len(hist) != 5 || hist[0].Height < hist[4].Height {
		t.Fatalf("history: %v %+v", err, hist)
	}
	older, err := l.History(ledgertest.Pub("alice"), hist[4].Height, 5)
	if err != nil || len(older) == 0 || older[0].Height >= hist[4].Height {
		t.Fatalf("history before %d: %v %+v", hist[4].Height, err, older)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Submit(context.Background(), []byte{1}); !errors.Is(err, solo.ErrClosed) {
		t.Fatalf("submit after close: %v", err)
	}

	// Reopen (from the snapshot plus the blocks after it): same state.
	l = open(t, path, solo.Options{SnapshotEvery: 7})
	if got := l.Info(); got != info {
		t.Fatalf("reopened at %+v, closed at %+v", got, info)
	}
	rep, err := l.Verify(nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Height != info.Height || rep.AppHash != info.AppHash || rep.Txs != uint64(len(receipts)) {
		t.Fatalf("verify %+v, want height %d", rep, info.Height)
	}
	l.Close()

	// A read-only open sees the same, and cannot write.
	ro, err := solo.Open(path, solo.Options{ReadOnly: true, Evidence: ledgertest.Checker})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.Info() != info {
		t.Fatal("read-only open differs")
	}
	_, err = ro.Submit(context.Background(), ledgertest.Sign(ledgertest.ChainID, "carol", ro.Account(ledgertest.Pub("carol")).Nonce, &ledger.Faucet{Amount: 1}))
	if err == nil {
		t.Fatal("read-only ledger accepted a transaction")
	}
}

func TestRejectedChangesNothing(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), solo.Options{})
	defer l.Close()
	before := l.Info()
	_, err := l.Submit(context.Background(), ledgertest.Sign(ledgertest.ChainID, "bob", 0, &ledger.Transfer{To: ledgertest.Pub("alice"), Amount: 1 << 40}))
	var rej *ledger.RejectError
	if !errors.As(err, &rej) || rej.Code != ledger.CodeInsufficientFunds {
		t.Fatalf("overdraft: %v", err)
	}
	if _, err := l.Submit(context.Background(), []byte("garbage")); ledger.CodeOf(err) != ledger.CodeMalformed {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := l.Submit(context.Background(), ledgertest.Sign(ledgertest.ChainID, "n1", 0, &ledger.RegisterNode{Capacity: 1})); err != nil {
		t.Fatal(err)
	}
	before = l.Info()
	_, err = l.Submit(context.Background(), ledgertest.Sign(ledgertest.ChainID, "bob", 0, &ledger.SubmitEvidence{Node: ledgertest.Pub("n1"), Evidence: []byte("unjudgeable")}))
	if ledger.CodeOf(err) != ledger.CodeUnjudgeable {
		t.Fatalf("evidence the checker cannot judge: %v", err)
	}
	if l.Info() != before {
		t.Fatal("rejected transactions changed the ledger")
	}
}

func TestGenesisMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	open(t, path, solo.Options{}).Close()
	other := ledger.DevGenesis("another-chain")
	if _, err := solo.Open(path, solo.Options{Genesis: &other}); err == nil {
		t.Fatal("opened a store with another genesis")
	}
	// Without a genesis, the store's own is used.
	l, err := solo.Open(path, solo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Info().ChainID != ledgertest.ChainID {
		t.Fatalf("chain %q", l.Info().ChainID)
	}
}

func TestDefaultGenesis(t *testing.T) {
	l, err := solo.Open(filepath.Join(t.TempDir(), "ledger.db"), solo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if info := l.Info(); info.ChainID != solo.DefaultChainID || !info.Params.DevMode {
		t.Fatalf("%+v", info)
	}
}

// TestConcurrentSubmit checks group commit: concurrent submitters share
// blocks, every acknowledged transaction is there after reopening.
func TestConcurrentSubmit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, path, solo.Options{})
	const workers, each = 8, 25
	var wg sync.WaitGroup
	receipts := make(chan ledger.Receipt, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r, err := l.Submit(context.Background(), ledgertest.Sign(ledgertest.ChainID, name, uint64(i), &ledger.Faucet{Amount: 10}))
				if err != nil {
					t.Error(err)
					return
				}
				receipts <- r
			}
		}(string(rune('A' + w)))
	}
	wg.Wait()
	close(receipts)
	info := l.Info()
	l.Close()
	if info.Height >= workers*each {
		t.Logf("no grouping happened: %d blocks for %d transactions", info.Height, workers*each)
	}
	l = open(t, path, solo.Options{})
	defer l.Close()
	n := 0
	for r := range receipts {
		n++
		if got, err := l.Tx(r.TxHash); err != nil || got.Height != r.Height {
			t.Fatalf("acknowledged %s missing after reopen: %v", r.TxHash, err)
		}
	}
	if n != workers*each || l.Info().Supply.Minted != workers*each*10 {
		t.Fatalf("%d receipts, minted %d", n, l.Info().Supply.Minted)
	}
}

func BenchmarkSubmit(b *testing.B) {
	l := open(b, filepath.Join(b.TempDir(), "ledger.db"), solo.Options{})
	defer l.Close()
	b.ResetTimer()
	var wg sync.WaitGroup
	const workers = 64
	per := b.N/workers + 1
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := l.Submit(context.Background(), ledgertest.Sign(ledgertest.ChainID, name, uint64(i), &ledger.Faucet{Amount: 1})); err != nil {
					b.Error(err)
					return
				}
			}
		}(string(rune('A'+w%26)) + string(rune('a'+w/26)))
	}
	wg.Wait()
	b.ReportMetric(float64(workers*per)/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkCertificate is the latency of settling one certificate (three
// nodes) on the solo store: apply, fsync, acknowledge.
func BenchmarkCertificate(b *testing.B) {
	l := open(b, filepath.Join(b.TempDir(), "ledger.db"), solo.Options{})
	defer l.Close()
	ctx := context.Background()
	for _, n := range []string{"n1", "n2", "n3"} {
		if _, err := l.Submit(ctx, ledgertest.Sign(ledgertest.ChainID, n, 0, &ledger.RegisterNode{Capacity: 4})); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := &ledger.SubmitCertificate{ID: ledger.Hash{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)},
			Client: ledgertest.Pub("alice"), Auditor: ledgertest.Pub("aud"), Tokens: 8, Passed: true}
		for _, n := range []string{"n1", "n2", "n3"} {
			c.Work = append(c.Work, ledger.Work{Node: ledgertest.Pub(n), Layers: 2, Positions: 8})
		}
		c.SignAuditor(ledgertest.ChainID, ledgertest.Key("aud"))
		if _, err := l.Submit(ctx, ledgertest.Sign(ledgertest.ChainID, "alice", uint64(i), c)); err != nil {
			b.Fatal(err)
		}
	}
}
