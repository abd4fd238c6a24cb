package swarm

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tessera-net/tessera/wire"
)

// Per-peer defaults, used when the corresponding PeerLimits field is zero.
// The sessions one peer holds at once (twice the generations a gateway
// runs by default: a gateway opens its next session as soon as it has
// closed the last, before the node has seen the close) bound what it
// takes of the node: a session's
// calls come one after another. The rates stop a peer churning through
// sessions and bound its calls; they are above what an honest client
// sends even on the tiny demo model, where a session decodes about two
// thousand tokens a second (BENCHMARKS.md). An operator of a slow machine
// sets lower ones (tessera node --peer-position-rate).
const (
	DefaultMaxSessionsPerPeer = 8
	// DefaultMaxPeers bounds the peers whose limits are tracked at once;
	// beyond it the least recently seen idle peer is forgotten.
	DefaultMaxPeers = 4096
)

// Default rates, per peer.
var (
	DefaultOpenRate     = Rate{Limit: 16, Burst: 64}         // session opens a second
	DefaultForwardRate  = Rate{Limit: 8192, Burst: 32768}    // forward calls a second
	DefaultPositionRate = Rate{Limit: 65536, Burst: 1 << 20} // positions computed a second
	// A client audits with an OpenCells (a few when the answers need
	// several messages) per audited forward call, and takes any refusal to
	// open as the node's fault (proof.ErrRefused): the rate of openings is
	// that of forward calls, which only a client asking for openings again
	// and again exceeds.
	DefaultOpeningRate = DefaultForwardRate
)

// Rate is a token bucket: Limit events a second on average, at most Burst
// at once. The zero Rate means the default of the field it fills; a Limit
// of rate.Inf means no limit.
type Rate struct {
	Limit rate.Limit
	Burst int
}

// String is "N/s (burst B)", or "unlimited".
func (r Rate) String() string {
	if r.Limit == rate.Inf {
		return "unlimited"
	}
	return fmt.Sprintf("%s/s (burst %d)", trimFloat(float64(r.Limit)), r.Burst)
}

func (r Rate) orDefault(d Rate) Rate {
	if r.Limit == 0 && r.Burst == 0 {
		return d
	}
	if r.Burst <= 0 {
		r.Burst = max(1, int(math.Ceil(float64(r.Limit))))
	}
	return r
}

// ParseRate parses "N/s", "N/min" or "N/h" (N events per unit, a burst of
// the events of one unit at most, and at least one); "0" or "unlimited" is
// no limit.
func ParseRate(s string) (Rate, error) {
	if s == "0" || s == "unlimited" {
		return Rate{Limit: rate.Inf}, nil
	}
	var n float64
	var unit string
	if _, err := fmt.Sscanf(s, "%g/%s", &n, &unit); err != nil || n <= 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return Rate{}, fmt.Errorf("rate %q: want N/s, N/min or N/h with N > 0 (or 0 for no limit)", s)
	}
	var per time.Duration
	switch unit {
	case "s", "sec", "second":
		per = time.Second
	case "m", "min", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	default:
		return Rate{}, fmt.Errorf("rate %q: unit %q is not s, min or h", s, unit)
	}
	return Rate{Limit: rate.Limit(n / per.Seconds()), Burst: max(1, int(math.Ceil(n)))}, nil
}

// PeerLimits bound what one remote peer may ask of a node. The zero value
// uses the defaults above.
type PeerLimits struct {
	// Sessions bounds the sessions a peer holds open at once (0:
	// DefaultMaxSessionsPerPeer; negative: no bound).
	Sessions int
	// Opens limits session opens, Forwards forward calls, Positions the
	// positions computed (a call of more positions than the burst passes
	// when the bucket is full) and Openings trace-opening requests.
	Opens, Forwards, Positions, Openings Rate
	// MaxPeers bounds the peers tracked (0: DefaultMaxPeers).
	MaxPeers int
	// Noun names what Sessions counts in refusals ("sessions"; a
	// validator counts "jobs").
	Noun string
}

// limitKind is one of the rates a PeerLimiter keeps per peer.
type limitKind int

const (
	limitOpens limitKind = iota
	limitForwards
	limitPositions
	limitOpenings
	numLimitKinds
)

var limitNames = [numLimitKinds]string{"opens", "forward calls", "positions", "openings"}

// PeerLimiter applies PeerLimits to each remote peer. Its state is bounded:
// a peer with nothing open whose buckets have refilled is forgotten (it
// would get the same full buckets back), and at most MaxPeers are kept.
// It is safe for concurrent use.
type PeerLimiter struct {
	lim   PeerLimits
	rates [numLimitKinds]Rate
	idle  time.Duration // after this long unseen, a peer's buckets are full

	mu        sync.Mutex
	peers     map[string]*peerState
	lastSweep time.Time
	refused   [numLimitKinds + 1]uint64 // the last counts session refusals
}

