package swarm_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// raw is a hand-driven client of the forward protocol.
type raw struct {
	t  *testing.T
	c  net.Conn
	r  *bufio.Reader
	id uint64
	n  int // positions sent so far
	st uint64
}

func dial(t *testing.T, n *node) *raw {
	t.Helper()
	c, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &raw{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *raw) send(m wire.Message) {
	c.t.Helper()
	if err := wire.WriteMessage(c.c, m); err != nil {
		c.t.Fatal(err)
	}
}

func (c *raw) sendBytes(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *raw) recv() wire.Message {
	c.t.Helper()
	m, err := wire.ReadMessage(c.r, 1<<20)
	if err != nil {
		c.t.Fatalf("reading: %v", err)
	}
	return m
}

// expectError reads an Error of the given code; with closed, it then
// expects the node to close the stream.
func (c *raw) expectError(code wire.Code, closed bool) *wire.Error {
	c.t.Helper()
	m := c.recv()
	e, ok := m.(*wire.Error)
	if !ok || e.Code != code {
		c.t.Fatalf("got %T %+v, want an Error %q", m, m, code)
	}
	if closed {
		if _, err := wire.ReadMessage(c.r, 1<<20); err != io.EOF {
			c.t.Fatalf("after %q: %v, want the stream closed", code, err)
		}
	}
	return e
}

func (c *raw) open(first, last, maxPos int) *wire.SessionOpened {
	c.t.Helper()
	c.send(&wire.OpenSession{Version: wire.Version, ModelCommit: testCommit, First: first, Last: last, MaxPositions: maxPos, DType: wire.DTypeF32})
	m, ok := c.recv().(*wire.SessionOpened)
	if !ok {
		c.t.Fatalf("open: got %+v", m)
	}
	c.id = m.SessionID
	return m
}

// embed returns the embeddings of n tokens.
func embed(t *testing.T, first, n int) []float32 {
	t.Helper()
	toks := make([]int, n)
	for i := range toks {
		toks[i] = 10 + (first+i)*37%1000
	}
	h := make([]float32, n*testConfig.Dim)
	if err := client.Embed(h, toks); err != nil {
		t.Fatal(err)
	}
	return h
}

func (c *raw) forwardMsg(n int) *wire.Forward {
	c.t.Helper()
	p, err := wire.EncodeHidden(nil, wire.DTypeF32, embed(c.t, c.n, n), n, testConfig.Dim)
	if err != nil {
		c.t.Fatal(err)
	}
	return &wire.Forward{SessionID: c.id, Step: c.st, Start: c.n, N: n, Payload: p}
}

// step forwards n more positions and checks the result against the local
// model, proving that the session is being served correctly.
func (c *raw) step(m *model.Model, sess *model.Session, n int) {
	c.t.Helper()
	c.send(c.forwardMsg(n))
	res, ok := c.recv().(*wire.ForwardResult)
	if !ok || res.Step != c.st || res.Start != c.n || res.N != n {
		c.t.Fatalf("forward: got %+v", res)
	}
	got := make([]float32, n*testConfig.Dim)
	if err := wire.DecodeHidden(got, wire.DTypeF32, res.Payload, n, testConfig.Dim); err != nil {
		c.t.Fatal(err)
	}
	want := embed(c.t, c.n, n)
	if err := m.Forward(sess, c.n, want, n); err != nil {
		c.t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		c.t.Fatal("node's result differs from the local model")
	}
	c.n += n
	c.st++
}

// TestServerErrors feeds a node every kind of bad request, each on its own
// stream, while a well-behaved session keeps being served.
func TestServerErrors(t *testing.T) {
	const first, last = 2, 4
	dim := testConfig.Dim
	srv := server(t, first, last)
	srv.MaxSessions = 2
	srv.MaxPositions = 8
	srv.MaxMessageBytes = 12*dim*4 + 100 // 12 positions
	nd := newNode(t, srv).listen(t)

	// The bystander, and a local copy of its session to check results.
	by := dial(t, nd)
	if got := by.open(first, last, 1000); got.MaxPositions != 8 || got.DType != wire.DTypeF32 || got.MaxMessageBytes != srv.MaxMessageBytes {
		t.Fatalf("open: granted %+v", got)
	}
	local := layers(t, first, last)
	localSess, err := local.NewSession(8)
	if err != nil {
		t.Fatal(err)
	}
	by.step(local, localSess, 1)

	openMsg := func(mut func(*wire.OpenSession)) *wire.OpenSession {
		m := &wire.OpenSession{Version: wire.Version, ModelCommit: testCommit, First: first, Last: last, MaxPositions: 8, DType: wire.DTypeF32}
		if mut != nil {
			mut(m)
		}
		return m
	}
	cases := []struct {
		name string
		do   func(c *raw)
		code wire.Code
		open bool // the stream stays open after the error
	}{
		{"wrong model commitment", func(c *raw) {
			c.send(openMsg(func(m *wire.OpenSession) { m.ModelCommit[31] ^= 0xff }))
		}, wire.CodeModelMismatch, false},
		{"wrong range", func(c *raw) {
			c.send(openMsg(func(m *wire.OpenSession) { m.First, m.Last = 0, 2 }))
		}, wire.CodeRangeMismatch, false},
		{"range beyond the served one", func(c *raw) {
			c.send(openMsg(func(m *wire.OpenSession) { m.First, m.Last = 3, 5 }))
		}, wire.CodeRangeMismatch, false},
		{"part of the range from a version 1 client", func(c *raw) {
			c.send(openMsg(func(m *wire.OpenSession) { m.Version, m.Last = 1, 3 }))
		}, wire.CodeRangeMismatch, false},
		{"future version", func(c *raw) {
			c.send(openMsg(func(m *wire.OpenSession) { m.Version = wire.Version + 1 }))
		}, wire.CodeBadRequest, false},
		{"malformed bytes", func(c *raw) {
			c.sendBytes([]byte{5, byte(wire.TypeForward), 0xff, 0xff, 0xff, 0xff})
		}, wire.CodeBadRequest, false},
		{"unknown message type", func(c *raw) {
			c.sendBytes([]byte{1, 99})
		}, wire.CodeBadRequest, false},
		{"node-side message from a client", func(c *raw) {
			c.send(&wire.ForwardResult{N: 1})
		}, wire.CodeBadRequest, false},
		{"forward before open", func(c *raw) {
			c.send(c.forwardMsg(1))
		}, wire.CodeOutOfOrder, false},
		{"close before open", func(c *raw) {
			c.send(&wire.CloseSession{})
		}, wire.CodeOutOfOrder, false},
		{"open twice", func(c *raw) {
			c.open(first, last, 8)
			c.send(openMsg(nil))
		}, wire.CodeOutOfOrder, false},
		{"step out of order", func(c *raw) {
			c.open(first, last, 8)
			s, _ := local.NewSession(8)
			c.step(local, s, 2)
			m := c.forwardMsg(1)
			m.Step = 5
			c.send(m)
		}, wire.CodeOutOfOrder, false},
		{"step replayed", func(c *raw) {
			c.open(first, last, 8)
			s, _ := local.NewSession(8)
			c.step(local, s, 1)
			m := c.forwardMsg(1)
			m.Step = 0
			c.send(m)
		}, wire.CodeOutOfOrder, false},
		{"positions skipped", func(c *raw) {
			c.open(first, last, 8)
			m := c.forwardMsg(1)
			m.Start = 3
			c.send(m)
		}, wire.CodeOutOfOrder, false},
		{"wrong session id", func(c *raw) {
			c.open(first, last, 8)
			m := c.forwardMsg(1)
			m.SessionID++
			c.send(m)
		}, wire.CodeBadRequest, false},
		{"payload of the wrong length", func(c *raw) {
			c.open(first, last, 8)
			m := c.forwardMsg(2)
			m.N = 1
			c.send(m)
		}, wire.CodeBadRequest, false},
		{"NaN in the payload", func(c *raw) {
			c.open(first, last, 8)
			m := c.forwardMsg(1)
			binary.LittleEndian.PutUint32(m.Payload[40:], math.Float32bits(float32(math.NaN())))
			c.send(m)
		}, wire.CodeBadRequest, false},
		{"too many positions", func(c *raw) {
			c.open(first, last, 8)
			c.send(c.forwardMsg(9))
		}, wire.CodeTooLong, true},
		{"oversized message", func(c *raw) {
			c.open(first, last, 8)
			c.send(c.forwardMsg(13)) // all of it, over TCP
		}, wire.CodeMessageTooLarge, false},
		{"oversized frame header", func(c *raw) {
			c.sendBytes(binary.AppendUvarint(nil, 1<<40))
		}, wire.CodeMessageTooLarge, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Stats()
			c := dial(t, nd)
			c.t = t
			tc.do(c)
			e := c.expectError(tc.code, !tc.open)
			t.Logf("%s: %v", tc.name, e)
			if tc.open {
				// The session survived: the same step, within the limit, works.
				s, _ := local.NewSession(8)
				c.step(local, s, 2)
				c.send(&wire.CloseSession{})
				if _, err := wire.ReadMessage(c.r, 1<<20); err != io.EOF {
					t.Fatalf("after CloseSession: %v", err)
				}
			}
			if got := srv.Stats().Errors - before.Errors; got != 1 {
				t.Errorf("%d errors counted", got)
			}
			// The bystander is still served.
			by.t = t
			if by.n == 8 {
				by.n = 0 // rewind: the session holds 8 positions
			}
			by.step(local, localSess, 1)
		})
	}
	if t.Failed() {
		return
	}

	// Too many sessions: the bystander holds one of two slots.
	c2 := dial(t, nd)
	c2.open(first, last, 8)
	c3 := dial(t, nd)
	c3.send(openMsg(nil))
	c3.expectError(wire.CodeTooManySessions, true)
	by.step(local, localSess, 1)
	// Closing a session frees its slot.
	c2.send(&wire.CloseSession{})
	if _, err := wire.ReadMessage(c2.r, 1<<20); err != io.EOF {
		t.Fatalf("after CloseSession: %v", err)
	}
	waitFor(t, func() bool { return srv.Stats().SessionsOpen == 1 })
	c4 := dial(t, nd)
	c4.open(first, last, 8)
	c4.c.Close() // end of stream also frees the session
	waitFor(t, func() bool { return srv.Stats().SessionsOpen == 1 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestServerPipe: over net.Pipe (synchronous, no buffering) an oversized
// message and a malformed one are answered too.
func TestServerPipe(t *testing.T) {
	dim := testConfig.Dim
	srv := server(t, 0, 6)
	srv.MaxMessageBytes = 2*dim*4 + 100
	nd := newNode(t, srv)
	for _, tc := range []struct {
		frame func(c *raw) []byte
		code  wire.Code
	}{
		{func(c *raw) []byte { b, _ := wire.Marshal(c.forwardMsg(4)); return b }, wire.CodeMessageTooLarge},
		{func(*raw) []byte { return []byte{3, byte(wire.TypeOpenSession), 0x08, 0x80} }, wire.CodeBadRequest},
	} {
		st, err := nd.pipeOpener()(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		c := &raw{t: t, c: st.(net.Conn), r: bufio.NewReader(st)}
		_ = c.c.SetDeadline(time.Now().Add(10 * time.Second))
		if tc.code == wire.CodeMessageTooLarge {
			c.open(0, 6, 8)
		}
		frame := tc.frame(c)
		go func() { _, _ = c.c.Write(frame) }() // the node reads only part of it
		c.expectError(tc.code, true)
		c.c.Close()
	}
	nd.quiesce()
	for _, err := range nd.results() {
		var we *wire.Error
		if !errors.As(err, &we) {
			t.Errorf("ServeStream returned %v, want the wire.Error it answered", err)
		}
	}
	if st := srv.Stats(); st.SessionsOpen != 0 || st.Errors != 2 || st.Streams != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestServerIdleTimeout: a stream that sends nothing is closed and its
// session freed.
func TestServerIdleTimeout(t *testing.T) {
	srv := server(t, 0, 6)
	srv.IdleTimeout = 100 * time.Millisecond
	nd := newNode(t, srv).listen(t)
	c := dial(t, nd)
	c.open(0, 6, 8)
	s, _ := layers(t, 0, 6).NewSession(8)
	c.step(layers(t, 0, 6), s, 2)
	// The stream must end by itself (how soon is a matter for benchmarks,
	// not for a test on a loaded machine) and count as expired.
	if _, err := wire.ReadMessage(c.r, 1<<20); err != io.EOF {
		t.Fatalf("idle stream: %v, want closed", err)
	}
	waitFor(t, func() bool { return srv.Stats().SessionsOpen == 0 })
	if st := srv.Stats(); st.Expired != 1 || st.SessionsTotal != 1 {
		t.Errorf("stats %+v", st)
	}
	// A stream that never opens a session expires too.
	c2 := dial(t, nd)
	if _, err := wire.ReadMessage(c2.r, 1<<20); err != io.EOF {
		t.Fatalf("silent stream: %v, want closed", err)
	}
	waitFor(t, func() bool { return srv.Stats().Expired == 2 })
}

// TestServerShutdown: cancelling the server's context ends open streams
// with a Busy answer.
func TestServerShutdown(t *testing.T) {
	srv := server(t, 0, 6)
	nd := newNode(t, srv).listen(t)
	c := dial(t, nd)
	c.open(0, 6, 8)
	waitFor(t, func() bool { return srv.Stats().SessionsOpen == 1 })
	nd.cancel()
	c.expectError(wire.CodeBusy, true)
	nd.quiesce()
	if errs := nd.results(); len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("ServeStream returned %v", errs)
	}
	// A stream handed over after shutdown is refused the same way.
	a, b := net.Pipe()
	done := make(chan error)
	go func() { done <- srv.ServeStream(nd.ctx, b) }()
	rc := &raw{t: t, c: a, r: bufio.NewReader(a)}
	rc.expectError(wire.CodeBusy, true)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("ServeStream returned %v", err)
	}
	if st := srv.Stats(); st.SessionsOpen != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerMisconfigured(t *testing.T) {
	for _, srv := range []*swarm.Server{
		{},
		{Model: layers(t, 0, 6), MaxMessageBytes: 100},
		{Model: layers(t, 0, 6), MaxSessions: -1},
	} {
		a, b := net.Pipe()
		done := make(chan error)
		go func() { done <- srv.ServeStream(context.Background(), b) }()
		rc := &raw{t: t, c: a, r: bufio.NewReader(a)}
		e := rc.expectError(wire.CodeInternal, true)
		if err := <-done; err == nil || !strings.Contains(err.Error(), "swarm:") {
			t.Fatalf("ServeStream returned %v", err)
		}
		if strings.Contains(e.Message, "MaxMessageBytes") {
			t.Errorf("configuration details leaked to the client: %q", e.Message)
		}
	}
}

// TestStats: the node's and the chain's counters agree with what was sent.
func TestStats(t *testing.T) {
	ch, nodes := buildChain(t, shapes[2], chainConfig(), nil)
	want := reference(t, prompts[0])
	got := generateWith(t, ch, prompts[0])
	if !slices.Equal(got.res.Tokens, want.res.Tokens) {
		t.Fatal("tokens differ")
	}
	prompt := len(got.res.PromptTokens)
	positions := uint64(prompt + genTokens - 1) // the last token is not forwarded
	calls := uint64(1 + genTokens - 1)
	hs := ch.Stats()
	for i, h := range hs {
		if h.Positions != positions || h.Calls != calls || h.Sessions != 1 || h.Local || h.DType != wire.DTypeF32 {
			t.Errorf("hop %d: %+v, want %d positions in %d calls", i, h, positions, calls)
		}
		if h.Time <= 0 {
			t.Errorf("hop %d: no time counted", i)
		}
		// Payloads are 4 bytes per value each way, plus framing.
		payload := positions * uint64(testConfig.Dim) * 4
		if h.BytesSent < payload || h.BytesSent > payload+200*calls || h.BytesReceived < payload || h.BytesReceived > payload+200*calls {
			t.Errorf("hop %d: %d bytes sent, %d received for %d payload bytes", i, h.BytesSent, h.BytesReceived, payload)
		}
	}
	for i, n := range nodes {
		st := n.srv.Stats()
		if st.SessionsOpen != 1 || st.SessionsTotal != 1 || st.Positions != positions || st.Forwards != calls || st.Errors != 0 {
			t.Errorf("node %d during the session: %+v", i, st)
		}
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	hs = ch.Stats()
	for i, n := range nodes {
		waitFor(t, func() bool { return len(n.results()) == 1 }) // the node saw CloseSession
		n.quiesce()
		st := n.srv.Stats()
		if st.SessionsOpen != 0 {
			t.Errorf("node %d: %d sessions open after Close", i, st.SessionsOpen)
		}
		// Every byte the chain sent (CloseSession included) reached the
		// node, and every byte the node sent reached the chain.
		if st.BytesIn != hs[i].BytesSent || st.BytesOut != hs[i].BytesReceived {
			t.Errorf("node %d: in %d out %d; chain sent %d received %d", i, st.BytesIn, st.BytesOut, hs[i].BytesSent, hs[i].BytesReceived)
		}
		if errs := n.results(); len(errs) != 1 || errs[0] != nil {
			t.Errorf("node %d: ServeStream returned %v", i, errs)
		}
	}
	t.Logf("hop 0: %d bytes sent, %d received for %d positions of %d f32 values", hs[0].BytesSent, hs[0].BytesReceived, positions, testConfig.Dim)
}

// TestInfo: a node tells what it serves and how many sessions it has free.
func TestInfo(t *testing.T) {
	srv := server(t, 2, 4)
	srv.MaxSessions = 3
	srv.MaxPositions = 100
	nd := newNode(t, srv).listen(t)
	read := func() swarm.NodeInfo {
		t.Helper()
		a, b := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- srv.ServeInfo(b) }()
		info, err := swarm.ReadInfo(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		a.Close()
		return info
	}
	want := swarm.NodeInfo{ModelCommit: testCommit, Range: model.Range{First: 2, Last: 4}, MaxPositions: 100, FreeSessions: 3, Version: wire.Version}
	if got := read(); got != want {
		t.Fatalf("info %+v, want %+v", got, want)
	}
	c := dial(t, nd)
	c.open(2, 4, 8)
	waitFor(t, func() bool { return srv.Stats().SessionsOpen == 1 })
	want.FreeSessions = 2
	if got := read(); got != want {
		t.Fatalf("info %+v, want %+v", got, want)
	}
	// A misconfigured node, and a stream that ends early.
	a, b := net.Pipe()
	go (&swarm.Server{}).ServeInfo(b)
	if _, err := swarm.ReadInfo(a); err == nil || !strings.Contains(err.Error(), "internal") {
		t.Fatalf("misconfigured node: %v", err)
	}
	a, b = net.Pipe()
	b.Close()
	if _, err := swarm.ReadInfo(a); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("empty stream: %v", err)
	}
}
