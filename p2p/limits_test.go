package p2p

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

const holdProto = "/tessera/test-hold/1.0.0"

// holder serves holdProto: it acknowledges a stream with one byte and
// keeps it open until the other side closes it or release is closed.
type holder struct {
	release chan struct{}
	mu      sync.Mutex
	open    int
}

func (h *holder) serve(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(4 * testTimeout))
	h.mu.Lock()
	h.open++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.open--
		h.mu.Unlock()
	}()
	if _, err := s.Write([]byte{1}); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, s)
	}()
	select {
	case <-done:
	case <-h.release:
	}
}

// hold opens a holdProto stream from `from` to peer `to` and waits for its
// acknowledgement; it returns the stream, or nil when the host refused it.
func hold(t *testing.T, from *Host, to string) network.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := from.OpenStream(ctx, to, holdProto)
	if err != nil {
		return nil
	}
	_ = s.SetDeadline(time.Now().Add(testTimeout))
	var ack [1]byte
	if _, err := io.ReadFull(s, ack[:]); err != nil {
		_ = s.Reset()
		return nil
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A peer that opens more streams than its limit is refused, while another
// peer keeps being served, and the refused peer is served again once its
// streams close.
func TestStreamsPerPeerLimit(t *testing.T) {
	const limit = 4
	srv := newHost(t, Config{Limits: Limits{MaxStreamsPerPeer: limit}})
	h := &holder{release: make(chan struct{})}
	defer close(h.release)
	srv.Handle(holdProto, h.serve)
	flood := newHost(t, Config{})
	other := newHost(t, Config{})
	for _, c := range []*Host{flood, other} {
		if _, err := c.Connect(testCtx(t), srv.Addrs()[0]); err != nil {
			t.Fatal(err)
		}
	}

	var held []network.Stream
	refused := false
	for range 3 * limit { // bounded: the limit is reached well before
		s := hold(t, flood, srv.ID())
		if s == nil {
			refused = true
			break
		}
		held = append(held, s)
	}
	// Identify may hold one of the flooder's streams for a moment, so the
	// flooder gets its limit or one fewer.
	if !refused || len(held) > limit || len(held) < limit-1 {
		t.Fatalf("flooding peer got %d streams (refused: %v), want %d or %d then a refusal", len(held), refused, limit-1, limit)
	}
	if s := hold(t, other, srv.ID()); s == nil {
		t.Fatal("another peer was refused while the flooder was at its limit")
	}
	for _, s := range held {
		s.Close()
	}
	// The flooder's streams end on the host's side after it closed them:
	// then it is served again.
	deadline := time.Now().Add(testTimeout)
	for {
		h.mu.Lock()
		n := h.open
		h.mu.Unlock()
		if n <= 1 { // the other peer's stream
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still open on the host", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := hold(t, flood, srv.ID()); s == nil {
		t.Fatal("the flooder was refused after closing its streams")
	}
}

// A host refuses connections beyond MaxConns.
func TestMaxConns(t *testing.T) {
	srv := newHost(t, Config{Limits: Limits{MaxConns: 2}})
	srv.Handle(echoProto, echo)
	var ok, refused int
	for range 4 {
		c := newHost(t, Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
		if _, err := c.Connect(testCtx(t), addrOfKind(t, srv, "tcp")); err != nil {
			refused++
			continue
		}
		ok++
	}
	if ok < 1 || ok > 2 || refused == 0 {
		t.Fatalf("%d connections accepted and %d refused with MaxConns 2", ok, refused)
	}
}

func TestLimitsValidation(t *testing.T) {
	cases := []struct {
		l   Limits
		err bool
	}{
		{Limits{}, false},
		{Limits{MaxConns: 10, MaxStreamsPerPeer: 3, MaxMemory: 64 << 20}, false},
		{Limits{MaxConns: -1}, true},
		{Limits{MaxStreamsPerPeer: -1}, true},
		{Limits{MaxMemory: -1}, true},
	}
	for _, c := range cases {
		got, err := c.l.withDefaults()
		if (err != nil) != c.err {
			t.Errorf("%+v: error %v, want error %v", c.l, err, c.err)
			continue
		}
		if err == nil && (got.MaxConns <= 0 || got.MaxConnsPerPeer <= 0 || got.MaxStreams <= 0 || got.MaxStreamsPerPeer <= 0 || got.MaxMemory <= 0) {
			t.Errorf("%+v: defaults left a zero limit: %+v", c.l, got)
		}
		if err == nil && c.l.MaxConns > 0 && got.MaxConns != c.l.MaxConns {
			t.Errorf("%+v: MaxConns became %d", c.l, got.MaxConns)
		}
	}
	for _, max := range []int{1, 2, 10, 100, 171, 1000} {
		low, high := connWatermarks(max)
		if low <= 0 || low > high || high > max && max >= 2 || high > connHigh {
			t.Errorf("connWatermarks(%d) = %d, %d", max, low, high)
		}
	}
}
