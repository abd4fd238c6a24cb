package discovery

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tessera-net/tessera/model"
)

// t0 is the tests' fixed "now".
var t0 = time.UnixMilli(1_800_000_000_000)

var testCommit = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

func testAnnouncement(id peer.ID, r model.Range, seq uint64, issued time.Time, ttl time.Duration) Announcement {
	return Announcement{
		Peer:         id,
		Addrs:        []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001"), ma.StringCast("/ip4/127.0.0.1/udp/4001/quic-v1")},
		ModelCommit:  testCommit,
		Layers:       6,
		Range:        r,
		Throughput:   123.5,
		FreeSlots:    16,
		MaxPositions: 2048,
		Protocol:     1,
		Software:     "tessera/test",
		Seq:          seq,
		Issued:       issued,
		Expires:      issued.Add(ttl),
	}
}

func sign(t testing.TB, a Announcement, k crypto.PrivKey) []byte {
	t.Helper()
	env, err := a.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestAnnouncementRoundTrip(t *testing.T) {
	k, id := newKey(t)
	a := testAnnouncement(id, model.Range{First: 2, Last: 4}, 7, t0, time.Minute)
	a.Operator = "alice"
	env := sign(t, a, k)
	got, err := Open(env)
	if err != nil {
		t.Fatal(err)
	}
	if got.Peer != a.Peer || got.Range != a.Range || got.Throughput != a.Throughput || got.Seq != 7 ||
		!got.Issued.Equal(a.Issued) || !got.Expires.Equal(a.Expires) || got.Operator != "alice" || got.Op() != "alice" ||
		len(got.Addrs) != 2 || !got.Addrs[1].Equal(a.Addrs[1]) || got.ModelCommit != testCommit || got.Software != a.Software {
		t.Errorf("round trip: got %+v, want %+v", got, a)
	}
	// Deterministic: the same announcement always encodes the same way.
	if env2 := sign(t, got, k); !bytes.Equal(env, env2) {
		t.Error("re-signing the decoded announcement gave other bytes")
	}
	a.Operator = ""
	if a.Op() != id.String() {
		t.Errorf("default operator %q", a.Op())
	}
}

func TestAnnouncementRejects(t *testing.T) {
	k, id := newKey(t)
	k2, id2 := newKey(t)
	good := testAnnouncement(id, model.Range{First: 0, Last: 3}, 1, t0, time.Minute)
	env := sign(t, good, k)

	// A signature by another key over the same body.
	body, _ := good.Encode()
	forged, _ := k2.Sign(signedBytes(body))
	forgedEnv := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), body)
	forgedEnv = protowire.AppendBytes(protowire.AppendTag(forgedEnv, 2, protowire.BytesType), forged)

	flipped := bytes.Clone(env)
	flipped[len(flipped)-1] ^= 1 // signature bit
	tampered := bytes.Clone(env)
	i := bytes.Index(tampered, []byte("tessera/test"))
	tampered[i] = 'T' // body byte

	cases := []struct {
		name string
		env  []byte
		want error
	}{
		{"wrong key", forgedEnv, ErrSignature},
		{"flipped signature bit", flipped, ErrSignature},
		{"tampered body", tampered, ErrSignature},
		{"oversized", append(bytes.Clone(env), make([]byte, MaxEnvelopeBytes)...), ErrTooLarge},
		{"trailing bytes", append(bytes.Clone(env), 0), ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"truncated", env[:len(env)-5], ErrMalformed},
	}
	for _, c := range cases {
		if _, err := Open(c.env); !errors.Is(err, c.want) {
			t.Errorf("%s: Open error %v, want %v", c.name, err, c.want)
		}
	}
	// Signing for another peer's id is refused.
	if _, err := good.Sign(k2); err == nil || !strings.Contains(err.Error(), id2.String()) {
		t.Errorf("signing another peer's announcement: %v", err)
	}
}

func TestAnnouncementInvalidFields(t *testing.T) {
	k, id := newKey(t)
	mutate := []struct {
		name string
		f    func(a *Announcement)
	}{
		{"no addresses", func(a *Announcement) { a.Addrs = nil }},
		{"too many addresses", func(a *Announcement) {
			for range MaxAddrs {
				a.Addrs = append(a.Addrs, a.Addrs[0])
			}
		}},
		{"address with /p2p", func(a *Announcement) {
			a.Addrs = []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/1/p2p/" + id.String())}
		}},
		{"empty range", func(a *Announcement) { a.Range = model.Range{First: 2, Last: 2} }},
		{"range past the model", func(a *Announcement) { a.Range = model.Range{First: 2, Last: 7} }},
		{"no layers", func(a *Announcement) { a.Layers = 0 }},
		{"NaN throughput", func(a *Announcement) { a.Throughput = math.NaN() }},
		{"infinite throughput", func(a *Announcement) { a.Throughput = math.Inf(1) }},
		{"negative throughput", func(a *Announcement) { a.Throughput = -1 }},
		{"negative slots", func(a *Announcement) { a.FreeSlots = -1 }},
		{"protocol 0", func(a *Announcement) { a.Protocol = 0 }},
		{"long operator", func(a *Announcement) { a.Operator = strings.Repeat("x", MaxOperator+1) }},
		{"control character", func(a *Announcement) { a.Software = "a\nb" }},
		{"sequence 0", func(a *Announcement) { a.Seq = 0 }},
		{"sub-millisecond time", func(a *Announcement) { a.Issued = a.Issued.Add(time.Microsecond) }},
	}
	for _, m := range mutate {
		a := testAnnouncement(id, model.Range{First: 0, Last: 3}, 1, t0, time.Minute)
		m.f(&a)
		if _, err := a.Sign(k); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Sign error %v, want ErrMalformed", m.name, err)
		}
	}
}