type peerState struct {
	open     int
	seen     time.Time
	limiters [numLimitKinds]*rate.Limiter
}

// NewPeerLimiter returns a limiter applying l.
func NewPeerLimiter(l PeerLimits) *PeerLimiter {
	if l.Sessions == 0 {
		l.Sessions = DefaultMaxSessionsPerPeer
	}
	if l.MaxPeers <= 0 {
		l.MaxPeers = DefaultMaxPeers
	}
	if l.Noun == "" {
		l.Noun = "sessions"
	}
	p := &PeerLimiter{lim: l, peers: map[string]*peerState{}, idle: time.Minute}
	p.rates = [numLimitKinds]Rate{
		l.Opens.orDefault(DefaultOpenRate),
		l.Forwards.orDefault(DefaultForwardRate),
		l.Positions.orDefault(DefaultPositionRate),
		l.Openings.orDefault(DefaultOpeningRate),
	}
	for _, r := range p.rates {
		if r.Limit != rate.Inf && r.Limit > 0 {
			p.idle = max(p.idle, time.Duration(float64(r.Burst)/float64(r.Limit)*float64(time.Second)))
		}
	}
	return p
}

// Limits returns the limits applied, defaults filled in.
func (p *PeerLimiter) Limits() PeerLimits {
	l := p.lim
	l.Opens, l.Forwards, l.Positions, l.Openings = p.rates[0], p.rates[1], p.rates[2], p.rates[3]
	return l
}

// LimitError is a refusal by a PeerLimiter: which limit and when to retry.
type LimitError struct {
	// Limit names the limit: "sessions" (those open at once) or the rate
	// ("opens", "forward calls", "positions", "openings").
	Limit string
	// RetryAfter is when the rate admits the request again; zero for the
	// limit on open sessions (retry when one closes).
	RetryAfter time.Duration
	msg        string
}

func (e *LimitError) Error() string { return e.msg }

// Wire is the refusal as the node answers it: CodeTooManySessions for
// the open sessions, CodeBusy for the rates. Both send a client's
// failover to another node.
func (e *LimitError) Wire() *wire.Error {
	code := wire.CodeBusy
	if e.Limit == "sessions" {
		code = wire.CodeTooManySessions
	}
	return wire.NewError(code, e.msg)
}

// peer returns peer's state, creating it; p.mu is held.
func (p *PeerLimiter) peer(id string, now time.Time) *peerState {
	if st, ok := p.peers[id]; ok {
		st.seen = now
		return st
	}
	p.sweep(now)
	st := &peerState{seen: now}
	for k, r := range p.rates {
		if r.Limit != rate.Inf {
			st.limiters[k] = rate.NewLimiter(r.Limit, r.Burst)
		}
	}
	p.peers[id] = st
	return st
}

// sweep forgets idle peers whose buckets are full again, at most once a
// minute unless the table is full; when it is still full, it forgets the
// least recently seen peer with nothing open. p.mu is held.
func (p *PeerLimiter) sweep(now time.Time) {
	full := len(p.peers) >= p.lim.MaxPeers
	if !full && now.Sub(p.lastSweep) < time.Minute {
		return
	}
	p.lastSweep = now
	for id, st := range p.peers {
		if st.open == 0 && now.Sub(st.seen) >= p.idle {
			delete(p.peers, id)
		}
	}
	for len(p.peers) >= p.lim.MaxPeers {
		var oldest string
		var at time.Time
		for id, st := range p.peers {
			if st.open == 0 && (oldest == "" || st.seen.Before(at)) {
				oldest, at = id, st.seen
			}
		}
		if oldest == "" {
			return // every tracked peer has something open: sessions bound them
		}
		delete(p.peers, oldest)
	}
}

// Open admits a session (or job) of peer at now: it spends one open and
// takes one of the peer's slots, which release gives back (once).
func (p *PeerLimiter) Open(peer string, now time.Time) (release func(), err *LimitError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.peer(peer, now)
	// An attempt refused for the sessions open still spends an open: a
	// peer hammering at its limit is slowed down too.
	if e := p.spend(st, limitOpens, 1, now); e != nil {
		return nil, e
	}
	if p.lim.Sessions > 0 && st.open >= p.lim.Sessions {
		p.refused[numLimitKinds]++
		return nil, &LimitError{Limit: "sessions", msg: fmt.Sprintf(
			"per-peer limit: your peer already has %d %s open on this node, its limit; retry when one ends, or use another node",
			st.open, p.lim.Noun)}
	}
	st.open++
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			st.open--
		})
	}, nil
}

