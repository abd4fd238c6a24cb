package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

const echoProto = "/tessera/test-echo/1.0.0"

// testTimeout bounds every network operation of these tests.
const testTimeout = 5 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newHost starts a host (by default on 127.0.0.1) closed at the end of t.
func newHost(t *testing.T, cfg Config) *Host {
	t.Helper()
	h, err := New(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// echo serves a stream by copying it back until the writer closes its side.
func echo(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.Copy(s, s); err != nil {
		_ = s.Reset()
	}
}

// roundTrip sends payload on a new echo stream from `from` to peer `to`
// and checks it comes back; it returns the transport of the connection.
func roundTrip(t *testing.T, from *Host, to string, payload []byte) string {
	t.Helper()
	s, err := from.OpenStream(testCtx(t), to, echoProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	writeErr := make(chan error, 1)
	go func() {
		_, err := s.Write(payload)
		if err == nil {
			err = s.CloseWrite()
		}
		writeErr <- err
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if err := <-writeErr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echo returned %d bytes that differ from the %d sent", len(got), len(payload))
	}
	kind, err := transportKind(s.Conn().RemoteMultiaddr())
	if err != nil {
		t.Fatalf("connection over %s: %v", s.Conn().RemoteMultiaddr(), err)
	}
	return kind
}

// addrOfKind returns h's full address of transport kind ("tcp" or "quic").
func addrOfKind(t *testing.T, h *Host, kind string) string {
	t.Helper()
	for _, a := range h.Addrs() {
		info, err := parsePeerAddr(a)
		if err != nil {
			t.Fatalf("Addrs() gave %q: %v", a, err)
		}
		if k, _ := transportKind(info.Addrs[0]); k == kind {
			return a
		}
	}
	t.Fatalf("no %s address in %v", kind, h.Addrs())
	return ""
}

func TestEchoBothDirections(t *testing.T) {
	payload := make([]byte, 300<<10)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"tcp", "quic"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			a, b := newHost(t, Config{}), newHost(t, Config{})
			a.Handle(echoProto, echo)
			b.Handle(echoProto, echo)

			id, err := b.Connect(testCtx(t), addrOfKind(t, a, kind))
			if err != nil {
				t.Fatal(err)
			}
			if id != a.ID() {
				t.Fatalf("Connect returned %s, want %s", id, a.ID())
			}
			if got := roundTrip(t, b, a.ID(), payload); got != kind {
				t.Errorf("b→a stream went over %s, want %s", got, kind)
			}
			// The other direction reuses the connection b opened.
			if got := roundTrip(t, a, b.ID(), payload); got != kind {
				t.Errorf("a→b stream went over %s, want %s", got, kind)
			}
			// Several streams at once on one connection.
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() { roundTrip(t, b, a.ID(), payload[:1000]) })
			}
			wg.Wait()
			conns := b.Libp2p().Network().ConnsToPeer(peerID(t, a))
			if len(conns) != 1 {
				t.Fatalf("%d connections between the hosts, want 1", len(conns))
			}
			// The dialling side binds nothing beyond loopback: TCP dials from
			// an ephemeral 127.0.0.1 port, QUIC from its listening socket.
			local := conns[0].LocalMultiaddr().String()
			if !strings.HasPrefix(local, "/ip4/127.0.0.1/") {
				t.Errorf("outgoing connection from %s, want 127.0.0.1", local)
			}
			if kind == "quic" {
				if want := addrOfKind(t, b, "quic"); !strings.HasPrefix(want, local+"/p2p/") {
					t.Errorf("QUIC dial from %s, want the listening socket %s", local, want)
				}
			}
		})
	}
}

func peerID(t *testing.T, h *Host) peer.ID {
	t.Helper()
	id, err := peer.Decode(h.ID())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSingleTransportListen(t *testing.T) {
	for _, tc := range []struct{ kind, listen string }{
		{"tcp", "/ip4/127.0.0.1/tcp/0"},
		{"quic", "/ip4/127.0.0.1/udp/0/quic-v1"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			a := newHost(t, Config{Listen: []string{tc.listen}})
			b := newHost(t, Config{Listen: []string{tc.listen}})
			a.Handle(echoProto, echo)
			b.Handle(echoProto, echo)
			if len(a.Addrs()) != 1 {
				t.Fatalf("Addrs() = %v, want one %s address", a.Addrs(), tc.kind)
			}
			if _, err := b.Connect(testCtx(t), a.Addrs()[0]); err != nil {
				t.Fatal(err)
			}
			if got := roundTrip(t, b, a.ID(), []byte("ping")); got != tc.kind {
				t.Errorf("stream over %s, want %s", got, tc.kind)
			}
			if got := roundTrip(t, a, b.ID(), []byte("pong")); got != tc.kind {
				t.Errorf("stream over %s, want %s", got, tc.kind)
			}
		})
	}
}