func TestDecodeCanonicalOnly(t *testing.T) {
	_, id := newKey(t)
	a := testAnnouncement(id, model.Range{First: 0, Last: 3}, 1, t0, time.Minute)
	body, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(body); err != nil {
		t.Fatal(err)
	}
	// A non-minimal varint for the format field: same value, other bytes.
	long := append([]byte{body[0], 0x81, 0x00}, body[2:]...)
	// An unknown field appended.
	unknown := protowire.AppendVarint(protowire.AppendTag(bytes.Clone(body), 17, protowire.VarintType), 1)
	// A field repeated (the format, again, at the end).
	repeated := protowire.AppendVarint(protowire.AppendTag(bytes.Clone(body), 1, protowire.VarintType), 1)
	// Negative zero throughput.
	a.Throughput = 0
	zero, _ := a.Encode()
	i := bytes.Index(zero, append(protowire.AppendTag(nil, fThroughput, protowire.Fixed64Type), make([]byte, 8)...))
	negZero := bytes.Clone(zero)
	negZero[i+8] = 0x80
	for name, b := range map[string][]byte{"non-minimal varint": long, "unknown field": unknown, "repeated field": repeated, "negative zero": negZero} {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode error %v, want ErrMalformed", name, err)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	_, id := newKey(t)
	p := Policy{MaxTTL: 10 * time.Minute, MaxSkew: 30 * time.Second}
	cases := []struct {
		name   string
		issued time.Time
		ttl    time.Duration
		want   error
	}{
		{"fresh", t0, time.Minute, nil},
		{"expired", t0.Add(-2 * time.Minute), time.Minute, ErrExpired},
		{"expires exactly now", t0.Add(-time.Minute), time.Minute, ErrExpired},
		{"lifetime too long", t0, 11 * time.Minute, ErrLifetime},
		{"issued in the future", t0.Add(time.Minute), time.Minute, ErrFuture},
		{"small skew is fine", t0.Add(10 * time.Second), time.Minute, nil},
	}
	for _, c := range cases {
		a := testAnnouncement(id, model.Range{First: 0, Last: 3}, 1, c.issued, c.ttl)
		if err := p.Check(&a, t0); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s: Check = %v, want %v", c.name, err, c.want)
		}
	}
	if !Rejectable(ErrSignature) || !Rejectable(ErrLifetime) || Rejectable(ErrExpired) || Rejectable(ErrOld) || Rejectable(ErrFuture) {
		t.Error("Rejectable classifies wrongly")
	}
}

// FuzzOpen feeds arbitrary bytes to the envelope and body decoders: they
// must never panic, and whatever they accept must re-encode to exactly the
// bytes given (one encoding per announcement).
func FuzzOpen(f *testing.F) {
	k, id := newKey(f)
	a := testAnnouncement(id, model.Range{First: 1, Last: 5}, 42, t0, time.Minute)
	a.Operator = "op"
	env := sign(f, a, k)
	body, _ := a.Encode()
	f.Add(env)
	f.Add(body)
	f.Add([]byte{})
	f.Add(env[:len(env)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, err := Decode(b); err == nil {
			re, err := got.Encode()
			if err != nil {
				t.Fatalf("decoded announcement does not encode: %v", err)
			}
			if !bytes.Equal(re, b) {
				t.Fatalf("decode/encode not the identity:\n%x\n%x", b, re)
			}
		}
		if got, err := Open(b); err == nil {
			if _, err := got.Encode(); err != nil {
				t.Fatalf("opened announcement does not encode: %v", err)
			}
		}
		_, _, _ = parseSnapshot(b)
	})
}

// TestEnvelopeSize records the size of a typical announcement (two
// addresses, an operator name): the per-node traffic of discovery is this
// many bytes per Interval, times the gossip fan-out.
func TestEnvelopeSize(t *testing.T) {
	k, id := newKey(t)
	a := testAnnouncement(id, model.Range{First: 0, Last: 40}, uint64(t0.UnixNano()), t0, 90*time.Second)
	a.Layers = 80
	a.Operator = "alice@example"
	env := sign(t, a, k)
	if len(env) > 512 {
		t.Errorf("typical envelope is %d bytes", len(env))
	}
	t.Logf("typical signed announcement: %d bytes", len(env))
}
