package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/discovery"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/router"
	"github.com/tessera-net/tessera/swarm"
)

// childNode is `tessera node` running as a child process of the test
// binary (see TestMain), so that a test can kill it for real.
type childNode struct {
	cmd  *exec.Cmd
	id   string // peer id
	addr string // full address
	r    model.Range
}

// cliCommand returns a command running the CLI with args in a child of
// the test binary, prefixed by wrap (e.g. "ip netns exec NS").
func cliCommand(ctx context.Context, wrap []string, args ...string) *exec.Cmd {
	argv := append(append([]string(nil), wrap...), os.Args[0], "-test.run=^$")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TESSERA_TEST_CLI="+strings.Join(args, "\x1f"))
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// startChildNodes starts one `tessera node` process per range, in
// parallel, listening on listen(i) (wrapped by wrap(i), e.g. in a network
// namespace), with the extra flags, and waits for their addresses. Every
// process is killed when the test ends.
func startChildNodes(t *testing.T, ranges []model.Range, listen func(i int) string, wrap func(i int) []string, extra ...string) []*childNode {
	t.Helper()
	nodes := make([]*childNode, len(ranges))
	errs := make([]error, len(ranges))
	var wg sync.WaitGroup
	for i, r := range ranges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = startChildNode(t, r, listen(i), wrap(i), extra...)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

func startChildNode(t *testing.T, r model.Range, listen string, wrap []string, extra ...string) (*childNode, error) {
	args := append([]string{"node", "--layers", r.String(), "--listen", listen, "--threads", "1",
		"--data-dir", filepath.Join(t.TempDir(), "node"), "--http", ""}, extra...)
	cmd := cliCommand(context.Background(), wrap, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n := &childNode{cmd: cmd, r: r}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	got := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "tessera node "); ok {
				n.id, _, _ = strings.Cut(id, " ")
			}
			if strings.HasPrefix(line, "/ip4/") && strings.Contains(line, "/tcp/") && n.addr == "" {
				n.addr = line
				close(got)
			}
		}
	}()
	select {
	case <-got:
		return n, nil
	case <-time.After(90 * time.Second):
		return nil, fmt.Errorf("node %s printed no address within 90s; stderr:\n%s", r, stderr.String())
	}
}

