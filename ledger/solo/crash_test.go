package solo_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/ledgertest"
	"github.com/tessera-net/tessera/ledger/solo"
)

const crashEnv = "TESSERA_SOLO_CRASH_CHILD"

type ack struct {
	tx      ledger.Hash
	height  uint64
	appHash ledger.Hash
}

// TestCrashChild is the child of TestCrash: it appends transactions to the
// store named by $TESSERA_SOLO_CRASH_CHILD until killed, printing each
// acknowledgement ("ack TXHASH HEIGHT APPHASH") only after Submit returned.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestCrash")
	}
	g := ledgertest.Genesis()
	l, err := solo.Open(path, solo.Options{Genesis: &g, Evidence: ledgertest.Checker, SnapshotEvery: 5})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(2)
	}
	fmt.Printf("open %d %s\n", l.Height(), l.AppHash())
	var mu sync.Mutex
	report := func(r ledger.Receipt) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf("ack %s %d %s\n", r.TxHash, r.Height, r.AppHash) // unbuffered: one write
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashEnv+"_SEED"), 10, 64)
	// One goroutine runs the random workload; three others use the faucet
	// concurrently (their own accounts), so blocks group transactions.
	for i := 0; i < 3; i++ {
		go func(name string) {
			nonce := l.Account(ledgertest.Pub(name)).Nonce
			for {
				r, err := l.Submit(context.Background(), ledgertest.Sign(ledgertest.ChainID, name, nonce, &ledger.Faucet{Amount: 1}))
				if err != nil {
					fmt.Println("faucet error:", err)
					os.Exit(3)
				}
				nonce++
				report(r)
			}
		}(fmt.Sprintf("faucet-%d", i))
	}
	w := ledgertest.NewWorkload(seed)
	for {
		r, err := l.Submit(context.Background(), w.Next(l))
		var rej *ledger.RejectError
		if errors.As(err, &rej) {
			continue
		}
		if err != nil {
			fmt.Println("submit error:", err)
			os.Exit(3)
		}
		report(r)
	}
}

// TestCrash kills a child appending transactions with SIGKILL at random
// moments, several times over the same store, and checks after each kill
// that the store reopens, replays to the app hash it stores, and holds
// every transaction the child saw acknowledged, in its block, with its app
// hash.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "ledger.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var all []ack
	for round := 0; round < 8; round++ {
		acks := runAndKill(t, path, round, time.Duration(rng.IntN(250))*time.Millisecond)
		all = append(all, acks...)

		g := ledgertest.Genesis()
		l, err := solo.Open(path, solo.Options{Genesis: &g, Evidence: ledgertest.Checker, SnapshotEvery: 5})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		var last uint64
		for _, a := range all {
			r, err := l.Tx(a.tx)
			if err != nil {
				t.Fatalf("round %d: acknowledged transaction %s lost: %v", round, a.tx, err)
			}
			if r.Height != a.height || r.AppHash != a.appHash {
				t.Fatalf("round %d: transaction %s: block %d app hash %s, acknowledged in %d with %s",
					round, a.tx, r.Height, r.AppHash, a.height, a.appHash)
			}
			last = max(last, a.height)
		}
		if l.Height() < last {
			t.Fatalf("round %d: reopened at height %d, below acknowledged %d", round, l.Height(), last)
		}
		t.Logf("round %d: killed after %d acks, reopened at height %d", round, len(acks), l.Height())
		if round == 7 {
			if _, err := l.Verify(nil); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
	}
	if len(all) == 0 {
		t.Fatal("no transaction was ever acknowledged")
	}
}

func runAndKill(t *testing.T, path string, round int, after time.Duration) []ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), crashEnv+"="+path, crashEnv+"_SEED="+strconv.Itoa(round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []ack
	done := make(chan error, 1)
	opened := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.OnceFunc(func() { close(opened) })
		defer once()
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "open":
				once()
			case len(f) == 4 && f[0] == "ack":
				tx, err1 := ledger.ParseHash(f[1])
				h, err2 := strconv.ParseUint(f[2], 10, 64)
				ah, err3 := ledger.ParseHash(f[3])
				if err := errors.Join(err1, err2, err3); err != nil {
					done <- fmt.Errorf("bad line %q: %v", sc.Text(), err)
					return
				}
				acks = append(acks, ack{tx, h, ah})
			case len(f) > 0:
				done <- fmt.Errorf("child: %s", sc.Text())
				return
			}
		}
		done <- nil
	}()
	// Kill at a random moment: half the rounds while the child is still
	// opening (replaying) the store, half while it is appending.
	if round%2 == 1 {
		select {
		case <-opened:
		case <-time.After(10 * time.Second):
		}
	}
	time.Sleep(after)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return acks
}
