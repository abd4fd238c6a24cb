package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// Fault injection, end to end: nodes killed and restarted, slowed down,
// stopped without closing their connections, and full disks. Each test
// compares the text through the faulty swarm with the single-process
// text: a failover that changed the output would be a failure too.

const (
	faultPrompt = "And God said, Let there be light"
	faultTokens = 24
)

// faultClient is a client of the embedded model with its own libp2p host,
// kept across the generations of a test so that it must reconnect to a
// restarted node by itself.
type faultClient struct {
	lm *localModel
	c  commit.Commitments
	h  *p2p.Host
}

func newFaultClient(t *testing.T) *faultClient {
	t.Helper()
	lm, err := loadClientModel("", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lm.Close() })
	c, err := commit.Of(lm.file)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(context.Background(), p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &faultClient{lm: lm, c: c, h: h}
}

// generation is one generation's outcome.
type generation struct {
	text      string
	route     []swarm.HopStats // the hops at the start
	failovers []swarm.Failover
	err       error
}

// generate runs faultPrompt through the nodes at peers with the given
// round-trip timeout. Before the k-th call to the layers (k < 0: never),
// fault is called with the route's hops so it can strike one of them.
func (fc *faultClient) generate(t *testing.T, peers []string, timeout time.Duration, k int, fault func(route []swarm.HopStats)) generation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	chain, _, err := remoteChain(ctx, fc.h, fc.lm, fc.c, chainOptions{Peers: peers, Timeout: timeout})
	if err != nil {
		return generation{err: err}
	}
	defer chain.Close()
	g := generation{route: chain.Stats()}
	var stop func()
	if fault != nil {
		stop = func() { fault(g.route) }
	}
	var out strings.Builder
	out.WriteString(faultPrompt)
	client := generate.Client{Model: fc.lm.model, Tokenizer: fc.lm.tok}
	_, g.err = client.Run(ctx, &stopAfter{inner: chain, k: k, stop: stop}, generate.Request{Prompt: faultPrompt, MaxTokens: faultTokens}, func(s string) error {
		out.WriteString(s)
		return nil
	})
	g.text = out.String() + "\n"
	g.failovers = chain.Failovers()
	return g
}

// hopOf returns the peer computing layer l on route.
func hopOf(route []swarm.HopStats, l int) string {
	for _, st := range route {
		if !st.Local && st.Range.First <= l && l < st.Range.Last {
			return st.Peer
		}
	}
	return ""
}

