package swarm_test

import (
	"bufio"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// TestFiguresNodeAnswer measures what recording the trace, committing to
// it and signing the receipt add to a node's answer: the time from
// sending a Forward of one position over TCP on 127.0.0.1 to reading its
// result, the part of a decode step a node's receipts lengthen. Two
// sessions on one node — one opened without a nonce (no trace, no
// receipt), one with — take turns call by call in random order, with a
// pause after each call standing for the rest of the chain and the
// client (TESSERA_RECEIPT_GAP, default 2 ms); each call is compared with
// the plain call of the same turn. Skipped unless TESSERA_PROOF_FIGURES=1:
//
//	TESSERA_PROOF_FIGURES=1 go test ./swarm -run TestFiguresNodeAnswer -v -timeout 1h
//
// TESSERA_RECEIPT_ROUNDS sets the rounds (default 9) and
// TESSERA_RECEIPT_CASES, when set, runs the cases whose name contains it.
func TestFiguresNodeAnswer(t *testing.T) {
	if os.Getenv("TESSERA_PROOF_FIGURES") == "" {
		t.Skip("set TESSERA_PROOF_FIGURES=1 to measure")
	}
	rounds := envInt(t, "TESSERA_RECEIPT_ROUNDS", 9)
	gap := 2 * time.Millisecond
	if g := os.Getenv("TESSERA_RECEIPT_GAP"); g != "" {
		var err error
		if gap, err = time.ParseDuration(g); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("load average before: %s; pause %v; node threads %d", loadAvg(), gap, testPool.Threads())
	for _, tc := range []struct {
		name  string
		bm    func(testing.TB) benchModel
		r     model.Range
		steps int
	}{
		{"kjv-tiny, 6 layers", func(testing.TB) benchModel { return kjvBench() }, model.Range{First: 0, Last: 6}, 100},
		{"1B-shape, 4 layers", synthBench, model.Range{First: 0, Last: 4}, 30},
	} {
		if only := os.Getenv("TESSERA_RECEIPT_CASES"); only != "" && !strings.Contains(tc.name, only) {
			continue
		}
		bm := tc.bm(t)
		srv := &swarm.Server{Model: bm.load(t, tc.r), ModelCommit: bm.commit, Key: nodeKey(1), MaxSessions: 64}
		nd := newNode(t, srv).listen(t)
		modes := []struct {
			name  string
			nonce bool
		}{{"off", false}, {"on", true}}
		times := make([][]time.Duration, len(modes))
		ratios := make([][]float64, len(modes))
		order := rand.New(rand.NewPCG(3, 3))
		for round := 0; round < rounds; round++ {
			ss := make([]*rawSession, len(modes))
			for i, m := range modes {
				ss[i] = openRaw(t, nd, bm, tc.r, m.nonce, uint64(round))
			}
			d := make([]time.Duration, len(modes))
			for step := 0; step < tc.steps; step++ {
				for _, i := range order.Perm(len(modes)) {
					d[i] = ss[i].call(1)
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
			t.Logf("%s: receipts %-3s: answer in %8.1f µs (median of %d calls); ratio to the turn's plain call: median %+.1f %%, quartiles %+.1f…%+.1f %%",
				tc.name, m.name, float64(times[i][n/2])/1e3, n, 100*(ratios[i][n/2]-1), 100*(ratios[i][n/4]-1), 100*(ratios[i][3*n/4]-1))
		}
	}
	t.Logf("load average after: %s", loadAvg())
}

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

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// rawSession is a session driven by hand over the wire protocol, forwarding
// random hidden states.
type rawSession struct {
	t    *testing.T
	c    net.Conn
	br   *bufio.Reader
	id   uint64
	step uint64
	pos  int
	dim  int
	rng  *rand.Rand
	// signed: the session was opened with a nonce, so every result
	// carries a receipt.
	signed bool
}

// openRaw opens a session on nd (with a nonce when receipts are wanted)
// and prefills eight positions.
func openRaw(t *testing.T, nd *node, bm benchModel, r model.Range, nonce bool, seed uint64) *rawSession {
	t.Helper()
	c, err := net.Dial("tcp", nd.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Minute))
	s := &rawSession{t: t, c: c, br: bufio.NewReader(c), dim: bm.cfg.Dim, rng: rand.New(rand.NewPCG(seed, 5)), signed: nonce}
	open := &wire.OpenSession{Version: wire.Version, ModelCommit: bm.commit, First: r.First, Last: r.Last, MaxPositions: 256, DType: wire.DTypeF32}
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
	res, ok := s.recv().(*wire.ForwardResult)
	if !ok || res.Step != s.step {
		s.t.Fatalf("result %+v", res)
	}
	d := time.Since(t0)
	if (len(res.Receipt) > 0) != s.signed {
		s.t.Fatalf("step %d: receipt of %d bytes", s.step, len(res.Receipt))
	}
	s.step++
	s.pos += n
	return d
}
