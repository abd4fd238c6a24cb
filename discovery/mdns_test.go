package discovery

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
)

// netnsEnv marks the test binary re-run inside a network namespace that
// TestMDNSInNetworkNamespace created.
const netnsEnv = "TESSERA_TEST_IN_NETNS"

// TestMDNSInNetworkNamespace runs two nodes with --mdns and no bootstrap
// peer, which must find each other by multicast DNS. Multicast is sent only
// inside a fresh network namespace holding nothing but its own loopback
// interface: the test re-runs itself under `unshare --net`, and skips
// (saying why) where that is not possible.
func TestMDNSInNetworkNamespace(t *testing.T) {
	if os.Getenv(netnsEnv) == "1" {
		mdnsInNamespace(t)
		return
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("mDNS test skipped: %s not found (it runs only inside a network namespace the test creates)", tool)
		}
	}
	if out, err := exec.Command("unshare", "--net", "--", "true").CombinedOutput(); err != nil {
		t.Skipf("mDNS test skipped: cannot create a network namespace (%v: %s); mDNS is never tested outside one", err, strings.TrimSpace(string(out)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--", os.Args[0], "-test.run=^TestMDNSInNetworkNamespace$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestMDNSInNetworkNamespace") {
		t.Fatalf("inside the network namespace: %v\n%s", err, out)
	}
	t.Logf("inside the network namespace:\n%s", out)
}

// mdnsInNamespace runs in the namespace: loopback up with multicast, then
// two nodes that know nothing of each other but mDNS.
func mdnsInNamespace(t *testing.T) {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "set", "lo", "multicast", "on"},
		{"route", "add", "224.0.0.0/4", "dev", "lo"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	var nodes []*testNode
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		h, err := p2p.New(ctx, p2p.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		svc, err := New(ctx, Config{Host: h, MDNS: true, Interval: testInterval, TTL: testTTL})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		topic, err := svc.Join(testCommit)
		if err != nil {
			t.Fatal(err)
		}
		n := &testNode{host: h, svc: svc, topic: topic, state: state(3*i, 3*i+3, 10)}
		topic.StartAnnouncing(n.getState)
		nodes = append(nodes, n)
	}
	for i, n := range nodes {
		other := nodes[1-i]
		waitFor(t, n, "the other node found by mDNS", func(live []Entry) bool {
			return sees(live, other.id(), model.Range{First: 3 * (1 - i), Last: 3*(1-i) + 3})
		})
	}
}
