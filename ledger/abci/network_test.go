package abci_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	cmtlog "github.com/cometbft/cometbft/libs/log"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/abci"
	"github.com/tessera-net/tessera/ledger/blocklog"
	"github.com/tessera-net/tessera/ledger/ledgertest"
	"github.com/tessera-net/tessera/ledger/query"
)

var _ query.Submitter = (*abci.Node)(nil)

const nodeChildEnv = "TESSERA_ABCI_NODE_CHILD"

// TestNodeChild is a validator process for TestNetwork and
// TestFullDiskValidator: it runs the validator whose home is
// $TESSERA_ABCI_NODE_CHILD, serves the ledger API, prints "ready URL", and
// stops on SIGTERM; if the node halts, it prints "halted: REASON" and exits
// with status 4.
func TestNodeChild(t *testing.T) {
	home := os.Getenv(nodeChildEnv)
	if home == "" {
		t.Skip("run by TestNetwork and TestFullDiskValidator")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		// The parent holds our stdin: if it dies, so do we.
		io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	var logger cmtlog.Logger // TESSERA_ABCI_NODE_LOG=1: CometBFT's errors on stderr, to debug
	if os.Getenv("TESSERA_ABCI_NODE_LOG") != "" {
		logger = cmtlog.NewFilter(cmtlog.NewTMLogger(os.Stderr), cmtlog.AllowError())
	}
	n, err := abci.StartNode(home, abci.NodeOptions{Evidence: ledgertest.Checker, SubmitTimeout: 20 * time.Second, Logger: logger})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	l, err := net.Listen("tcp", n.Config.HTTPListen)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	srv := &http.Server{Handler: query.Handler(n.Chain(), n)}
	go srv.Serve(l)
	fmt.Printf("ready http://%s\n", l.Addr())
	select {
	case <-ctx.Done():
		n.Stop()
		os.Exit(0)
	case <-n.Halted():
		// As `tessera ledger node` does: answer the requests under way
		// (with the reason), stop, and say why.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
		n.Stop()
		fmt.Printf("halted: %v\n", n.Err())
		os.Exit(4)
	}
}

// validator is a validator child process.
type validator struct {
	name   string
	home   string
	cmd    *exec.Cmd
	api    *query.Client
	halted chan string   // the reason the child printed on halting
	exited chan struct{} // closed once the child has exited and its output is read
}

func startValidator(t *testing.T, home string) *validator {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestNodeChild$")
	cmd.Env = append(os.Environ(), nodeChildEnv+"="+home)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.StdinPipe(); err != nil { // closed when this process exits
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v := &validator{name: filepath.Base(home), home: home, cmd: cmd,
		halted: make(chan string, 1), exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- url
			} else if why, ok := strings.CutPrefix(sc.Text(), "halted: "); ok {
				v.halted <- why
			} else {
				fmt.Fprintf(os.Stderr, "%s: %s\n", v.name, sc.Text())
			}
		}
		close(ready)
		// Wait closes the pipe: only after everything in it was read.
		cmd.Wait()
		close(v.exited)
	}()
	select {
	case url, ok := <-ready:
		if !ok {
			<-v.exited
			t.Fatalf("%s exited before it was ready", v.name)
		}
		v.api = &query.Client{URL: url}
	case <-time.After(30 * time.Second):
		v.kill()
		t.Fatalf("%s not ready after 30s", v.name)
	}
	return v
}

// kill stops the validator with SIGKILL: no shutdown at all.
func (v *validator) kill() {
	v.cmd.Process.Signal(syscall.SIGKILL)
	<-v.exited
}

// stop asks the validator to shut down, and kills it if it takes long.
func (v *validator) stop() {
	v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.exited:
	case <-time.After(10 * time.Second):
		v.kill()
	}
}