func TestAddrs(t *testing.T) {
	h := newHost(t, Config{})
	addrs := h.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("Addrs() = %v, want one TCP and one QUIC address", addrs)
	}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "/ip4/127.0.0.1/") || !strings.HasSuffix(a, "/p2p/"+h.ID()) {
			t.Errorf("address %q is not /ip4/127.0.0.1/…/p2p/%s", a, h.ID())
		}
		if strings.Contains(a, "/tcp/0/") || strings.Contains(a, "/udp/0/") {
			t.Errorf("address %q has port 0", a)
		}
	}
	if !strings.Contains(addrs[0], "/tcp/") || !strings.Contains(addrs[1], "/quic-v1/") {
		t.Errorf("Addrs() = %v, want TCP first then QUIC", addrs)
	}
	parsed, err := ParsePeerAddrs(strings.Join(addrs, ","))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(parsed, ",") != strings.Join(addrs, ",") {
		t.Errorf("ParsePeerAddrs changed %v into %v", addrs, parsed)
	}
	// Only what it listens on: the underlying host advertises the same set.
	var lib []string
	for _, a := range h.Libp2p().Addrs() {
		if !isLoopback(a) {
			t.Errorf("libp2p advertises a non-loopback address %s", a)
		}
		lib = append(lib, a.String())
	}
	if len(lib) > len(addrs) {
		t.Errorf("libp2p advertises %v, more than the listen addresses %v", lib, addrs)
	}
}

func isLoopback(a ma.Multiaddr) bool {
	return strings.HasPrefix(a.String(), "/ip4/127.") || strings.HasPrefix(a.String(), "/ip6/::1/")
}

func TestListenValidation(t *testing.T) {
	for _, listen := range []string{
		"nonsense",
		"/ip4/127.0.0.1/udp/0",                      // UDP without QUIC
		"/ip4/127.0.0.1/tcp/0/ws",                   // websocket: not enabled
		"/ip4/127.0.0.1/udp/0/quic-v1/webtransport", // not enabled
		"/ip4/127.0.0.1/tcp/0/p2p-circuit",          // no relay
		"/ip4/127.0.0.1/tcp/99999",                  // bad port
		"/ip4/127.0.0.1/udp/0/quic",                 // draft QUIC: not supported
		"/unix/tmp/tessera.sock",                    // no unix transport
		"/ip4/127.0.0.1/tcp/0/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN", // /p2p in a listen address
	} {
		h, err := New(testCtx(t), Config{Listen: []string{listen}})
		if err == nil {
			h.Close()
			t.Errorf("listen address %q accepted", listen)
			continue
		}
		if !strings.Contains(err.Error(), listen) {
			t.Errorf("error %q does not quote %q", err, listen)
		}
	}
}

func TestMalformedPeerAddrs(t *testing.T) {
	const id = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
	h := newHost(t, Config{})
	for _, tc := range []struct{ addr, mention string }{
		{"", "empty"},
		{"   ", "empty"},
		{"hello", "malformed"},
		{"/ip4/127.0.0.1/tcp/4001", "/p2p/<peer-id>"},
		{"/p2p/" + id, "no network address"},
		{"/ip4/999.0.0.1/tcp/4001/p2p/" + id, "malformed"},
		{"/ip4/127.0.0.1/tcp/4001/p2p/notapeerid", "malformed"},
		{"/ip4/127.0.0.1/tcp/4001/p2p/" + id + "/tcp/5", "/p2p/<peer-id>"},
		{"/ip4/127.0.0.1/udp/4001/p2p/" + id, "unsupported transport"},
		{"/ip4/127.0.0.1/tcp/4001/ws/p2p/" + id, "unsupported transport"},
		{"/ip4/127.0.0.1/p2p/" + id, "unsupported transport"},
		{"/ip4/127.0.0.1/tcp/4001/p2p/" + id + "/p2p-circuit/p2p/" + id, "unsupported transport"},
		{"/dnsaddr/example.org/tcp/1/p2p/" + id, "must start with"},
		{"/unix/tmp/x.sock/p2p/" + id, "/p2p/<peer-id>"}, // /unix swallows the rest
	} {
		start := time.Now()
		_, err := h.Connect(testCtx(t), tc.addr)
		if err == nil {
			t.Errorf("Connect(%q) succeeded", tc.addr)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("Connect(%q) error %q does not mention %q", tc.addr, err, tc.mention)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Connect(%q) took %v to reject a malformed address", tc.addr, d)
		}
		// In a list, blank entries are skipped; every other one is refused.
		if strings.TrimSpace(tc.addr) != "" {
			if _, err := ParsePeerAddrs("/ip4/127.0.0.1/tcp/1/p2p/" + id + "," + tc.addr); err == nil {
				t.Errorf("ParsePeerAddrs accepted %q", tc.addr)
			}
		}
	}
	if _, err := h.Connect(testCtx(t), h.Addrs()[0]); err == nil || !strings.Contains(err.Error(), "own address") {
		t.Errorf("connecting to itself: %v", err)
	}
}

