package discovery

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/tessera-net/tessera/route"
)

// Entry is a live announcement in a Registry.
type Entry struct {
	Announcement
	// Envelope is the signed announcement as received, for passing on.
	Envelope []byte
	// Received is when the registry took it.
	Received time.Time
	// RTT is the last measured round trip to the peer, smoothed (0: not
	// measured).
	RTT time.Duration
}

// Registry holds the newest valid announcement of each peer for one model
// and forgets it when it expires. It never reads a clock: every method that
// depends on time takes it. Safe for concurrent use.
type Registry struct {
	commit [32]byte
	policy Policy

	mu      sync.Mutex
	entries map[peer.ID]*Entry
	// seqs remembers each peer's highest sequence number for as long as
	// an older announcement could still be valid, even after the entry is
	// dropped, so that a replay cannot resurrect it.
	seqs    map[peer.ID]seqMark
	rtt     map[peer.ID]time.Duration
	changed chan struct{} // closed and replaced on every change
}

type seqMark struct {
	seq   uint64
	until time.Time
}

// NewRegistry returns an empty registry for the model with commitment
// commit, accepting announcements whose times fit policy.
func NewRegistry(commit [32]byte, policy Policy) *Registry {
	return &Registry{
		commit:  commit,
		policy:  policy.withDefaults(),
		entries: map[peer.ID]*Entry{},
		seqs:    map[peer.ID]seqMark{},
		rtt:     map[peer.ID]time.Duration{},
		changed: make(chan struct{}),
	}
}

// ModelCommit is the commitment of the model whose announcements the
// registry holds.
func (r *Registry) ModelCommit() [32]byte { return r.commit }

// Policy is the registry's time policy (with defaults filled in).
func (r *Registry) Policy() Policy { return r.policy }

// notify wakes the Changed waiters; r.mu must be held.
func (r *Registry) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Changed returns a channel closed at the next change of the registry
// (an announcement added, replaced or dropped, or an RTT recorded).
func (r *Registry) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Admit reports whether a decoded announcement would be taken at now,
// without taking it: the error wraps ErrWrongModel, the Policy errors or
// ErrOld (its sequence number is not above the highest seen from the
// peer).
func (r *Registry) Admit(a *Announcement, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.admit(a, now)
}

func (r *Registry) admit(a *Announcement, now time.Time) error {
	if a.ModelCommit != r.commit {
		return fmt.Errorf("%w: %x", ErrWrongModel, a.ModelCommit[:6])
	}
	if err := r.policy.Check(a, now); err != nil {
		return err
	}
	if m, ok := r.seqs[a.Peer]; ok && now.Before(m.until) && a.Seq <= m.seq {
		return fmt.Errorf("%w: %s sequence %d, seen %d", ErrOld, a.Peer, a.Seq, m.seq)
	}
	return nil
}

// Put opens a signed envelope and takes its announcement if Admit allows
// it at now. It returns the announcement taken.
func (r *Registry) Put(env []byte, now time.Time) (Announcement, error) {
	a, err := Open(env)
	if err != nil {
		return Announcement{}, err
	}
	return a, r.put(&a, env, now)
}

// put takes an announcement already opened from env.
func (r *Registry) put(a *Announcement, env []byte, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.admit(a, now); err != nil {
		return err
	}
	// An older announcement still valid later must have been issued by
	// now (+ skew) and so expires by now + MaxSkew + MaxTTL.
	r.seqs[a.Peer] = seqMark{seq: a.Seq, until: now.Add(r.policy.MaxSkew + r.policy.MaxTTL)}
	r.entries[a.Peer] = &Entry{Announcement: *a, Envelope: slices.Clone(env), Received: now}
	r.notify()
	return nil
}

// Remove forgets peer's announcement (not its sequence number), e.g. when
// a client found the node dead; it reports whether there was one.
func (r *Registry) Remove(id peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.entries[id]; !ok {
		return false
	}
	delete(r.entries, id)
	r.notify()
	return true
}

// Expire drops the announcements that have expired at now, and the
// sequence marks that no longer matter; it returns the peers dropped.
func (r *Registry) Expire(now time.Time) []peer.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	var dropped []peer.ID
	for id, e := range r.entries {
		if !e.Expires.After(now) {
			delete(r.entries, id)
			dropped = append(dropped, id)
		}
	}
	for id, m := range r.seqs {
		if !now.Before(m.until) {
			delete(r.seqs, id)
		}
	}
	for id := range r.rtt {
		if _, ok := r.entries[id]; !ok {
			delete(r.rtt, id)
		}
	}
	if len(dropped) > 0 {
		r.notify()
	}
	slices.Sort(dropped)
	return dropped
}

// SetRTT records a measured round trip to peer id, smoothed with the
// previous ones (weight 1/4 to the new sample).
func (r *Registry) SetRTT(id peer.ID, d time.Duration) {
	if d <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.rtt[id]; ok {
		d = (3*old + d) / 4
	}
	r.rtt[id] = d
	r.notify()
}

// Live returns the announcements that have not expired at now, ordered by
// range, then peer id.
func (r *Registry) Live(now time.Time) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Entry, 0, len(r.entries))
	for id, e := range r.entries {
		if e.Expires.After(now) {
			c := *e
			c.RTT = r.rtt[id]
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Range.First, b.Range.First), cmp.Compare(a.Range.Last, b.Range.Last),
			strings.Compare(string(a.Peer), string(b.Peer)))
	})
	return out
}

// Get returns peer id's live announcement at now.
func (r *Registry) Get(id peer.ID, now time.Time) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok || !e.Expires.After(now) {
		return Entry{}, false
	}
	c := *e
	c.RTT = r.rtt[id]
	return c, true
}

// Spans returns the live announcements at now as route spans, leaving out
// the peers in exclude (e.g. the node itself when choosing its layers).
func (r *Registry) Spans(now time.Time, exclude ...peer.ID) []route.Span {
	var out []route.Span
	for _, e := range r.Live(now) {
		if !slices.Contains(exclude, e.Peer) {
			out = append(out, e.Span())
		}
	}
	return out
}

// Candidates returns the live announcements at now as route candidates,
// with their measured RTTs, for route.Plan.
func (r *Registry) Candidates(now time.Time) []route.Candidate {
	live := r.Live(now)
	out := make([]route.Candidate, len(live))
	for i, e := range live {
		out[i] = e.Candidate()
	}
	return out
}

// Span is the entry as a route span.
func (e *Entry) Span() route.Span {
	return route.Span{Peer: e.Peer.String(), Operator: e.Operator, Range: e.Range, Throughput: e.Throughput}
}

// Candidate is the entry as a route candidate.
func (e *Entry) Candidate() route.Candidate {
	return route.Candidate{Peer: e.Peer.String(), Operator: e.Operator, Range: e.Range,
		Throughput: e.Throughput, RTT: e.RTT, FreeSlots: e.FreeSlots}
}
