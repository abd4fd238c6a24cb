package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-net/tessera/model"
)

// netLab is a small network of Linux network namespaces made for one test:
// a hub namespace holding a bridge, and endpoint namespaces each linked to
// it by a veth pair (10.77.0.N/24 on the endpoint's eth0). Links are
// slowed with tc (netem delay when the kernel has it, else a tbf rate
// limit), and a link can be cut to partition its endpoint. Everything is
// deleted when the test ends, whatever its outcome.
type netLab struct {
	t      *testing.T
	prefix string
	hub    string
	shaped string // how links are slowed, for the log
	next   int
}

const labPrefix = "tsrft-"

// newNetLab creates the hub, or skips the test saying why namespaces are
// not available here.
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root (CAP_NET_ADMIN): skipping the multi-host test")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no `ip` command (apt-get install iproute2): skipping the multi-host test")
	}
	cleanStaleLabs()
	l := &netLab{t: t, prefix: fmt.Sprintf("%s%d-", labPrefix, os.Getpid())}
	l.hub = l.prefix + "hub"
	if out, err := exec.Command("ip", "netns", "add", l.hub).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace (%v: %s): skipping the multi-host test", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(l.close)
	l.ip(l.hub, "link", "set", "lo", "up")
	l.ip(l.hub, "link", "add", "br0", "type", "bridge")
	l.ip(l.hub, "link", "set", "br0", "up")
	return l
}

// cleanStaleLabs deletes namespaces left by earlier runs of this test
// whose process is gone (a run killed before its cleanup).
func cleanStaleLabs() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, labPrefix)
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if _, err := os.Stat("/proc/" + pid); err == nil {
			continue
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}

func (l *netLab) close() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, l.prefix) {
			if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
				l.t.Logf("deleting namespace %s: %v %s", name, err, out)
			}
		}
	}
}

// ip runs `ip` in namespace ns and fails the test on error.
func (l *netLab) ip(ns string, args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip -n %s %s: %v %s", ns, strings.Join(args, " "), err, out)
	}
}

// endpoint creates a namespace linked to the hub; it returns the
// namespace and its address.
func (l *netLab) endpoint() (ns, addr string) {
	l.t.Helper()
	i := l.next
	l.next++
	ns = fmt.Sprintf("%se%d", l.prefix, i)
	addr = fmt.Sprintf("10.77.0.%d", i+1)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		l.t.Fatalf("ip netns add %s: %v %s", ns, err, out)
	}
	hubSide := fmt.Sprintf("h%d", i)
	l.ip(ns, "link", "set", "lo", "up")
	l.ip(ns, "link", "add", "eth0", "type", "veth", "peer", "name", hubSide, "netns", l.hub)
	l.ip(ns, "addr", "add", addr+"/24", "dev", "eth0")
	l.ip(ns, "link", "set", "eth0", "up")
	// mDNS sends to 224.0.0.251 out of eth0.
	l.ip(ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
	l.ip(l.hub, "link", "set", hubSide, "master", "br0")
	l.ip(l.hub, "link", "set", hubSide, "up")
	l.shape(ns)
	return ns, addr
}

// shape slows the endpoint's link: 10 ms of delay each way with netem,
// or, on kernels without sch_netem, a 1 Mbit/s rate limit (which delays
// each hidden state by its size).
func (l *netLab) shape(ns string) {
	l.t.Helper()
	if err := exec.Command("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "10ms").Run(); err == nil {
		l.shaped = "tc netem delay 10ms on every link"
		return
	}
	out, err := exec.Command("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
		"rate", "1mbit", "burst", "8kb", "latency", "400ms").CombinedOutput()
	if err != nil {
		l.t.Logf("tc is not usable here (%v %s): links are not slowed", err, strings.TrimSpace(string(out)))
		l.shaped = "no tc shaping"
		return
	}
	l.shaped = "tc netem is not available in this kernel: links are rate-limited with tbf at 1 Mbit/s instead of delayed"
}

