package discovery

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/wire"
)

// Format is the announcement encoding's version (field 1 of the body).
const Format = 1

// Limits on announcements. An envelope longer than MaxEnvelopeBytes, or
// with more or longer fields than these, is rejected unread.
const (
	MaxEnvelopeBytes = 4096
	MaxAddrs         = 16
	MaxAddrBytes     = 256
	MaxSoftware      = 64
	MaxOperator      = 128
	MaxFreeSlots     = 1 << 20
	MaxThroughput    = 1e12
	maxMillis        = 1 << 50 // year ~37650: any larger time is nonsense
)

// signingDomain prefixes the signed bytes, so that an announcement
// signature can never be taken for another Tessera signature.
const signingDomain = "tessera/announce/v1\x00"

// Errors wrapped by Open, Check and Registry.Put. The pubsub validator
// rejects (and penalises the sender of) the first group and ignores the
// second, which can happen to honest peers (delays, clock skew, reordering).
var (
	ErrMalformed   = errors.New("discovery: malformed announcement")
	ErrTooLarge    = errors.New("discovery: announcement too large")
	ErrSignature   = errors.New("discovery: bad announcement signature")
	ErrLifetime    = errors.New("discovery: announcement lifetime too long")
	ErrWrongModel  = errors.New("discovery: announcement for another model")
	ErrWrongSender = errors.New("discovery: announcement published by another peer")

	ErrExpired = errors.New("discovery: announcement expired")
	ErrFuture  = errors.New("discovery: announcement issued in the future")
	ErrOld     = errors.New("discovery: announcement older than one already seen")
)

// Announcement is what a node says about itself on its model's topic.
// Times are kept to the millisecond, as encoded.
type Announcement struct {
	Peer        peer.ID
	Addrs       []ma.Multiaddr // transport addresses, without /p2p/<id>
	ModelCommit [32]byte
	Layers      int         // the model's layer count L
	Range       model.Range // layers served, within [0, Layers)
	// Throughput is the measured tokens per second through Range (0: not
	// measured yet).
	Throughput   float64
	FreeSlots    int    // sessions the node can open now
	MaxPositions int    // most positions a session is granted (0: unknown)
	Protocol     int    // forward protocol version (wire.Version)
	Software     string // software name and version, for display
	// Operator names who runs the node, so that clients can spread a
	// session over operators; "" means the node is its own operator.
	Operator string
	// Seq orders a peer's announcements: a registry keeps the highest and
	// ignores any other. Announcers use the issue time in nanoseconds, so
	// a restarted node's sequence still grows.
	Seq     uint64
	Issued  time.Time
	Expires time.Time
}

// Op returns the announcement's operator: Operator, or the peer id.
func (a *Announcement) Op() string {
	if a.Operator != "" {
		return a.Operator
	}
	return a.Peer.String()
}

// TTL is the announcement's lifetime.
func (a *Announcement) TTL() time.Duration { return a.Expires.Sub(a.Issued) }

// Field numbers of the body. The encoding is protobuf wire format with
// every field in this order, scalars always present, Software and
// Operator only when not empty, Addrs repeated in order: so each
// announcement has exactly one encoding, and decoding checks that the
// bytes are that encoding.
const (
	fFormat       = 1
	fPeer         = 2
	fAddr         = 3
	fModelCommit  = 4
	fLayers       = 5
	fFirst        = 6
	fLast         = 7
	fThroughput   = 8
	fFreeSlots    = 9
	fMaxPositions = 10
	fProtocol     = 11
	fSoftware     = 12
	fOperator     = 13
	fSeq          = 14
	fIssued       = 15
	fExpires      = 16

	fEnvBody = 1
	fEnvSig  = 2
)

