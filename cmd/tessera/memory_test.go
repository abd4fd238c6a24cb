package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/synth"
	"github.com/tessera-net/tessera/wire"
)

// TestMain lets a test run the CLI as a child process of the test binary,
// so that the child's memory can be measured alone.
func TestMain(m *testing.M) {
	if args := os.Getenv("TESSERA_TEST_CLI"); args != "" {
		cmd := newRootCmd()
		cmd.SetArgs(strings.Split(args, "\x1f"))
		if err := cmd.Execute(); err != nil {
			fmt.Fprintln(os.Stderr, "tessera:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A node serving a quarter of a large model straight from the whole file
// must keep only that quarter resident, even after hashing the whole file
// for the model commitment and computing with its layers.
func TestNodeMapsOnlyItsLayers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	path := filepath.Join(t.TempDir(), "big.gguf")
	// 1.1B parameters in f16: 2.2 GB.
	cfg := synth.Config{Dim: 2048, Layers: 16, Heads: 32, KVHeads: 8, FF: 8192, Vocab: 32000, ContextLen: 256, Type: quant.F16, Seed: 1}
	if err := synth.WriteFile(path, cfg); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 2e9 {
		t.Fatalf("synthetic model is only %d bytes", st.Size())
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := commit.Compute(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "TESSERA_TEST_CLI="+strings.Join([]string{
		"node", "--model", path, "--layers", "0:4", "--threads", "1",
		"--data-dir", filepath.Join(t.TempDir(), "node"), "--listen", "/ip4/127.0.0.1/tcp/0"}, "\x1f"))
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	addr := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "/ip4/127.0.0.1/tcp/") {
			addr = line
			break
		}
	}
	if addr == "" {
		t.Fatal("node printed no address")
	}

	// Compute with the node's layers so their pages are resident.
	h, err := p2p.New(ctx, p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	id, err := h.Connect(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.OpenStream(ctx, id, wire.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exchange := func(m wire.Message) wire.Message {
		t.Helper()
		if err := wire.WriteMessage(s, m); err != nil {
			t.Fatal(err)
		}
		reply, err := wire.ReadMessage(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := reply.(*wire.Error); ok {
			t.Fatalf("node answered %v", e)
		}
		return reply
	}
	opened := exchange(&wire.OpenSession{Version: wire.Version, ModelCommit: c.Model, First: 0, Last: 4, MaxPositions: 8, DType: wire.DTypeF32}).(*wire.SessionOpened)
	hidden := make([]float32, 2*cfg.Dim)
	for i := range hidden {
		hidden[i] = float32(i%17)/17 - 0.5
	}
	payload, err := wire.EncodeHidden(nil, wire.DTypeF32, hidden, 2, cfg.Dim)
	if err != nil {
		t.Fatal(err)
	}
	exchange(&wire.Forward{SessionID: opened.SessionID, Step: 0, Start: 0, N: 2, Payload: payload})

	rss := residentBytes(t, child.Process.Pid)
	t.Logf("file %.2f GB, node resident %.2f GB after hashing the file and computing layers 0:4", float64(st.Size())/1e9, float64(rss)/1e9)
	if rss > st.Size()/2 {
		t.Fatalf("node holds %d bytes resident, more than half the %d-byte file", rss, st.Size())
	}
	if rss < st.Size()/8 {
		t.Fatalf("node holds only %d bytes resident: its quarter of the layers cannot have been computed", rss)
	}
}

func residentBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}
