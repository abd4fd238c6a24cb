package main

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/slice"
)

// startSliceNodes slices the embedded model into ranges and starts one
// in-process node per slice; it returns the client file and node addresses.
func startSliceNodes(t *testing.T, ranges []model.Range) (string, []string) {
	t.Helper()
	src, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	written, err := slice.Write(src, ranges, t.TempDir(), slice.Options{Base: "kjv"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var client string
	var addrs []string
	for _, w := range written {
		if w.Slice.Client {
			client = w.Path
			continue
		}
		n, err := startNode(ctx, nodeOptions{ModelPath: w.Path, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		addrs = append(addrs, n.host.Addrs()[0])
	}
	return client, addrs
}

// Greedy output through 1, 2 and 3 nodes, and with the first layers kept
// on the client, is token for token the single-process output.
func TestGenerateThroughPeersMatchesLocal(t *testing.T) {
	prompt := "And it came to pass"
	local, err := run(t, "generate", "--prompt", prompt, "-n", "24")
	if err != nil {
		t.Fatal(err)
	}
	whole := func() (string, []string) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		n, err := startNode(ctx, nodeOptions{Layers: "0:6", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		return "", n.host.Addrs()
	}
	cases := []struct {
		name  string
		setup func() (string, []string)
		extra []string
	}{
		{"1 node serving the whole file", whole, nil},
		{"2 nodes", func() (string, []string) {
			return startSliceNodes(t, []model.Range{{First: 0, Last: 3}, {First: 3, Last: 6}})
		}, nil},
		{"3 nodes", func() (string, []string) {
			return startSliceNodes(t, []model.Range{{First: 0, Last: 2}, {First: 2, Last: 4}, {First: 4, Last: 6}})
		}, nil},
		{"3 nodes over f16", func() (string, []string) {
			return startSliceNodes(t, []model.Range{{First: 0, Last: 2}, {First: 2, Last: 4}, {First: 4, Last: 6}})
		}, []string{"--dtype", "f16"}},
		{"local layers 0:2 and 2 nodes", func() (string, []string) {
			_, addrs := startSliceNodes(t, []model.Range{{First: 0, Last: 2}, {First: 2, Last: 4}, {First: 4, Last: 6}})
			return "", addrs[1:] // the whole embedded model holds layers 0:2 for the client
		}, []string{"--local-layers", "2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client, addrs := c.setup()
			args := []string{"generate", "--prompt", prompt, "-n", "24", "--peers", strings.Join(addrs, ",")}
			if client != "" {
				args = append(args, "--model", client)
			}
			got, err := run(t, append(args, c.extra...)...)
			if err != nil {
				t.Fatal(err)
			}
			if got != local {
				t.Fatalf("through peers:\n%q\nlocally:\n%q", got, local)
			}
		})
	}
}

func TestGenerateReportsUncoveredLayers(t *testing.T) {
	client, addrs := startSliceNodes(t, []model.Range{{First: 0, Last: 2}, {First: 2, Last: 4}, {First: 4, Last: 6}})
	_, err := run(t, "generate", "--model", client, "--prompt", "x", "--peers", addrs[0]+","+addrs[2])
	if err == nil || !strings.Contains(err.Error(), "no node serves layers 2:4") {
		t.Fatalf("a chain missing layers 2:4 gave %v, want an error naming the uncovered range", err)
	}
}

// `tessera node` prints its addresses one per line; a client dials one.
func TestNodeCommandServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	cmd := newRootCmd()
	cmd.SetOut(pw)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"node", "--layers", "0:6", "--data-dir", filepath.Join(t.TempDir(), "node"), "--listen", "/ip4/127.0.0.1/tcp/0", "--threads", "1"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); pw.Close() }()

	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "/ip4/127.0.0.1/tcp/") && strings.Contains(line, "/p2p/") {
				addrs <- line
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("node exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("node printed no address within 30s")
	}
	out, err := run(t, "generate", "--prompt", "In the beginning God created", "-n", "12", "--peers", addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "In the beginning God created the world, and the things that are in the world.") {
		t.Fatalf("output through the node: %q", out)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("node stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node did not stop after its context ended")
	}
}