// check validates the fields on their own (no clock).
func (a *Announcement) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if err := a.Peer.Validate(); err != nil {
		return bad("peer id: %v", err)
	}
	if len(a.Addrs) == 0 || len(a.Addrs) > MaxAddrs {
		return bad("%d addresses (want 1 to %d)", len(a.Addrs), MaxAddrs)
	}
	for _, m := range a.Addrs {
		if len(m) == 0 || len(m.Bytes()) > MaxAddrBytes {
			return bad("address %q empty or longer than %d bytes", m, MaxAddrBytes)
		}
		if _, err := m.ValueForProtocol(ma.P_P2P); err == nil {
			return bad("address %q holds a /p2p part (the peer id is a field of its own)", m)
		}
	}
	if a.Layers <= 0 || a.Layers > wire.LayerLimit {
		return bad("model of %d layers", a.Layers)
	}
	if a.Range.First < 0 || a.Range.Last <= a.Range.First || a.Range.Last > a.Layers {
		return bad("range %s outside the model's 0:%d", a.Range, a.Layers)
	}
	if math.IsNaN(a.Throughput) || a.Throughput < 0 || a.Throughput > MaxThroughput {
		return bad("throughput %v", a.Throughput)
	}
	if a.FreeSlots < 0 || a.FreeSlots > MaxFreeSlots {
		return bad("%d free slots", a.FreeSlots)
	}
	if a.MaxPositions < 0 || a.MaxPositions > wire.PositionLimit {
		return bad("max positions %d", a.MaxPositions)
	}
	if a.Protocol <= 0 || a.Protocol > math.MaxUint16 {
		return bad("protocol version %d", a.Protocol)
	}
	if err := checkText(a.Software, MaxSoftware); err != nil {
		return bad("software: %v", err)
	}
	if err := checkText(a.Operator, MaxOperator); err != nil {
		return bad("operator: %v", err)
	}
	if a.Seq == 0 {
		return bad("sequence number 0")
	}
	for _, t := range []time.Time{a.Issued, a.Expires} {
		if ms := t.UnixMilli(); ms <= 0 || ms > maxMillis || !t.Equal(time.UnixMilli(ms)) {
			return bad("time %v not a positive whole millisecond", t)
		}
	}
	return nil
}

func checkText(s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%d bytes (at most %d)", len(s), limit)
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("unprintable character %U", r)
		}
	}
	return nil
}

// appendBody appends the canonical encoding of a (already checked).
func (a *Announcement) appendBody(b []byte) []byte {
	varint := func(num protowire.Number, v uint64) {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		b = protowire.AppendVarint(b, v)
	}
	bytesField := func(num protowire.Number, v []byte) {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendBytes(b, v)
	}
	varint(fFormat, Format)
	bytesField(fPeer, []byte(a.Peer))
	for _, m := range a.Addrs {
		bytesField(fAddr, m.Bytes())
	}
	bytesField(fModelCommit, a.ModelCommit[:])
	varint(fLayers, uint64(a.Layers))
	varint(fFirst, uint64(a.Range.First))
	varint(fLast, uint64(a.Range.Last))
	b = protowire.AppendTag(b, fThroughput, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(a.Throughput+0)) // +0 turns -0 into 0
	varint(fFreeSlots, uint64(a.FreeSlots))
	varint(fMaxPositions, uint64(a.MaxPositions))
	varint(fProtocol, uint64(a.Protocol))
	if a.Software != "" {
		bytesField(fSoftware, []byte(a.Software))
	}
	if a.Operator != "" {
		bytesField(fOperator, []byte(a.Operator))
	}
	varint(fSeq, a.Seq)
	varint(fIssued, uint64(a.Issued.UnixMilli()))
	varint(fExpires, uint64(a.Expires.UnixMilli()))
	return b
}

// Encode returns the canonical body encoding of a, or an error naming the
// first invalid field.
func (a *Announcement) Encode() ([]byte, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	return a.appendBody(nil), nil
}