// Forward admits a forward call of n positions by peer at now.
func (p *PeerLimiter) Forward(peer string, n int, now time.Time) *LimitError {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.peer(peer, now)
	// Check both before taking either: a refused call spends nothing.
	for _, c := range [...]struct {
		k limitKind
		n int
	}{{limitForwards, 1}, {limitPositions, n}} {
		if d := p.wait(st, c.k, c.n, now); d > 0 {
			return p.refuse(c.k, d)
		}
	}
	p.take(st, limitForwards, 1, now)
	p.take(st, limitPositions, n, now)
	return nil
}

// Opening admits a trace-opening request by peer at now.
func (p *PeerLimiter) Opening(peer string, now time.Time) *LimitError {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.spend(p.peer(peer, now), limitOpenings, 1, now)
}

// spend takes n tokens of kind k, or refuses saying when they will be
// there. p.mu is held.
func (p *PeerLimiter) spend(st *peerState, k limitKind, n int, now time.Time) *LimitError {
	if d := p.wait(st, k, n, now); d > 0 {
		return p.refuse(k, d)
	}
	p.take(st, k, n, now)
	return nil
}

// wait is how long until kind k has n tokens (at most the burst: a
// larger request passes on a full bucket); 0 when it has them now. p.mu
// is held.
func (p *PeerLimiter) wait(st *peerState, k limitKind, n int, now time.Time) time.Duration {
	l := st.limiters[k]
	if l == nil || n <= 0 {
		return 0
	}
	need := float64(min(n, l.Burst())) - l.TokensAt(now)
	if need <= 0 {
		return 0
	}
	return max(time.Duration(need/float64(l.Limit())*float64(time.Second)), 1)
}

// take spends n tokens (at most the burst) of kind k; wait said they are
// there. p.mu is held.
func (p *PeerLimiter) take(st *peerState, k limitKind, n int, now time.Time) {
	if l := st.limiters[k]; l != nil && n > 0 {
		l.AllowN(now, min(n, l.Burst()))
	}
}

// refuse counts and describes a refusal by kind k's rate, which has the
// tokens again after d.
func (p *PeerLimiter) refuse(k limitKind, d time.Duration) *LimitError {
	p.refused[k]++
	d = d.Round(time.Millisecond) + time.Millisecond
	what := limitNames[k]
	if k == limitOpens {
		what = "new " + p.lim.Noun
	}
	return &LimitError{Limit: limitNames[k], RetryAfter: d, msg: fmt.Sprintf(
		"per-peer rate limit: your peer may send %s at %s; retry in %v, or use another node",
		what, p.rates[k], d)}
}

// PeerLimitStats count a PeerLimiter's refusals.
type PeerLimitStats struct {
	Peers int // peers tracked now
	// Refused counts refusals by limit: "sessions", "opens", "forward
	// calls", "positions", "openings".
	Refused map[string]uint64
}

// Stats returns a snapshot of the limiter's state and refusals.
func (p *PeerLimiter) Stats() PeerLimitStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PeerLimitStats{Peers: len(p.peers), Refused: map[string]uint64{"sessions": p.refused[numLimitKinds]}}
	for k, name := range limitNames {
		st.Refused[name] = p.refused[k]
	}
	return st
}

func trimFloat(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.3g", f)
}

// peerLimiter is the server's limiter: Peers, or one made from the
// defaults on first use.
func (s *Server) peerLimiter() *PeerLimiter {
	s.peersOnce.Do(func() {
		if s.peers = s.Peers; s.peers == nil {
			s.peers = NewPeerLimiter(PeerLimits{})
		}
	})
	return s.peers
}

// admitPeer applies the per-peer session limits to an OpenSession: the
// rate of opens and the sessions open at once. Streams of no known peer
// (ServeStream) are not limited per peer.
func (c *conn) admitPeer() *wire.Error {
	if c.peer == "" || c.peerRelease != nil {
		return nil
	}
	release, err := c.srv.peerLimiter().Open(c.peer, time.Now())
	if err != nil {
		return err.Wire()
	}
	c.peerRelease = release
	return nil
}

// limitForward applies the per-peer rates of forward calls and positions.
func (c *conn) limitForward(n int) *wire.Error {
	if c.peer == "" {
		return nil
	}
	if err := c.srv.peerLimiter().Forward(c.peer, n, time.Now()); err != nil {
		return err.Wire()
	}
	return nil
}

// limitOpening applies the per-peer rate of trace-opening requests.
func (c *conn) limitOpening() *wire.Error {
	if c.peer == "" {
		return nil
	}
	if err := c.srv.peerLimiter().Opening(c.peer, time.Now()); err != nil {
		return err.Wire()
	}
	return nil
}

// releasePeer gives the session's per-peer slot back.
func (c *conn) releasePeer() {
	if c.peerRelease != nil {
		c.peerRelease()
		c.peerRelease = nil
	}
}
