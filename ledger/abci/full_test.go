package abci_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/abci"
	"github.com/tessera-net/tessera/ledger/blocklog"
	"github.com/tessera-net/tessera/ledger/ledgertest"
	"github.com/tessera-net/tessera/ledger/query"
)

// mountTmpfs mounts a tmpfs of the given size at dir for the test, or
// skips the test where that is not allowed (it needs root and mount).
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root and mount): %v %s", err, out)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// fill writes a file that leaves about room bytes free on dir's file
// system, and returns its path.
func fill(t *testing.T, dir string, room int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if free <= room {
		t.Fatalf("%s has only %d bytes free", dir, free)
	}
	path := filepath.Join(dir, "filler")
	if err := os.WriteFile(path, make([]byte, free-room), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFullDiskValidator runs a single-validator CometBFT ledger (a child
// process) with a small tmpfs under it (needs root; skipped otherwise) and
// submits transactions until the disk is full: with the whole home on the
// tmpfs, with only the App's block log there (the App's write fails), and
// with only CometBFT's block and state stores and WAL there (CometBFT's
// write fails). What a user needs:
//   - the submitter gets an error naming the full disk, not a timeout, and
//     the node stops by itself with the same reason instead of running on
//     without committing;
//   - after space is freed and the node restarted, every acknowledged
//     transaction is in the ledger in its block with its app hash,
//     CometBFT's block headers carry the same app hashes, the ledger commits
//     new transactions, and the block log replays from genesis.
func TestFullDiskValidator(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a CometBFT validator")
	}
	for _, c := range []struct {
		name string
		// moved are the files and directories of the home's data/ put on
		// the tmpfs (through symbolic links) so that their writes fail
		// first; none: the whole home is on the tmpfs.
		moved []string
		size  string
		room  int64 // free space left when the transactions start
	}{
		{"home", nil, "16m", 192 << 10},
		{"ledger-file", []string{"ledger.db"}, "1m", 32 << 10},
		{"cometbft-stores", []string{"blockstore.db/", "state.db/", "cs.wal/"}, "16m", 192 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			t0 := time.Now()
			mark := func(what string) { t.Logf("%6.2fs %s", time.Since(t0).Seconds(), what) }
			disk := filepath.Join(t.TempDir(), "disk")
			mountTmpfs(t, disk, c.size)
			dir := disk
			if c.moved != nil {
				dir = t.TempDir()
			}
			g := ledgertest.Genesis()
			homes, err := abci.InitTestnet(abci.TestnetOptions{
				Validators:          1,
				Dir:                 dir,
				Genesis:             &g,
				TimeoutPropose:      400 * time.Millisecond,
				TimeoutCommit:       20 * time.Millisecond,
				EmptyBlocksInterval: 300 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			home := homes[0]
			for _, m := range c.moved {
				name, isDir := strings.CutSuffix(m, "/")
				if isDir {
					if err := os.Mkdir(filepath.Join(disk, name), 0o700); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Symlink(filepath.Join(disk, name), filepath.Join(home, "data", name)); err != nil {
					t.Fatal(err)
				}
			}
			var v *validator
			t.Cleanup(func() { // before the unmount
				if v != nil {
					v.kill()
				}
			})
			v = startValidator(t, home)
			waitFor(t, "the first block", 30*time.Second, func() bool { return v.height(t) >= 1 })
			filler := fill(t, disk, c.room)
			mark(fmt.Sprintf("validator up; %s filled but for %d KiB", disk, c.room>>10))

			acked, serr := submitUntilError(t, v)
			mark(fmt.Sprintf("%d transactions acknowledged (up to height %d), then: %v", len(acked), acked[len(acked)-1].Height, serr))
			// (a) A clear error: the node's answer names the full disk;
			// a request sent while the node was already stopping finds it
			// gone (a transport error), and the node's own message below
			// names the disk.
			var se *query.StatusError
			var ue *url.Error
			switch {
			case errors.As(serr, &se):
				if !strings.Contains(se.Body.Error, "no space left on device") || !strings.Contains(se.Body.Error, "halted") {
					t.Errorf("the submitter is not told the disk is full: %v", serr)
				}
			case errors.As(serr, &ue):
			default:
				t.Errorf("unexpected submit error: %v", serr)
			}
			// The node stops by itself, saying why.
			select {
			case why := <-v.halted:
				mark("the node halted: " + why)
				if !strings.Contains(why, "no space left on device") {
					t.Errorf("the node's reason does not name the full disk: %s", why)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("the node did not halt within 60s of the disk filling")
			}
			select {
			case <-v.exited:
			case <-time.After(60 * time.Second):
				t.Fatal("the node did not exit within 60s of halting")
			}
			if code := v.cmd.ProcessState.ExitCode(); code != 4 {
				t.Errorf("exit status %d, want 4 (halted)", code)
			}
			v = nil

			// (b) Free the space, restart: nothing acknowledged is lost.
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			v = startValidator(t, home)
			last := acked[len(acked)-1]
			waitFor(t, "the restarted node to reach the last acknowledged block", 30*time.Second, func() bool { return v.height(t) >= last.Height })
			mark(fmt.Sprintf("restarted at height %d", v.height(t)))
			ctx := context.Background()
			for _, r := range acked {
				got, err := v.api.Tx(ctx, r.TxHash)
				if err != nil || got.Height != r.Height || got.Index != r.Index || got.AppHash != r.AppHash {
					t.Fatalf("acknowledged transaction %s (block %d, app hash %s) after the restart: %+v %v", r.TxHash, r.Height, r.AppHash, got, err)
				}
			}
			// It commits again (its own nonces: the failed transaction
			// may or may not have made it into a block).
			var after []ledger.Receipt
			for i := 0; i < 3; i++ {
				a, err := v.api.Account(ctx, ledgertest.Pub("erin"))
				if err != nil {
					t.Fatal(err)
				}
				r, err := v.api.Submit(ctx, ledgertest.Sign(ledgertest.ChainID, "erin", a.Nonce, &ledger.Faucet{Amount: 1}))
				if err != nil {
					t.Fatalf("after the restart: %v", err)
				}
				after = append(after, r)
			}
			top := after[len(after)-1]
			waitFor(t, "the block after the last transaction's", 30*time.Second, func() bool { return v.height(t) > top.Height })
			// CometBFT's headers agree with the ledger's app hashes: block
			// h+1 carries the app hash after block h.
			rpc := rpcURL(t, home)
			for _, r := range append(acked, after...) {
				if got := headerAppHash(t, rpc, r.Height+1); got != r.AppHash {
					t.Fatalf("block %d's header has app hash %s, the ledger %s after block %d", r.Height+1, got, r.AppHash, r.Height)
				}
			}
			mark(fmt.Sprintf("%d acknowledged transactions found in their blocks; 3 new ones committed up to height %d; CometBFT's headers agree", len(acked), top.Height))
			v.stop()
			v = nil

			// The block log replays from genesis to its app hash.
			bl, err := blocklog.Open(filepath.Join(home, abci.LedgerFile), nil, blocklog.Options{Machine: ledgertest.Machine, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer bl.Close()
			if _, err := bl.Verify(nil); err != nil {
				t.Fatal(err)
			}
			mark(fmt.Sprintf("block log verified to height %d", bl.Height()))
		})
	}
}

// submitUntilError submits faucet transactions one after the other until
// one fails, and returns the receipts acknowledged before it and the error.
func submitUntilError(t *testing.T, v *validator) ([]ledger.Receipt, error) {
	t.Helper()
	ctx := context.Background()
	nonces := map[string]uint64{}
	var acked []ledger.Receipt
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
		name := []string{"alice", "bob", "carol", "dave"}[i%4]
		r, err := v.api.Submit(ctx, ledgertest.Sign(ledgertest.ChainID, name, nonces[name], &ledger.Faucet{Amount: 1}))
		if err != nil {
			var rej *ledger.RejectError
			if errors.As(err, &rej) {
				t.Fatalf("transaction %d rejected: %v", i, err)
			}
			if len(acked) == 0 {
				t.Fatalf("the first transaction failed: %v", err)
			}
			return acked, err
		}
		nonces[name]++
		acked = append(acked, r)
	}
	t.Fatalf("the disk did not fill up (%d transactions acknowledged)", len(acked))
	return nil, nil
}

// rpcURL is the CometBFT RPC address of the validator at home.
func rpcURL(t *testing.T, home string) string {
	t.Helper()
	nc, err := abci.ReadNodeConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + strings.TrimPrefix(nc.RPCListen, "tcp://")
}

// headerAppHash is the app hash in the header of block h, from CometBFT's
// RPC.
func headerAppHash(t *testing.T, rpc string, h uint64) ledger.Hash {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/block?height=%d", rpc, h), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Result struct {
			Block struct {
				Header struct {
					AppHash string `json:"app_hash"`
				} `json:"header"`
			} `json:"block"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("block %d from CometBFT's RPC: %v", h, err)
	}
	b, err := hex.DecodeString(body.Result.Block.Header.AppHash)
	if err != nil || len(b) != len(ledger.Hash{}) {
		t.Fatalf("block %d: app hash %q", h, body.Result.Block.Header.AppHash)
	}
	return ledger.Hash(b)
}