// Decode parses a body encoded by Encode. It accepts exactly the canonical
// encoding of a valid announcement: fields out of order, repeated, unknown
// or missing, non-minimal varints and out-of-range values are errors
// wrapping ErrMalformed.
func Decode(body []byte) (Announcement, error) {
	var a Announcement
	bad := func(format string, args ...any) (Announcement, error) {
		return Announcement{}, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if len(body) > MaxEnvelopeBytes {
		return bad("body of %d bytes", len(body))
	}
	last := protowire.Number(0)
	var v [fExpires + 1]uint64
	seen := [fExpires + 1]bool{}
	for b := body; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return bad("field tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		if num < last || (num == last && num != fAddr) || num > fExpires {
			return bad("field %d out of order, repeated or unknown", num)
		}
		last = num
		seen[num] = true
		switch num {
		case fPeer, fAddr, fModelCommit, fSoftware, fOperator:
			if typ != protowire.BytesType {
				return bad("field %d has wire type %d", num, typ)
			}
			val, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return bad("field %d: %v", num, protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case fPeer:
				id, err := peer.IDFromBytes(val)
				if err != nil {
					return bad("peer id: %v", err)
				}
				a.Peer = id
			case fAddr:
				if len(a.Addrs) == MaxAddrs {
					return bad("more than %d addresses", MaxAddrs)
				}
				if len(val) > MaxAddrBytes {
					return bad("address of %d bytes", len(val))
				}
				m, err := ma.NewMultiaddrBytes(val)
				if err != nil {
					return bad("address: %v", err)
				}
				a.Addrs = append(a.Addrs, m)
			case fModelCommit:
				if len(val) != len(a.ModelCommit) {
					return bad("model commitment of %d bytes", len(val))
				}
				copy(a.ModelCommit[:], val)
			case fSoftware:
				a.Software = string(val)
			case fOperator:
				a.Operator = string(val)
			}
		case fThroughput:
			if typ != protowire.Fixed64Type {
				return bad("field %d has wire type %d", num, typ)
			}
			val, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return bad("throughput: %v", protowire.ParseError(n))
			}
			b = b[n:]
			a.Throughput = math.Float64frombits(val)
		default:
			if typ != protowire.VarintType {
				return bad("field %d has wire type %d", num, typ)
			}
			val, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return bad("field %d: %v", num, protowire.ParseError(n))
			}
			b = b[n:]
			v[num] = val
		}
	}
	for _, num := range []protowire.Number{fFormat, fPeer, fAddr, fModelCommit, fLayers, fFirst, fLast, fThroughput,
		fFreeSlots, fMaxPositions, fProtocol, fSeq, fIssued, fExpires} {
		if !seen[num] {
			return bad("field %d missing", num)
		}
	}
	if v[fFormat] != Format {
		return bad("format %d (this software reads format %d)", v[fFormat], Format)
	}
	const limit = 1 << 62 // keeps every conversion to int and time in range
	for _, num := range []protowire.Number{fLayers, fFirst, fLast, fFreeSlots, fMaxPositions, fProtocol, fIssued, fExpires} {
		if v[num] > limit {
			return bad("field %d = %d out of range", num, v[num])
		}
	}
	a.Layers = int(v[fLayers])
	a.Range = model.Range{First: int(v[fFirst]), Last: int(v[fLast])}
	a.FreeSlots = int(v[fFreeSlots])
	a.MaxPositions = int(v[fMaxPositions])
	a.Protocol = int(v[fProtocol])
	a.Seq = v[fSeq]
	a.Issued = time.UnixMilli(int64(v[fIssued]))
	a.Expires = time.UnixMilli(int64(v[fExpires]))
	if err := a.check(); err != nil {
		return Announcement{}, err
	}
	if !bytes.Equal(a.appendBody(make([]byte, 0, len(body))), body) {
		return bad("not in canonical form")
	}
	return a, nil
}

// Sign encodes a and signs it with key, which must be the Ed25519 key of
// a.Peer. It returns the envelope that travels on the topic.
func (a *Announcement) Sign(key crypto.PrivKey) ([]byte, error) {
	if key == nil || key.Type() != crypto.Ed25519 {
		return nil, errors.New("discovery: announcements are signed with an Ed25519 key")
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("discovery: signing key: %w", err)
	}
	if id != a.Peer {
		return nil, fmt.Errorf("discovery: signing key belongs to %s, the announcement to %s", id, a.Peer)
	}
	body, err := a.Encode()
	if err != nil {
		return nil, err
	}
	sig, err := key.Sign(signedBytes(body))
	if err != nil {
		return nil, fmt.Errorf("discovery: sign announcement: %w", err)
	}
	env := protowire.AppendTag(nil, fEnvBody, protowire.BytesType)
	env = protowire.AppendBytes(env, body)
	env = protowire.AppendTag(env, fEnvSig, protowire.BytesType)
	env = protowire.AppendBytes(env, sig)
	if len(env) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: %d bytes (at most %d); announce fewer addresses", ErrTooLarge, len(env), MaxEnvelopeBytes)
	}
	return env, nil
}

func signedBytes(body []byte) []byte {
	return append([]byte(signingDomain), body...)
}