func TestParsePeerAddrs(t *testing.T) {
	const id = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
	tcp := "/ip4/127.0.0.1/tcp/4001/p2p/" + id
	quic := "/ip4/127.0.0.1/udp/4002/quic-v1/p2p/" + id
	dns := "/dns4/node.example/tcp/4001/p2p/" + id
	v6 := "/ip6/::1/tcp/4001/p2p/" + id
	// The legacy /ipfs/ name is accepted and canonicalised to /p2p/.
	legacy := "/ip4/127.0.0.1/tcp/4001/ipfs/" + id

	got, err := ParsePeerAddrs(" " + tcp + " ,, " + quic + ",\n" + dns + "," + v6 + "," + legacy + ",")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{tcp, quic, dns, v6, tcp}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("ParsePeerAddrs = %v, want %v", got, want)
	}
	if got, err := ParsePeerAddrs(" , "); err != nil || got != nil {
		t.Fatalf("empty list: %v, %v", got, err)
	}
	_, err = ParsePeerAddrs(tcp + ",/ip4/127.0.0.1/tcp/4001")
	if err == nil || !strings.Contains(err.Error(), "peer address 2") || !strings.Contains(err.Error(), "/ip4/127.0.0.1/tcp/4001") {
		t.Fatalf("want an error naming entry 2, got %v", err)
	}
}

func TestDialClosedPeerFailsInBoundedTime(t *testing.T) {
	for _, kind := range []string{"tcp", "quic"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			gone := newHost(t, Config{})
			addr := addrOfKind(t, gone, kind)
			if err := gone.Close(); err != nil {
				t.Fatal(err)
			}
			h := newHost(t, Config{})
			const bound = 2 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			start := time.Now()
			_, err := h.Connect(ctx, addr)
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("dialling a closed host succeeded")
			}
			if !strings.Contains(err.Error(), addr) {
				t.Errorf("error %q does not name the address", err)
			}
			if elapsed > bound+time.Second {
				t.Errorf("dial failed only after %v (context deadline %v)", elapsed, bound)
			}
			t.Logf("%s dial failed after %v: %v", kind, elapsed.Round(time.Millisecond), err)
		})
	}
}

func TestOpenStreamErrors(t *testing.T) {
	a, b := newHost(t, Config{}), newHost(t, Config{})
	a.Handle(echoProto, echo)
	if _, err := b.Connect(testCtx(t), a.Addrs()[0]); err != nil {
		t.Fatal(err)
	}

	const unknown = "/tessera/no-such-protocol/1.0.0"
	_, err := b.OpenStream(testCtx(t), a.ID(), unknown)
	if !errors.Is(err, ErrProtocolNotSupported) || !strings.Contains(err.Error(), unknown) {
		t.Fatalf("unknown protocol: want ErrProtocolNotSupported naming %s, got %v", unknown, err)
	}
	// The connection survives a refused protocol.
	roundTrip(t, b, a.ID(), []byte("still here"))

	if _, err := b.OpenStream(testCtx(t), "not-a-peer-id", echoProto); err == nil ||
		!strings.Contains(err.Error(), "invalid peer ID") {
		t.Errorf("bad peer ID: %v", err)
	}
	if _, err := b.OpenStream(testCtx(t), b.ID(), echoProto); err == nil {
		t.Error("stream to self accepted")
	}
	if _, err := b.OpenStream(testCtx(t), a.ID(), ""); err == nil {
		t.Error("empty protocol accepted")
	}

	// A peer this host has no address for fails fast.
	stranger := newHost(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := b.OpenStream(ctx, stranger.ID(), echoProto); err == nil {
		t.Error("stream to a peer with no known address succeeded")
	}
}

func TestRedialAfterDisconnect(t *testing.T) {
	a, b := newHost(t, Config{}), newHost(t, Config{})
	a.Handle(echoProto, echo)
	if _, err := b.Connect(testCtx(t), addrOfKind(t, a, "tcp")); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, b, a.ID(), []byte("one"))
	if err := b.Libp2p().Network().ClosePeer(peerID(t, a)); err != nil {
		t.Fatal(err)
	}
	// OpenStream dials again from the remembered address.
	roundTrip(t, b, a.ID(), []byte("two"))
}

func TestCloseIdempotentAndReleasesPorts(t *testing.T) {
	h := newHost(t, Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	addr := h.Addrs()[0]
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The port is free again: a new host can listen on it.
	info, err := parsePeerAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := New(testCtx(t), Config{Listen: []string{info.Addrs[0].String()}})
	if err != nil {
		t.Fatalf("relisten on %s: %v", info.Addrs[0], err)
	}
	h2.Close()
}

func TestNoGoroutineLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for goroutines to exit")
	}
	// Warm up process-wide goroutines libp2p starts once.
	warm := newHost(t, Config{})
	warm.Close()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()

	a, err := New(testCtx(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(testCtx(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	a.Handle(echoProto, echo)
	if _, err := b.Connect(testCtx(t), a.Addrs()[1]); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, b, a.ID(), []byte("x"))
	a.Close()
	b.Close()

	var after int
	for range 50 { // up to 5 s
		if after = runtime.NumGoroutine(); after <= before+2 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Fatalf("%d goroutines before, %d after closing both hosts:\n%s", before, after, buf[:runtime.Stack(buf, true)])
}