// cut partitions endpoint i: its hub-side link goes down, and packets to
// and from it are dropped without a word.
func (l *netLab) cut(i int) {
	l.t.Helper()
	l.ip(l.hub, "link", "set", fmt.Sprintf("h%d", i), "down")
}

func (l *netLab) exec(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// clientRun is a CLI process whose stdout and stderr are followed.
type clientRun struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout strings.Builder
	stderr strings.Builder
	done   chan error
}

func startClient(t *testing.T, ctx context.Context, wrap []string, args ...string) *clientRun {
	t.Helper()
	c := &clientRun{cmd: cliCommand(ctx, wrap, args...), done: make(chan error, 1)}
	outPipe, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	follow := func(r io.Reader, b *strings.Builder) {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			c.mu.Lock()
			b.Write(buf[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go follow(outPipe, &c.stdout)
	go follow(errPipe, &c.stderr)
	go func() {
		wg.Wait()
		c.done <- c.cmd.Wait()
	}()
	return c
}

func (c *clientRun) output() (string, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stdout.String(), c.stderr.String()
}

var routeHop = regexp.MustCompile(`layers (\d+):(\d+) node …(\S+?)[,\]]`)

// waitFor polls cond every 10 ms until it holds, the client exits or ctx
// ends.
func (c *clientRun) waitFor(ctx context.Context, cond func(stdout, stderr string) bool) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond(c.output()) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// TestFailoverNetworkPartition runs nodes and the client in network
// namespaces of their own, linked through a bridge with shaped links, and
// cuts the link of the node computing the middle layer while the client
// generates: the client sees nothing more from it, gives up on it after
// --timeout, fails over and prints the same text as a single process.
// Then the same with nodes and client finding each other by mDNS only.
func TestFailoverNetworkPartition(t *testing.T) {
	lab := newNetLab(t)
	prompt := "And it came to pass"
	const tokens = "40"
	want, err := run(t, "generate", "--prompt", prompt, "-n", tokens, "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}
	ranges := []model.Range{{First: 0, Last: 2}, {First: 2, Last: 4}, {First: 4, Last: 6}, {First: 1, Last: 6}}
	var nss, ips []string
	for range ranges {
		ns, ip := lab.endpoint()
		nss, ips = append(nss, ns), append(ips, ip)
	}
	clientNS, _ := lab.endpoint()
	t.Log(lab.shaped)

	for _, mode := range []string{"peers", "mdns"} {
		t.Run(mode, func(t *testing.T) {
			extra := []string{}
			if mode == "mdns" {
				extra = []string{"--mdns", "--announce-interval", "500ms"}
			}
			listen := func(i int) string { return fmt.Sprintf("/ip4/%s/tcp/%d", ips[i], 4100+len(mode)) }
			nodes := startChildNodes(t, ranges, listen, func(i int) []string { return lab.exec(nss[i]) }, extra...)
			defer func() {
				for _, n := range nodes {
					n.kill()
				}
				for i := range nodes {
					lab.ip(lab.hub, "link", "set", fmt.Sprintf("h%d", i), "up")
				}
			}()
			args := []string{"generate", "--prompt", prompt, "-n", tokens, "--threads", "1", "--timeout", "2s"}
			if mode == "peers" {
				var addrs []string
				for _, n := range nodes {
					addrs = append(addrs, n.addr)
				}
				args = append(args, "--peers", strings.Join(addrs, ","))
			} else {
				args = append(args, "--mdns", "--discovery-wait", "30s")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c := startClient(t, ctx, lab.exec(clientNS), args...)
			// Once the text has started, cut the node computing layer 3.
			victim := -1
			ok := c.waitFor(ctx, func(stdout, stderr string) bool {
				if len(stdout) <= len(prompt) {
					return false
				}
				for _, m := range routeHop.FindAllStringSubmatch(stderr, -1) {
					first, _ := strconv.Atoi(m[1])
					last, _ := strconv.Atoi(m[2])
					for i, n := range nodes {
						if first <= 3 && 3 < last && strings.HasSuffix(n.id, m[3]) {
							victim = i
						}
					}
				}
				return victim >= 0
			})
			if !ok {
				stdout, stderr := c.output()
				t.Fatalf("the client did not start generating through the nodes:\n%s\n%s", stdout, stderr)
			}
			at, _ := c.output()
			lab.cut(victim)
			err := <-c.done
			stdout, stderr := c.output()
			t.Logf("cut node %d (layers %s) after %d bytes of text; client stderr:\n%s", victim, nodes[victim].r, len(at)-len(prompt), stderr)
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			if stdout != want {
				t.Fatalf("after the partition:\n%q\nwithout it:\n%q", stdout, want)
			}
			m := regexp.MustCompile(`failover: layers \S+: node …\S+ failed after (\S+) .*recovered in (\S+)\]`).FindStringSubmatch(stderr)
			if m == nil {
				t.Fatalf("no failover reported (the generation ended before the cut?)")
			}
			t.Logf("%s: partitioned node given up after %s (--timeout 2s), recovery %s", mode, m[1], m[2])
		})
	}
}

// TestFiguresAnnouncementTraffic measures what discovery costs an idle
// swarm: N nodes, each in its own namespace, join through the first one
// and announce every --announce-interval; after they settle, each node's
// bytes on the wire (its interface's tx and rx counters, TCP/IP headers
// included) are read over a window. TESSERA_SWARM_FIGURES=1 to run;
// TESSERA_SWARM_NODES (default 5), TESSERA_SWARM_INTERVAL (default 30s),
// TESSERA_SWARM_WINDOW (default 4 intervals).
func TestFiguresAnnouncementTraffic(t *testing.T) {
	if os.Getenv("TESSERA_SWARM_FIGURES") == "" {
		t.Skip("set TESSERA_SWARM_FIGURES=1 to measure")
	}
	lab := newNetLab(t)
	n, interval := 5, 30*time.Second
	if s := os.Getenv("TESSERA_SWARM_NODES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("TESSERA_SWARM_INTERVAL"); s != "" {
		interval, _ = time.ParseDuration(s)
	}
	window := 4 * interval
	if s := os.Getenv("TESSERA_SWARM_WINDOW"); s != "" {
		window, _ = time.ParseDuration(s)
	}
	var nss, ips []string
	for range n {
		ns, ip := lab.endpoint()
		nss, ips = append(nss, ns), append(ips, ip)
	}
	counters := func() []uint64 {
		out := make([]uint64, n)
		for i, ns := range nss {
			for _, dir := range []string{"tx_bytes", "rx_bytes"} {
				b, err := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/eth0/statistics/"+dir).Output()
				if err != nil {
					t.Fatal(err)
				}
				v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
				out[i] += v
			}
		}
		return out
	}
	flags := []string{"--announce-interval", interval.String()}
	first := startChildNodes(t, []model.Range{{First: 0, Last: 3}}, func(int) string { return "/ip4/" + ips[0] + "/tcp/4200" },
		func(int) []string { return lab.exec(nss[0]) }, flags...)
	var ranges []model.Range
	for i := 1; i < n; i++ {
		ranges = append(ranges, model.Range{First: (3 * i) % 6, Last: (3*i)%6 + 3})
	}
	startChildNodes(t, ranges, func(i int) string { return fmt.Sprintf("/ip4/%s/tcp/4200", ips[i+1]) },
		func(i int) []string { return lab.exec(nss[i+1]) }, append(flags, "--bootstrap", first[0].addr)...)
	time.Sleep(interval + 5*time.Second) // joins, snapshots, first announcements
	before := counters()
	time.Sleep(window)
	after := counters()
	var sum float64
	for i := range after {
		rate := float64(after[i]-before[i]) / window.Seconds()
		sum += rate
		t.Logf("node %d: %.0f B/s (tx+rx)", i, rate)
	}
	t.Logf("%d nodes, announce interval %v, window %v (%s): mean %.0f B/s per node (tx+rx)", n, interval, window, lab.shaped, sum/float64(n))
}