// kill ends the node's process with SIGKILL, as a crash or power cut
// would: the kernel resets its connections.
func (n *childNode) kill() { _ = n.cmd.Process.Signal(syscall.SIGKILL) }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestFailoverKilledNodeProcess: five `tessera node` processes with
// overlapping ranges; the process computing the middle layer is killed
// with SIGKILL mid-generation. The client replaces it and the greedy
// output is the single-process one, with and without receipts and audits
// (whose certificate then verifies and passes).
func TestFailoverKilledNodeProcess(t *testing.T) {
	prompt := "And it came to pass"
	const tokens = 32
	local, err := run(t, "generate", "--prompt", prompt, "-n", fmt.Sprint(tokens), "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}
	ranges := []model.Range{{First: 0, Last: 2}, {First: 2, Last: 4}, {First: 4, Last: 6}, {First: 0, Last: 3}, {First: 3, Last: 6}}
	src, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	vk, err := demoVK(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, verify := range []bool{false, true} {
		t.Run(fmt.Sprintf("verify=%v", verify), func(t *testing.T) {
			nodes := startChildNodes(t, ranges, func(int) string { return "/ip4/127.0.0.1/tcp/0" }, func(int) []string { return nil })
			byID := map[string]*childNode{}
			var addrs []string
			for _, n := range nodes {
				byID[n.id] = n
				addrs = append(addrs, n.addr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			lm, err := loadClientModel("", 1)
			if err != nil {
				t.Fatal(err)
			}
			defer lm.Close()
			c, err := commit.Of(lm.file)
			if err != nil {
				t.Fatal(err)
			}
			h, err := p2p.New(ctx, p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			o := chainOptions{Peers: addrs, Timeout: 20 * time.Second}
			if verify {
				o.Verify = &swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: proof.AuditConfig{Cells: 2}}
			}
			var log strings.Builder
			o.OnFailover = func(f swarm.Failover) { printFailover(&log, f) }
			chain, _, err := remoteChain(ctx, h, lm, c, o)
			if err != nil {
				t.Fatal(err)
			}
			defer chain.Close()
			printRoute(&log, chain.Stats())
			var victim *childNode
			for _, st := range chain.Stats() {
				if st.Range.First <= 3 && 3 < st.Range.Last {
					victim = byID[st.Peer]
				}
			}
			if victim == nil {
				t.Fatalf("no node computes layer 3: %v", chain.Stats())
			}
			var out strings.Builder
			out.WriteString(prompt)
			client := generate.Client{Model: lm.model, Tokenizer: lm.tok}
			layers := &stopAfter{inner: chain, k: tokens / 3, stop: victim.kill}
			res, err := client.Run(ctx, layers, generate.Request{Prompt: prompt, MaxTokens: tokens}, func(s string) error {
				out.WriteString(s)
				return nil
			})
			t.Logf("client log:\n%s", log.String())
			if err != nil {
				t.Fatal(err)
			}
			if got := out.String() + "\n"; got != local {
				t.Fatalf("after killing node %s (layers %s):\n%q\nwithout failure:\n%q", victim.id, victim.r, got, local)
			}
			fos := chain.Failovers()
			if len(fos) != 1 || fos[0].Peer != victim.id {
				t.Fatalf("failovers %v", fos)
			}
			f := fos[0]
			for _, p := range f.Replacement {
				if byID[p] == nil || p == victim.id {
					t.Errorf("replacement %s is not a live node of the swarm", p)
				}
			}
			t.Logf("killed %s (layers %s) after %d calls: replaced by %d node(s), %d positions replayed in %d calls; recovery %v",
				discovery.ShortPeer(victim.id), victim.r, tokens/3, len(f.Replacement), f.Positions, f.Calls, f.Recovery)
			if verify {
				key, err := hostSigningKey(h)
				if err != nil {
					t.Fatal(err)
				}
				cert := certify(key, c.Model, prompt, res, chain, []*proof.VerificationKey{vk})
				if err := proof.VerifyCertificate(cert); err != nil || !cert.Passed || !cert.Audited {
					t.Fatalf("certificate after the failover: %v (passed %v, audited %v)", err, cert.Passed, cert.Audited)
				}
				if ret := chain.Retired(); len(ret) != 1 || ret[0].Peer != victim.id || len(ret[0].Receipts) == 0 {
					t.Fatalf("retired %+v", ret)
				}
				// The killed node's receipts are in the certificate, so the
				// ledger can pay it for what it computed.
				if len(cert.Retired) != 1 || cert.Retired[0].Peer != victim.id || cert.Retired[0].First != victim.r.First {
					t.Fatalf("certificate's retired hops %+v", cert.Retired)
				}
				s, err := certificateSettlement(cert, ledger.PubKey{})
				if err != nil {
					t.Fatal(err)
				}
				victimKey, _ := router.PeerKey(victim.id)
				if !slices.ContainsFunc(s.Work, func(w ledger.Work) bool { return proof.SameKey(victimKey, w.Node[:]) }) {
					t.Fatalf("the killed node earns nothing: %+v", s.Work)
				}
			}
		})
	}
}

// TestAutoLayersUnaligned: a node started with --layers auto joins a swarm
// whose least-served layers are not aligned with the others' ranges and
// takes Petals' choice anyway; a client routes through part of its range
// and gets the single-process output.
func TestAutoLayersUnaligned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	flags := discoveryFlags{Interval: 200 * time.Millisecond, Wait: 20 * time.Second}
	// 0:2 at 1000 tokens/s and 2:5 at 3: layer 5 is not served, 2:5 is
	// weak. With three layers of memory, Petals' rule takes 3:6 (the gap
	// and two weak layers); an aligned choice would have been 5:6.
	a := startFixedNode(t, model.Range{First: 0, Last: 2}, "", flags, 1000)
	boot := a.host.Addrs()[0]
	startFixedNode(t, model.Range{First: 2, Last: 5}, boot, flags, 3)
	src, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ConfigFromGGUF(src)
	if err != nil {
		t.Fatal(err)
	}
	costs, err := discovery.LayerCosts(src, cfg, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.topic.Wait(ctx, func(live []discovery.Entry) bool { return len(live) == 2 }); err != nil {
		t.Fatal("the two nodes did not hear each other")
	}
	fl := flags
	fl.Bootstrap = boot
	n, err := startNode(ctx, nodeOptions{Layers: "auto", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Threads: 1,
		Discovery: fl, MaxMemory: costs[3] + costs[4] + costs[5], KVPositions: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.current().Model.Range; got != (model.Range{First: 3, Last: 6}) {
		t.Fatalf("--layers auto chose %s, want 3:6", got)
	}

	prompt := "And the LORD spake unto Moses"
	want, err := run(t, "generate", "--prompt", prompt, "-n", "12", "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := run(t, "generate", "--prompt", prompt, "-n", "12", "--threads", "1", "--bootstrap", boot, "--discovery-wait", "20s")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("through the swarm %q, locally %q", got, want)
	}
}

// startFixedNode is an in-process node serving layers r that announces a
// fixed throughput, so that a test controls where the swarm is weak.
func startFixedNode(t *testing.T, r model.Range, boot string, flags discoveryFlags, tp float64) *discNode {
	t.Helper()
	n := startDiscNode(t, r, boot, flags)
	layers := 6
	n.topic.StartAnnouncing(func() discovery.State {
		return discovery.State{Layers: layers, Range: r, Throughput: tp, FreeSlots: 4, MaxPositions: 512, Software: "tessera"}
	})
	n.topic.AnnounceNow()
	return n
}

// tessera demo --kill-node: the node serving layers 2:4 stops halfway, a
// spare takes over, the text is the uninterrupted one, the certificate
// passes, and the ledger pays both nodes of layers 2:4.
func TestDemoKillNode(t *testing.T) {
	out, err := run(t, "demo", "-n", "12", "--kill-node", "-p", "In the beginning God created")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"two nodes serve layers 2:4", "In the beginning God created the world, and the things that are in the world.",
		"[failover: layers 2:4: node", "positions replayed", "(replaced: ", "PASSED"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// The certificate lists the replaced node as retired: it is paid for
	// the positions it computed, the spare for the whole session.
	if n := strings.Count(out, "(layers 2:4) earned"); n != 2 {
		t.Errorf("%d nodes of layers 2:4 paid, want the replaced one and the spare:\n%s", n, out)
	}
}