// singleProcess is the text the embedded model generates alone.
func singleProcess(t *testing.T) string {
	t.Helper()
	want, err := run(t, "generate", "--prompt", faultPrompt, "-n", fmt.Sprint(faultTokens), "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// checkOneFailover checks that g produced the single-process text after
// exactly one failover, away from victim onto another node.
func checkOneFailover(t *testing.T, g generation, want, victim string) swarm.Failover {
	t.Helper()
	if g.err != nil {
		t.Fatalf("generation failed: %v", g.err)
	}
	if g.text != want {
		t.Fatalf("through the faulty swarm:\n%q\nsingle process:\n%q", g.text, want)
	}
	if len(g.failovers) != 1 || g.failovers[0].Peer != victim {
		t.Fatalf("failovers %v, want one away from %s", g.failovers, victim)
	}
	f := g.failovers[0]
	if len(f.Replacement) != 1 || f.Replacement[0] == victim {
		t.Fatalf("replacement %v", f.Replacement)
	}
	t.Logf("%v (detected after %v)", f, f.Detect.Round(time.Millisecond))
	return f
}

// TestFaultKillAndRestart: a node killed with SIGKILL mid-session is
// replaced by a spare and the text is unchanged; restarted on the same
// port with the same data dir, it comes back under the same peer id and
// serves new sessions of the same client (which must reconnect to it)
// with no spare left to fall back on.
func TestFaultKillAndRestart(t *testing.T) {
	want := singleProcess(t)
	ranges := []model.Range{{First: 0, Last: 3}, {First: 3, Last: 6}, {First: 3, Last: 6}}
	byID := map[string]*childNode{}
	dataDir := map[string]string{}
	var nodes []*childNode
	var addrs []string
	for _, r := range ranges {
		dir := t.TempDir()
		n, err := startChildNode(t, r, "/ip4/127.0.0.1/tcp/0", nil, "--data-dir", dir)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
		byID[n.id], dataDir[n.id] = n, dir
		addrs = append(addrs, n.addr)
	}
	fc := newFaultClient(t)

	var victim *childNode
	g := fc.generate(t, addrs, 20*time.Second, faultTokens/2, func(route []swarm.HopStats) {
		victim = byID[hopOf(route, 4)]
		victim.kill()
	})
	if victim == nil {
		t.Fatalf("no node computed layer 4: %v", g.route)
	}
	checkOneFailover(t, g, want, victim.id)
	_ = victim.cmd.Wait()

	// Restart it where it was: same port, same identity.
	listen, _, _ := strings.Cut(victim.addr, "/p2p/")
	again, err := startChildNode(t, victim.r, listen, nil, "--data-dir", dataDir[victim.id])
	if err != nil {
		t.Fatal(err)
	}
	if again.id != victim.id || again.addr != victim.addr {
		t.Fatalf("restarted as %s at %s, was %s at %s", again.id, again.addr, victim.id, victim.addr)
	}
	// The spare is gone: the new session has only the restarted node for
	// layers 3:6.
	for _, n := range nodes {
		if n != victim && n.r == victim.r {
			n.kill()
		}
	}
	g = fc.generate(t, []string{nodes[0].addr, again.addr}, 20*time.Second, -1, nil)
	if g.err != nil {
		t.Fatalf("new session on the restarted node: %v", g.err)
	}
	if g.text != want || hopOf(g.route, 4) != victim.id || len(g.failovers) != 0 {
		t.Fatalf("after the restart: route %v, failovers %v, text\n%q\nwant\n%q", g.route, g.failovers, g.text, want)
	}
}

// TestFaultStoppedNode: a node process stopped with SIGSTOP keeps its
// connections open and answers nothing. The client's round-trip timeout
// fires, it fails over to a spare and the text is unchanged; once the
// node is continued (SIGCONT) it serves new sessions again.
func TestFaultStoppedNode(t *testing.T) {
	want := singleProcess(t)
	ranges := []model.Range{{First: 0, Last: 3}, {First: 3, Last: 6}, {First: 3, Last: 6}}
	nodes := startChildNodes(t, ranges, func(int) string { return "/ip4/127.0.0.1/tcp/0" }, func(int) []string { return nil })
	byID := map[string]*childNode{}
	var addrs []string
	for _, n := range nodes {
		byID[n.id] = n
		addrs = append(addrs, n.addr)
	}
	fc := newFaultClient(t)
	// Generous, so that honest calls on a loaded machine never reach it.
	const timeout = 8 * time.Second
	var victim *childNode
	g := fc.generate(t, addrs, timeout, faultTokens/2, func(route []swarm.HopStats) {
		victim = byID[hopOf(route, 4)]
		if err := victim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Errorf("SIGSTOP: %v", err)
		}
	})
	if victim == nil {
		t.Fatalf("no node computed layer 4: %v", g.route)
	}
	t.Cleanup(func() { _ = victim.cmd.Process.Signal(syscall.SIGCONT) })
	f := checkOneFailover(t, g, want, victim.id)
	if f.Detect < timeout {
		t.Errorf("the failure was seen after %v, before the %v timeout: the stopped node cannot have answered", f.Detect, timeout)
	}
	if !isTimeoutErr(f.Cause) {
		t.Errorf("cause %v is not a timeout", f.Cause)
	}

	if err := victim.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	g = fc.generate(t, []string{nodes[0].addr, victim.addr}, 20*time.Second, -1, nil)
	if g.err != nil || g.text != want || hopOf(g.route, 4) != victim.id {
		t.Fatalf("after SIGCONT: %v, route %v, text\n%q\nwant\n%q", g.err, g.route, g.text, want)
	}
}

// isTimeoutErr reports whether err is a deadline passing.
func isTimeoutErr(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) || strings.Contains(err.Error(), "deadline")
}

// slowStream delays every answer of a node while slow is set, as an
// overloaded machine or a congested link would; the delay ends early when
// the test does, so that no goroutine outlives it.
type slowStream struct {
	network.Stream
	slow  *atomic.Bool
	delay time.Duration
	done  <-chan struct{}
}

func (s *slowStream) Write(p []byte) (int, error) {
	if s.slow.Load() {
		select {
		case <-time.After(s.delay):
		case <-s.done:
		}
	}
	return s.Stream.Write(p)
}

// slowNode is an in-process node serving r whose answers can be delayed.
type slowNode struct {
	addr, id string
	slow     atomic.Bool
}

func startSlowNode(t *testing.T, r model.Range, delay time.Duration) *slowNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, srv := embeddedServer(t, ctx, r, p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	n := &slowNode{id: h.ID(), addr: h.Addrs()[0]}
	h.Handle(wire.ProtocolID, func(s network.Stream) {
		_ = srv.ServeStream(ctx, &slowStream{Stream: s, slow: &n.slow, delay: delay, done: ctx.Done()})
	})
	h.Handle(swarm.InfoProtocolID, func(s network.Stream) { _ = srv.ServeInfo(s) })
	return n
}

