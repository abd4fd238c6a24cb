package blocklog_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/blocklog"
	"github.com/tessera-net/tessera/ledger/ledgertest"
)

func openChain(t *testing.T, path string, o blocklog.Options) *blocklog.Chain {
	t.Helper()
	g := ledgertest.Genesis()
	o.Machine = ledgertest.Machine
	c, err := blocklog.Open(path, &g, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// appendBlocks commits n blocks of up to 10 workload transactions each,
// kept whatever their outcome (as CometBFT does).
func appendBlocks(t *testing.T, c *blocklog.Chain, w *ledgertest.Workload, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		p, err := c.Begin(int64(i))
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 10; j++ {
			p.Apply(w.Next(p.State()))
		}
		if err := c.Commit(p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRejectedTransactionsAreRecorded(t *testing.T) {
	c := openChain(t, filepath.Join(t.TempDir(), "l.db"), blocklog.Options{})
	defer c.Close()
	p, _ := c.Begin(0)
	p.Apply([]byte("garbage"))
	p.Apply(ledgertest.Sign(ledgertest.ChainID, "carol", 0, &ledger.Faucet{Amount: 5}))
	if err := c.Commit(p); err != nil {
		t.Fatal(err)
	}
	rec, err := c.Block(1)
	if err != nil || len(rec.Txs) != 2 || rec.Results[0].Code != ledger.CodeMalformed || rec.Results[1].Code != ledger.CodeOK {
		t.Fatalf("block 1: %+v %v", rec, err)
	}
	r, err := c.Tx(ledger.TxHash([]byte("garbage")))
	if err != nil || r.Result.Code != ledger.CodeMalformed {
		t.Fatalf("receipt of a rejected transaction: %+v %v", r, err)
	}
	if _, err := c.Verify(nil); err != nil {
		t.Fatal(err)
	}
}

func TestStaleBlock(t *testing.T) {
	c := openChain(t, filepath.Join(t.TempDir(), "l.db"), blocklog.Options{})
	defer c.Close()
	p1, _ := c.Begin(0)
	p2, _ := c.Begin(0)
	p1.Apply(ledgertest.Sign(ledgertest.ChainID, "carol", 0, &ledger.Faucet{Amount: 5}))
	if err := c.Commit(p1); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(p2); err == nil {
		t.Fatal("committed a block built on a replaced state")
	}
	if c.Height() != 1 {
		t.Fatalf("height %d", c.Height())
	}
}

func TestHistoryPages(t *testing.T) {
	c := openChain(t, filepath.Join(t.TempDir(), "l.db"), blocklog.Options{})
	defer c.Close()
	appendBlocks(t, c, ledgertest.NewWorkload(3), 40)
	alice := ledgertest.Pub("alice")
	all, err := c.History(alice, 0, 1000)
	if err != nil || len(all) < 20 {
		t.Fatalf("%d entries, %v", len(all), err)
	}
	var paged []ledger.HistoryEntry
	for before := uint64(0); ; {
		page, err := c.History(alice, before, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		before = page[len(page)-1].Height
	}
	if len(paged) != len(all) {
		t.Fatalf("paging gave %d entries, one query %d", len(paged), len(all))
	}
	for i := range all {
		if all[i].Height != paged[i].Height || all[i].Index != paged[i].Index {
			t.Fatalf("entry %d differs", i)
		}
		if i > 0 && all[i].Height > all[i-1].Height {
			t.Fatal("not newest first")
		}
	}
}

// TestTamperedStoreRefused edits a stored block and checks that both Open
// (replaying from the last snapshot) and Verify notice.
func TestTamperedStoreRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	c := openChain(t, path, blocklog.Options{SnapshotEvery: 10})
	appendBlocks(t, c, ledgertest.NewWorkload(4), 25)
	c.Close()

	tamper := func(h uint64, mut func(*ledger.BlockRecord)) {
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		err = db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("blocks"))
			key := []byte{0, 0, 0, 0, 0, 0, 0, byte(h)}
			rec, err := ledger.DecodeBlockRecord(b.Get(key))
			if err != nil {
				return err
			}
			mut(&rec)
			return b.Put(key, rec.Encode())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// After the snapshot (height 20): Open replays block 23 and notices.
	tamper(23, func(r *ledger.BlockRecord) { r.AppHash[3] ^= 1 })
	g := ledgertest.Genesis()
	if _, err := blocklog.Open(path, &g, blocklog.Options{Machine: ledgertest.Machine}); err == nil || !strings.Contains(err.Error(), "block 23") {
		t.Fatalf("open of a tampered store: %v", err)
	}
	tamper(23, func(r *ledger.BlockRecord) { r.AppHash[3] ^= 1 }) // undo
	// Before the snapshot: Open trusts the snapshot (its hash matches block
	// 20), Verify replays from genesis and notices.
	tamper(5, func(r *ledger.BlockRecord) { r.Time++; r.Results[0].Log = "forged" })
	c, err := blocklog.Open(path, &g, blocklog.Options{Machine: ledgertest.Machine, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Verify(nil); err == nil || !strings.Contains(err.Error(), "block 5") {
		t.Fatalf("verify of a tampered store: %v", err)
	}
}

func TestNoGenesis(t *testing.T) {
	_, err := blocklog.Open(filepath.Join(t.TempDir(), "l.db"), nil, blocklog.Options{})
	if !errors.Is(err, blocklog.ErrNoGenesis) {
		t.Fatalf("%v", err)
	}
}

func TestReadOnlyWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	c := openChain(t, path, blocklog.Options{})
	defer c.Close()
	_, err := blocklog.Open(path, nil, blocklog.Options{Machine: ledgertest.Machine, ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("read-only open of a store in use: %v", err)
	}
	if _, err := blocklog.Open(filepath.Join(t.TempDir(), "none.db"), nil, blocklog.Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of a missing store succeeded")
	}
}
