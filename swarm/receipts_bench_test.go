package swarm_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// receiptMode is how a measured chain treats receipts.
type receiptMode struct {
	name   string
	keys   bool // the nodes sign (they trace and keep traces only then)
	verify *swarm.Verification
}

func receiptModes() []receiptMode {
	return []receiptMode{
		{name: "off"},
		{name: "sync", keys: true, verify: &swarm.Verification{SyncReceipts: true, Rand: detRand(1)}},
		{name: "late", keys: true, verify: &swarm.Verification{Rand: detRand(2)}},
	}
}

// TestFiguresReceiptLatency measures what receipts cost a decode step end
// to end: a client and its nodes on 127.0.0.1 (TCP), one decode step per
// Forward, with receipts off, checked with each result (sync: version 2
// sessions, the node commits and signs before answering) and one call
// late (the default). Modes alternate within every round so that the
// shared machine's load hits them alike; it reports, per mode, the median
// over rounds of each round's median step. The kjv-tiny generation rows
// run the whole client (embedding, head, greedy sampling) through one
// node. Skipped unless TESSERA_PROOF_FIGURES=1:
//
//	TESSERA_PROOF_FIGURES=1 go test ./swarm -run TestFiguresReceiptLatency -v -timeout 1h
//
// TESSERA_RECEIPT_ROUNDS sets the rounds (default 15), and
// TESSERA_RECEIPT_CASES, when set, runs the cases whose name contains it.
func TestFiguresReceiptLatency(t *testing.T) {
	if os.Getenv("TESSERA_PROOF_FIGURES") == "" {
		t.Skip("set TESSERA_PROOF_FIGURES=1 to measure")
	}
	rounds := envInt(t, "TESSERA_RECEIPT_ROUNDS", 15)
	t.Logf("load average before: %s", loadAvg())
	kjv, big := kjvBench(), synthBench(t)
	cases := []struct {
		name  string
		bm    benchModel
		split []int // layer boundaries of the nodes
		steps int   // decode steps per round and mode
		gen   bool  // a whole generation (client head and sampling) instead of bare Forwards
		rtt   time.Duration
	}{
		{"kjv-tiny, 2 nodes × 3 layers", kjv, []int{0, 3, 6}, 100, false, 0},
		{"kjv-tiny, 1 node × 6 layers, generation", kjv, []int{0, 6}, 100, true, 0},
		{"1B-shape, 2 nodes × 4 layers", big, []int{0, 4, 8}, 24, false, 0},
		{"kjv-tiny, 2 nodes × 3 layers, RTT 0.5 ms", kjv, []int{0, 3, 6}, 60, false, 500 * time.Microsecond},
		{"kjv-tiny, 1 node × 6 layers, generation, RTT 0.5 ms", kjv, []int{0, 6}, 60, true, 500 * time.Microsecond},
	}
	only := os.Getenv("TESSERA_RECEIPT_CASES") // a substring of the cases to run
	for _, tc := range cases {
		if only != "" && !strings.Contains(tc.name, only) {
			continue
		}
		modes := receiptModes()
		fleets := make([]*fleet, len(modes))
		for i, m := range modes {
			f := newFleet(t)
			for k := 0; k+1 < len(tc.split); k++ {
				r := model.Range{First: tc.split[k], Last: tc.split[k+1]}
				key := nodeKey(byte(10 + k))
				if !m.keys {
					key = nil
				}
				f.addModel(fmt.Sprintf("%s-%d", m.name, k), tc.bm.load(t, r), tc.bm.commit, 0, key, nil)
			}
			fleets[i] = f
		}
		medians := make([][]time.Duration, len(modes))
		cpu := make([]time.Duration, len(modes)) // process CPU per step, summed over rounds
		order := rand.New(rand.NewPCG(7, 7))
		for round := 0; round < rounds; round++ {
			idx := order.Perm(len(modes))
			for _, i := range idx {
				steps, c := measureSteps(t, tc.bm, tc.split, fleets[i], modes[i], tc.steps, tc.gen, tc.rtt, round)
				cpu[i] += c / time.Duration(rounds)
				slices.Sort(steps)
				medians[i] = append(medians[i], steps[len(steps)/2])
			}
		}
		for i, m := range modes {
			// Each round's ratio to the same round's "off": the rounds'
			// modes ran minutes apart at most, under the same load.
			ratios := make([]float64, rounds)
			for r := range ratios {
				ratios[r] = float64(medians[i][r]) / float64(medians[0][r])
			}
			slices.Sort(ratios)
			ms := slices.Sorted(slices.Values(medians[i]))
			t.Logf("%s: receipts %-4s: %8.1f µs per decode step (rounds %.1f…%.1f); ratio to off per round: median %+.1f %%, quartiles %+.1f…%+.1f %%; CPU (client and nodes) %.1f µs per step",
				tc.name, m.name, us(ms[len(ms)/2]), us(ms[0]), us(ms[len(ms)-1]),
				100*(ratios[len(ratios)/2]-1), 100*(ratios[len(ratios)/4]-1), 100*(ratios[3*len(ratios)/4]-1), us(cpu[i]))
		}
	}
	t.Logf("load average after: %s", loadAvg())
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

// processCPU is the CPU time the process used so far (client and nodes).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureSteps runs one session through f's nodes in mode m and returns
// the wall-clock time of each decode step (a Forward of one position
// through the chain, or, with gen, one generated token, client head and
// sampling included) and the process CPU time per step.
func measureSteps(t *testing.T, bm benchModel, split []int, f *fleet, m receiptMode, steps int, gen bool, rtt time.Duration, seed int) ([]time.Duration, time.Duration) {
	t.Helper()
	var hops []swarm.Hop
	for k := 0; k+1 < len(split); k++ {
		n := f.nodes[fmt.Sprintf("%s-%d", m.name, k)]
		h := n.hop(n.r)
		if rtt > 0 {
			open := h.Open
			h.Open = func(ctx context.Context) (swarm.Stream, error) {
				st, err := open(ctx)
				if err != nil {
					return nil, err
				}
				return &slowLink{Stream: st, oneWay: rtt / 2}, nil
			}
		}
		hops = append(hops, h)
	}
	cfg := swarm.ChainConfig{Model: bm.cfg, ModelCommit: bm.commit, Timeout: time.Minute, Verify: m.verify}
	ch, err := swarm.NewChain(cfg, hops)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	ctx := context.Background()
	var out []time.Duration
	if gen {
		c := generate.Client{Model: client, Tokenizer: testTok}
		tl := &timedLayers{inner: ch}
		cpu0 := processCPU()
		_, err := c.Run(ctx, tl, generate.Request{Prompt: prompts[seed%len(prompts)], MaxTokens: steps + 2, IgnoreEOS: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// From one decode call's start to the next one's: the call, the
		// head and the sampling.
		cpu := processCPU() - cpu0 // the prompt's prefill included
		for k := 2; k < len(tl.starts); k++ {
			out = append(out, tl.starts[k].Sub(tl.starts[k-1]))
		}
		return out, cpu / time.Duration(len(tl.starts))
	}
	dim := bm.cfg.Dim
	rng := rand.New(rand.NewPCG(uint64(seed), 9))
	const prefill = 8
	h := make([]float32, prefill*dim)
	for i := range h {
		h[i] = float32(rng.NormFloat64())
	}
	if err := ch.Forward(ctx, 0, h, prefill); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, dim)
	cpu0 := processCPU()
	for s := 0; s < steps; s++ {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		t0 := time.Now()
		if err := ch.Forward(ctx, prefill+s, x, 1); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Since(t0))
	}
	return out, (processCPU() - cpu0) / time.Duration(steps)
}

// timedLayers records when each forward call starts.
type timedLayers struct {
	inner  generate.Layers
	starts []time.Time
}

func (l *timedLayers) Forward(ctx context.Context, start int, hidden []float32, n int) error {
	l.starts = append(l.starts, time.Now())
	return l.inner.Forward(ctx, start, hidden, n)
}

// slowLink adds a network's latency to a loopback stream, on the client's
// side only so that the node is free meanwhile, as on a real link: a
// message written arrives oneWay later, and so does the answer.
type slowLink struct {
	swarm.Stream
	oneWay  time.Duration
	written bool // a message went out since the last answer came
}

func (l *slowLink) Write(p []byte) (int, error) {
	time.Sleep(l.oneWay)
	l.written = true
	return l.Stream.Write(p)
}

func (l *slowLink) Read(p []byte) (int, error) {
	n, err := l.Stream.Read(p)
	if n > 0 && l.written {
		l.written = false
		time.Sleep(l.oneWay)
	}
	return n, err
}

// TestFiguresNodeAnswer measures what receipts add to a node's answer,
// the part of a decode step they lengthen when client and nodes run on
// machines of their own: the time from sending a Forward of one position
// to reading its result. Three sessions on one node — receipts off (no
// nonce), sync (version 2: committed and signed before answering) and
// late (version 3) — take turns call by call in random order, with a
// pause after each call standing for the rest of the chain and the
// client (TESSERA_RECEIPT_GAP, default 2 ms), during which a version 3
// node commits and signs; each call is compared with the "off" call of
// the same turn. Skipped unless TESSERA_PROOF_FIGURES=1.
func TestFiguresNodeAnswer(t *testing.T) {
	if os.Getenv("TESSERA_PROOF_FIGURES") == "" {
		t.Skip("set TESSERA_PROOF_FIGURES=1 to measure")
	}
	rounds := envInt(t, "TESSERA_RECEIPT_ROUNDS", 15)
	gap := 2 * time.Millisecond
	if g := os.Getenv("TESSERA_RECEIPT_GAP"); g != "" {
		var err error
		if gap, err = time.ParseDuration(g); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("load average before: %s; pause %v; node threads %d", loadAvg(), gap, testPool.Threads())
	for _, tc := range answerCases {
		if only := os.Getenv("TESSERA_RECEIPT_CASES"); only != "" && !strings.Contains(tc.name, only) {
			continue
		}
		bm := tc.bm(t)
		var nd *node
		if cpus, ok := os.LookupEnv("TESSERA_RECEIPT_NODE_CPUS"); ok {
			nd = &node{addr: startAnswerNode(t, tc.name, cpus)}
		} else {
			srv := &swarm.Server{Model: bm.load(t, tc.r), ModelCommit: bm.commit, Key: nodeKey(1), MaxSessions: 64}
			nd = newNode(t, srv).listen(t)
		}
		modes := []struct {
			name    string
			version uint32
			nonce   bool
		}{{"off", wire.Version, false}, {"sync", 2, true}, {"late", wire.Version, true}}
		times := make([][]time.Duration, len(modes))
		ratios := make([][]float64, len(modes))
		order := rand.New(rand.NewPCG(3, 3))
		for round := 0; round < rounds; round++ {
			ss := make([]*rawSession, len(modes))
			for i, m := range modes {
				ss[i] = openRaw(t, nd, bm, tc.r, m.version, m.nonce, uint64(round))
				defer ss[i].c.Close()
			}
			time.Sleep(10 * time.Millisecond) // the prefills' commitments
			d := make([]time.Duration, len(modes))
			for step := 0; step < tc.steps; step++ {
				for _, i := range order.Perm(len(modes)) {
					d[i] = ss[i].decode()
					time.Sleep(gap)
				}
				for i := range modes {
					times[i] = append(times[i], d[i])
					ratios[i] = append(ratios[i], float64(d[i])/float64(d[0]))
				}
			}
			for _, s := range ss {
				s.c.Close()
			}
		}
		for i, m := range modes {
			slices.Sort(times[i])
			slices.Sort(ratios[i])
			n := len(ratios[i])
			t.Logf("%s: receipts %-4s: answer in %8.1f µs (median of %d calls); ratio to the turn's off call: median %+.1f %%, quartiles %+.1f…%+.1f %%",
				tc.name, m.name, us(times[i][n/2]), n, 100*(ratios[i][n/2]-1), 100*(ratios[i][n/4]-1), 100*(ratios[i][3*n/4]-1))
		}
	}
	t.Logf("load average after: %s", loadAvg())
}

// answerCases are TestFiguresNodeAnswer's nodes.
var answerCases = []struct {
	name  string
	bm    func(testing.TB) benchModel
	r     model.Range
	steps int
}{
	{"kjv-tiny, 6 layers", func(testing.TB) benchModel { return kjvBench() }, model.Range{First: 0, Last: 6}, 100},
	{"1B-shape, 4 layers", synthBench, model.Range{First: 0, Last: 4}, 30},
}

// startAnswerNode runs the node of answerCases' case name in a process of
// its own (this test binary, TestAnswerNodeProcess), bound to the CPUs
// listed (taskset -c; all when empty), as a deployed node runs apart from
// its clients: in one process, the client's goroutine waits for a
// scheduler slot the node's post-answer hashing holds, which a separate
// machine does not. It returns the node's address.
func startAnswerNode(t *testing.T, name, cpus string) string {
	t.Helper()
	args := []string{os.Args[0], "-test.run", "^TestAnswerNodeProcess$"}
	if cpus != "" {
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "TESSERA_ANSWER_NODE="+name)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the node exits when its stdin closes
		if err := cmd.Wait(); err != nil {
			t.Logf("node process: %v", err)
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "NODE "); ok {
			go io.Copy(io.Discard, stdout)
			t.Logf("node process %d on CPUs %q at %s", cmd.Process.Pid, cpus, addr)
			return addr
		}
	}
	t.Fatalf("the node process printed no address: %v", sc.Err())
	return ""
}

// TestAnswerNodeProcess is the node process of startAnswerNode; it does
// nothing in a plain test run.
func TestAnswerNodeProcess(t *testing.T) {
	name := os.Getenv("TESSERA_ANSWER_NODE")
	if name == "" {
		t.Skip("the node process of TestFiguresNodeAnswer")
	}
	for _, tc := range answerCases {
		if tc.name != name {
			continue
		}
		bm := tc.bm(t)
		srv := &swarm.Server{Model: bm.load(t, tc.r), ModelCommit: bm.commit, Key: nodeKey(1), MaxSessions: 64}
		nd := newNode(t, srv).listen(t)
		fmt.Printf("NODE %s\n", nd.addr)
		_, _ = io.Copy(io.Discard, os.Stdin)
		return
	}
	t.Fatalf("no case %q", name)
}

// rawSession is a session driven by hand over the wire protocol, decoding
// random hidden states one position at a time.
type rawSession struct {
	t    *testing.T
	c    net.Conn
	br   *bufio.Reader
	id   uint64
	step uint64
	pos  int
	dim  int
	rng  *rand.Rand
}

// openRaw opens a session on nd (with a nonce: receipts) and prefills
// eight positions.
func openRaw(t *testing.T, nd *node, bm benchModel, r model.Range, version uint32, nonce bool, seed uint64) *rawSession {
	t.Helper()
	c, err := net.Dial("tcp", nd.addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Minute))
	s := &rawSession{t: t, c: c, br: bufio.NewReader(c), dim: bm.cfg.Dim, rng: rand.New(rand.NewPCG(seed, 5))}
	open := &wire.OpenSession{Version: version, ModelCommit: bm.commit, First: r.First, Last: r.Last, MaxPositions: 256, DType: wire.DTypeF32}
	if nonce {
		open.Nonce = make([]byte, wire.NonceSize)
		open.Nonce[0] = byte(seed)
	}
	if err := wire.WriteMessage(c, open); err != nil {
		t.Fatal(err)
	}
	op, ok := s.recv().(*wire.SessionOpened)
	if !ok {
		t.Fatalf("open: %+v", op)
	}
	s.id = op.SessionID
	s.call(8)
	return s
}

func (s *rawSession) recv() wire.Message {
	m, err := wire.ReadMessage(s.br, 1<<26)
	if err != nil {
		s.t.Fatal(err)
	}
	return m
}

// call forwards n random positions and returns the time to the answer.
func (s *rawSession) call(n int) time.Duration {
	h := make([]float32, n*s.dim)
	for i := range h {
		h[i] = float32(s.rng.NormFloat64())
	}
	p, err := wire.EncodeHidden(nil, wire.DTypeF32, h, n, s.dim)
	if err != nil {
		s.t.Fatal(err)
	}
	t0 := time.Now()
	if err := wire.WriteMessage(s.c, &wire.Forward{SessionID: s.id, Step: s.step, Start: s.pos, N: n, Payload: p}); err != nil {
		s.t.Fatal(err)
	}
	if res, ok := s.recv().(*wire.ForwardResult); !ok || res.Step != s.step {
		s.t.Fatalf("result %+v", res)
	}
	d := time.Since(t0)
	s.step++
	s.pos += n
	return d
}

func (s *rawSession) decode() time.Duration { return s.call(1) }

// envInt is the integer in environment variable name, or def if unset.
func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// loadAvg is the machine's 1-, 5- and 15-minute load averages.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