// TestFaultSlowNode: a node that becomes slow mid-session (its answers
// delayed far beyond the client's round-trip timeout) is given up on when
// the timeout fires and replaced; the text is unchanged and the slow node
// is not used again by that chain.
func TestFaultSlowNode(t *testing.T) {
	want := singleProcess(t)
	const timeout = 8 * time.Second
	first := startSlowNode(t, model.Range{First: 0, Last: 3}, time.Minute)
	b := startSlowNode(t, model.Range{First: 3, Last: 6}, time.Minute)
	c := startSlowNode(t, model.Range{First: 3, Last: 6}, time.Minute)
	byID := map[string]*slowNode{b.id: b, c.id: c}
	fc := newFaultClient(t)
	var victim *slowNode
	g := fc.generate(t, []string{first.addr, b.addr, c.addr}, timeout, faultTokens/2, func(route []swarm.HopStats) {
		victim = byID[hopOf(route, 4)]
		victim.slow.Store(true)
	})
	if victim == nil {
		t.Fatalf("no node computed layer 4: %v", g.route)
	}
	f := checkOneFailover(t, g, want, victim.id)
	if f.Detect < timeout || !isTimeoutErr(f.Cause) {
		t.Errorf("failure seen after %v (%v); want the %v timeout", f.Detect, f.Cause, timeout)
	}
}

// fillDisk mounts a tmpfs of size bytes at a new directory (needs root:
// skipped otherwise) and returns it; it is unmounted when the test ends.
func fillDisk(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// ballast fills dir's file system to the last byte with one file, and
// returns its path.
func ballast(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ballast")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return p
		}
	}
}

// TestFaultFullDiskNodeDataDir: a node whose data dir is on a full disk
// cannot create its identity. It stops with an error saying so and leaves
// no identity file (a truncated key would stop every later start); once
// space is freed it starts, and a node whose identity already exists
// starts on a full disk, since it only reads it.
func TestFaultFullDiskNodeDataDir(t *testing.T) {
	disk := fillDisk(t, "1m")
	full := ballast(t, disk)
	dataDir := filepath.Join(disk, "node")
	_, err := run(t, "node", "--layers", "0:3", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir", dataDir, "--http", "", "--threads", "1")
	if err == nil || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), "identity") {
		t.Fatalf("node on a full disk: %v; want an error about writing its identity", err)
	}
	t.Logf("error: %v", err)
	ents, _ := os.ReadDir(dataDir)
	for _, e := range ents {
		t.Errorf("left %s in the data dir of a node that could not start", e.Name())
	}

	if err := os.Remove(full); err != nil {
		t.Fatal(err)
	}
	n, err := startChildNode(t, model.Range{First: 0, Last: 3}, "/ip4/127.0.0.1/tcp/0", nil, "--data-dir", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	n.kill()
	_ = n.cmd.Wait()
	ballast(t, disk)
	again, err := startChildNode(t, model.Range{First: 0, Last: 3}, "/ip4/127.0.0.1/tcp/0", nil, "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("a node with its identity on a full disk: %v", err)
	}
	if again.id != n.id {
		t.Fatalf("identity changed from %s to %s", n.id, again.id)
	}
}

// TestFaultFullDiskSlice: `tessera model slice` into a directory too
// small for its output fails saying the disk is full, and every file it
// leaves under a final name is complete (it parses and matches what a
// roomy disk gets); the file it was writing leaves nothing behind.
func TestFaultFullDiskSlice(t *testing.T) {
	roomy := t.TempDir()
	if _, err := run(t, "model", "slice", "--parts", "3", "--out", roomy); err != nil {
		t.Fatal(err)
	}
	disk := fillDisk(t, "4m")
	_, err := run(t, "model", "slice", "--parts", "3", "--out", disk)
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("slicing onto a 4 MiB disk: %v; want an error saying the disk is full", err)
	}
	t.Logf("error: %v", err)
	ents, err := os.ReadDir(disk)
	if err != nil {
		t.Fatal(err)
	}
	complete := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
			continue
		}
		got, err := os.ReadFile(filepath.Join(disk, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := os.ReadFile(filepath.Join(roomy, e.Name()))
		if err != nil {
			t.Fatalf("%s is not an output of the slice command: %v", e.Name(), err)
		}
		if string(got) != string(ref) {
			t.Errorf("%s differs from the complete file (%d bytes, want %d)", e.Name(), len(got), len(ref))
		}
		complete++
	}
	// 4 MiB holds the client file and the first slice: the test checks
	// files that completed as well as the one that did not.
	if complete == 0 {
		t.Error("no file completed before the disk filled up")
	}
}