func (v *validator) height(t *testing.T) uint64 {
	t.Helper()
	info, err := v.api.Info(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", v.name, err)
	}
	return info.Height
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNetwork runs 4 validators as child processes on 127.0.0.1 and
// drives them through their ledger APIs: transactions committed through
// different validators; one validator killed with SIGKILL while the other
// three keep committing; the killed one restarted, catching up and taking
// transactions again. At the end every block log must replay (verify) and
// all must hold the same app hash at every height.
func TestNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a CometBFT network")
	}
	t0 := time.Now()
	mark := func(what string) { t.Logf("%6.2fs %s", time.Since(t0).Seconds(), what) }
	g := ledgertest.Genesis()
	homes, err := abci.InitTestnet(abci.TestnetOptions{
		Validators:          4,
		Dir:                 t.TempDir(),
		Genesis:             &g,
		BasePort:            0, // free ports on 127.0.0.1
		TimeoutPropose:      400 * time.Millisecond,
		TimeoutCommit:       20 * time.Millisecond,
		EmptyBlocksInterval: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]*validator, len(homes))
	for i, h := range homes {
		vals[i] = startValidator(t, h)
	}
	defer func() {
		for _, v := range vals {
			if v != nil {
				v.kill()
			}
		}
	}()
	all := func(min uint64) func() bool {
		return func() bool {
			for _, v := range vals {
				if v.height(t) < min {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, "the first blocks", 30*time.Second, all(2))
	mark("4 validators committing")

	ctx := context.Background()
	// Clients keep their own nonces: a validator may not yet have
	// committed the block that another one just reported.
	nonces := map[string]uint64{}
	submit := func(v *validator, name string, body ledger.Body) ledger.Receipt {
		t.Helper()
		r, err := v.api.Submit(ctx, ledgertest.Sign(ledgertest.ChainID, name, nonces[name], body))
		if err != nil {
			t.Fatalf("%s %s via %s: %v", name, body.Kind(), v.name, err)
		}
		nonces[name]++
		return r
	}
	submit(vals[0], "carol", &ledger.Faucet{Amount: 500})
	submit(vals[1], "alice", &ledger.Transfer{To: ledgertest.Pub("carol"), Amount: 250})
	submit(vals[2], "n1", &ledger.RegisterNode{Capacity: 8})
	// A rejection comes back with its code and reason.
	_, err = vals[3].api.Submit(ctx, ledgertest.Sign(ledgertest.ChainID, "dave", 0, &ledger.Transfer{To: ledgertest.Pub("carol"), Amount: 1}))
	var rej *ledger.RejectError
	if !errors.As(err, &rej) || rej.Code != ledger.CodeInsufficientFunds || rej.Reason == "" {
		t.Fatalf("overdraft: %v", err)
	}
	mark("transactions through 3 validators")

	// Kill node3: three of four validators keep committing.
	vals[3].kill()
	killed := vals[3]
	vals = vals[:3]
	before := vals[0].height(t)
	for i := 0; i < 3; i++ {
		submit(vals[i], "alice", &ledger.Transfer{To: ledgertest.Pub("dave"), Amount: uint64(10 + i)})
	}
	waitFor(t, "blocks without node3", 20*time.Second, all(before+3))
	mark("node3 killed, 3 more transactions committed")

	// Restart node3: it catches up and takes transactions again.
	vals = append(vals, startValidator(t, killed.home))
	target := vals[0].height(t)
	waitFor(t, "node3 to catch up", 30*time.Second, all(target))
	mark("node3 restarted and caught up")
	last := submit(vals[3], "dave", &ledger.Transfer{To: ledgertest.Pub("carol"), Amount: 5})
	waitFor(t, "every validator to commit the last transaction", 20*time.Second, all(last.Height))
	for _, v := range vals {
		a, err := v.api.Account(ctx, ledgertest.Pub("carol"))
		if err != nil || a.Balance != 500+250+5 {
			t.Errorf("%s: carol %+v %v", v.name, a, err)
		}
		if r, err := v.api.Tx(ctx, last.TxHash); err != nil || r.AppHash != last.AppHash {
			t.Errorf("%s: last transaction %+v %v, want app hash %s", v.name, r, err, last.AppHash)
		}
	}

	// Stop everyone; every block log verifies and all agree at every height.
	for _, v := range vals {
		v.stop()
	}
	vals = nil
	mark("stopped")
	var logs [][]ledger.Hash
	for _, h := range homes {
		c, err := blocklog.Open(filepath.Join(h, abci.LedgerFile), nil, blocklog.Options{Machine: ledgertest.Machine, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Verify(nil); err != nil {
			t.Fatalf("%s: %v", filepath.Base(h), err)
		}
		var hashes []ledger.Hash
		for ht := uint64(1); ht <= c.Height(); ht++ {
			rec, err := c.Block(ht)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, rec.AppHash)
		}
		c.Close()
		logs = append(logs, hashes)
	}
	top := len(logs[0])
	for i, hs := range logs {
		top = min(top, len(hs))
		for ht := 0; ht < min(len(hs), len(logs[0])); ht++ {
			if hs[ht] != logs[0][ht] {
				t.Fatalf("height %d: node%d has app hash %s, node0 %s", ht+1, i, hs[ht], logs[0][ht])
			}
		}
	}
	if uint64(top) < last.Height {
		t.Fatalf("block logs end at %d, below the last transaction's block %d", top, last.Height)
	}
	mark(fmt.Sprintf("4 block logs verified, identical app hashes at heights 1..%d", top))
}