// Open decodes an envelope and checks its signature against the public key
// embedded in the announced peer id (which must be an Ed25519 one). It does
// not look at the clock: see Check.
func Open(env []byte) (Announcement, error) {
	if len(env) > MaxEnvelopeBytes {
		return Announcement{}, fmt.Errorf("%w: %d bytes (at most %d)", ErrTooLarge, len(env), MaxEnvelopeBytes)
	}
	var body, sig []byte
	b := env
	for i, want := range []protowire.Number{fEnvBody, fEnvSig} {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num != want || typ != protowire.BytesType {
			return Announcement{}, fmt.Errorf("%w: envelope field %d", ErrMalformed, i+1)
		}
		b = b[n:]
		val, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return Announcement{}, fmt.Errorf("%w: envelope field %d: %v", ErrMalformed, i+1, protowire.ParseError(n))
		}
		b = b[n:]
		if i == 0 {
			body = val
		} else {
			sig = val
		}
	}
	if len(b) != 0 {
		return Announcement{}, fmt.Errorf("%w: %d bytes after the envelope", ErrMalformed, len(b))
	}
	// The envelope's own framing must be canonical too.
	canon := protowire.AppendTag(nil, fEnvBody, protowire.BytesType)
	canon = protowire.AppendBytes(canon, body)
	canon = protowire.AppendTag(canon, fEnvSig, protowire.BytesType)
	canon = protowire.AppendBytes(canon, sig)
	if !bytes.Equal(canon, env) {
		return Announcement{}, fmt.Errorf("%w: envelope not in canonical form", ErrMalformed)
	}
	a, err := Decode(body)
	if err != nil {
		return Announcement{}, err
	}
	pub, err := a.Peer.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return Announcement{}, fmt.Errorf("%w: peer id %s does not embed an Ed25519 key", ErrSignature, a.Peer)
	}
	if len(sig) != 64 {
		return Announcement{}, fmt.Errorf("%w: signature of %d bytes", ErrSignature, len(sig))
	}
	if ok, err := pub.Verify(signedBytes(body), sig); err != nil || !ok {
		return Announcement{}, fmt.Errorf("%w: from %s", ErrSignature, a.Peer)
	}
	return a, nil
}

// Policy bounds the times of announcements a node accepts.
type Policy struct {
	// MaxTTL is the longest lifetime (Expires − Issued) accepted (0:
	// DefaultMaxTTL).
	MaxTTL time.Duration
	// MaxSkew is how far in the future Issued may lie, for clocks that
	// disagree (0: DefaultMaxSkew).
	MaxSkew time.Duration
}

// Defaults of Policy.
const (
	DefaultMaxTTL  = 10 * time.Minute
	DefaultMaxSkew = 30 * time.Second
)

func (p Policy) withDefaults() Policy {
	if p.MaxTTL <= 0 {
		p.MaxTTL = DefaultMaxTTL
	}
	if p.MaxSkew <= 0 {
		p.MaxSkew = DefaultMaxSkew
	}
	return p
}

// Check checks a's times against now: its lifetime must be positive and at
// most MaxTTL (else ErrLifetime), it must not have expired (ErrExpired),
// and it must not have been issued more than MaxSkew after now (ErrFuture).
func (p Policy) Check(a *Announcement, now time.Time) error {
	p = p.withDefaults()
	switch ttl := a.TTL(); {
	case ttl <= 0 || ttl > p.MaxTTL:
		return fmt.Errorf("%w: %v (at most %v)", ErrLifetime, ttl, p.MaxTTL)
	case !a.Expires.After(now):
		return fmt.Errorf("%w: %s expired at %s", ErrExpired, a.Peer, a.Expires.UTC().Format(time.RFC3339Nano))
	case a.Issued.Sub(now) > p.MaxSkew:
		return fmt.Errorf("%w: %s issued it %v ahead of this clock", ErrFuture, a.Peer, a.Issued.Sub(now))
	}
	return nil
}

// Rejectable reports whether err proves the sender wrong (a malformed,
// oversized or badly signed announcement, one for another model, or one
// published by another peer), as opposed to one an honest peer may relay
// (expired, from a skewed clock, superseded).
func Rejectable(err error) bool {
	for _, e := range []error{ErrMalformed, ErrTooLarge, ErrSignature, ErrLifetime, ErrWrongModel, ErrWrongSender} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
