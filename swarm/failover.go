package swarm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/wire"
)

// Failover defaults, used when the ChainConfig field is zero.
const (
	DefaultFailoverAttempts = 3
	DefaultMaxFailovers     = 8
	DefaultFailoverTimeout  = time.Minute
)

// RerouteRequest asks for nodes to compute exactly Range in place of a
// failed hop.
type RerouteRequest struct {
	Range model.Range
	// Exclude lists the peers this chain will not use again: every node
	// that failed or was distrusted in this chain, and the replacements
	// already tried for this failure.
	Exclude []string
	// PrevOperator and NextOperator are the operators of the hops around
	// Range ("" when none, when local, or unknown), for route.Plan.
	PrevOperator, NextOperator string
	// Cause is the failure being recovered from.
	Cause error
}

// Reroute finds hops covering exactly req.Range, in order, none of them
// in req.Exclude. Remote hops need Open (and PubKey when the chain
// verifies); Operator helps later reroutes spread over operators.
type Reroute func(ctx context.Context, req RerouteRequest) ([]Hop, error)

// FailoverAttempt is a replacement that was tried and failed.
type FailoverAttempt struct {
	Peers []string // the replacement's nodes, in layer order
	Err   error    // names the node at fault
}

// Failover records one recovered failure: the node replaced, the nodes
// that took its layers over, and what it cost.
type Failover struct {
	Range       model.Range
	Peer        string   // the node that failed
	Cause       error    // why
	Replacement []string // the nodes now computing Range, in layer order ("local" for a local hop)
	Tried       []FailoverAttempt
	// Calls and Positions count the history replayed on the replacement
	// (Positions excludes the call being redone).
	Calls, Positions int
	// Detect is the time the failed call ran before the failure was
	// seen (a dead node's connection resets at once; a silent one takes
	// the round-trip Timeout). Recovery is the time from the failure to
	// the replacement having computed the failed call.
	Detect, Recovery time.Duration
}

func (f Failover) String() string {
	s := fmt.Sprintf("layers %s: node %s failed (%v); replaced by %s; %d positions replayed in %d calls; recovered in %v",
		f.Range, f.Peer, f.Cause, strings.Join(f.Replacement, " + "), f.Positions, f.Calls, f.Recovery.Round(time.Millisecond))
	if len(f.Tried) > 0 {
		s += fmt.Sprintf(" (after %d failed replacements)", len(f.Tried))
	}
	return s
}

// FailoverError is the error of a hop whose failover gave up: it names the
// range, the node that failed and every replacement tried.
type FailoverError struct {
	Range model.Range
	Peer  string
	Cause error
	Tried []FailoverAttempt
	// Err is why the failover stopped: no route, no attempts left, its
	// time bound, or an error that replacing cannot fix.
	Err error
}

func (e *FailoverError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "failover of layers %s gave up: %v (node %s had failed: %v", e.Range, e.Err, e.Peer, e.Cause)
	for _, a := range e.Tried {
		fmt.Fprintf(&b, "; tried %v", a.Err)
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap gives both why the failover gave up and why the node failed, so
// errors.Is and errors.As find either (a refused session, say).
func (e *FailoverError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Err, e.Cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// errMismatch is wrapped when a replacement's replayed outputs differ from
// what the failed node had sent for the same inputs.
var errMismatch = errors.New("the replacement's outputs differ from the failed node's for the same inputs")

// clientFault marks errors that are the client's own (bad input), which
// no replacement can fix.
type clientFault struct{ err error }

func (e *clientFault) Error() string { return e.err.Error() }
func (e *clientFault) Unwrap() error { return e.err }

// replaceable reports whether a failure of a remote hop may be fixed by
// another node: anything but the caller's context ending and errors that
// are the client's fault (bad requests, protocol misuse, bad input).
func replaceable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var cf *clientFault
	if errors.As(err, &cf) {
		return false
	}
	var we *wire.Error
	if errors.As(err, &we) {
		switch we.Code {
		case wire.CodeBadRequest, wire.CodeOutOfOrder, wire.CodeMessageTooLarge:
			return false
		}
	}
	return true
}

// canFailover reports whether hop h's failure err should be recovered.
func (c *Chain) canFailover(ctx context.Context, h *hop, err error) bool {
	return c.cfg.Reroute != nil && !h.local() && len(c.failovers) < c.cfg.MaxFailovers && replaceable(ctx, err)
}

// pending is the call being computed when a hop failed: its output goes to
// hidden.
type pending struct {
	start, n int
	hidden   []float32
}

// failover replaces hop i, which failed with cause after running for
// detect: it asks cfg.Reroute for nodes covering the hop's layers,
// replays the hop's recorded inputs on them (the current call cur last,
// when not nil, writing its output to cur.hidden) and splices them into
// the chain. It returns the number of hops now in place of hop i.
func (c *Chain) failover(ctx context.Context, i int, cause error, detect time.Duration, cur *pending) (int, error) {
	t0 := time.Now()
	old := c.hops[i]
	c.retire(old, cause, true)
	f := Failover{Range: old.Range, Peer: old.name(), Cause: cause, Detect: detect}
	fail := func(err error) (int, error) {
		return 0, &HopError{Hop: i, Peer: old.name(), Range: old.Range,
			Err: &FailoverError{Range: old.Range, Peer: old.name(), Cause: cause, Tried: f.Tried, Err: err}}
	}
	fctx, cancel := context.WithTimeout(ctx, c.cfg.FailoverTimeout)
	defer cancel()
	var prevOp, nextOp string
	if i > 0 {
		prevOp = c.hops[i-1].Operator
	}
	if i+1 < len(c.hops) {
		nextOp = c.hops[i+1].Operator
	}
	for attempt := 0; ; attempt++ {
		if attempt == c.cfg.FailoverAttempts {
			return fail(fmt.Errorf("%d replacements failed", attempt))
		}
		if err := fctx.Err(); err != nil {
			if ctx.Err() != nil {
				return fail(ctx.Err())
			}
			return fail(fmt.Errorf("no replacement within %v", c.cfg.FailoverTimeout))
		}
		hs, err := c.cfg.Reroute(fctx, RerouteRequest{Range: old.Range, Exclude: c.excludedPeers(), PrevOperator: prevOp, NextOperator: nextOp, Cause: cause})
		if err != nil {
			return fail(fmt.Errorf("no replacement: %w", err))
		}
		group, err := c.newHops(old.Range, i, hs)
		if err != nil {
			return fail(fmt.Errorf("the replacement offered: %w", err))
		}
		calls, pos, err := c.replay(fctx, group, old.Range, cur)
		if err != nil {
			peers := make([]string, len(group))
			for k, g := range group {
				peers[k] = g.name()
				c.retire(g, err, false)
			}
			f.Tried = append(f.Tried, FailoverAttempt{Peers: peers, Err: err})
			if !replaceable(ctx, err) {
				return fail(err)
			}
			continue
		}
		f.Calls, f.Positions = calls, pos
		for _, g := range group {
			f.Replacement = append(f.Replacement, g.name())
		}
		f.Recovery = time.Since(t0)
		c.mu.Lock()
		c.hops = slices.Concat(c.hops[:i], group, c.hops[i+1:])
		for k, h := range c.hops {
			h.index = k
		}
		c.failovers = append(c.failovers, f)
		c.mu.Unlock()
		if c.cfg.OnFailover != nil {
			c.cfg.OnFailover(f)
		}
		return len(group), nil
	}
}

// retire takes h out of service for good: its stream is closed, its node
// excluded from this chain's reroutes, and its counters and receipts kept
// (Stats, Retired) when it opened a session or list is set.
func (c *Chain) retire(h *hop, why error, list bool) {
	h.closeStream()
	h.sess = nil
	if why == nil {
		why = errors.New("replaced")
	}
	c.mu.Lock()
	if h.retired == nil {
		h.retired = why
		if list || h.sessions.Load() > 0 {
			c.retiredHops = append(c.retiredHops, h)
		}
	}
	c.mu.Unlock()
	if !h.local() && !slices.Contains(c.excluded, h.Peer) {
		c.excluded = append(c.excluded, h.Peer)
	}
}

func (c *Chain) excludedPeers() []string { return slices.Clone(c.excluded) }

// newHops checks that hs cover exactly r in order, with none excluded,
// and prepares their state.
func (c *Chain) newHops(r model.Range, i int, hs []Hop) ([]*hop, error) {
	if len(hs) == 0 {
		return nil, fmt.Errorf("no hops for layers %s", r)
	}
	next := r.First
	var out []*hop
	for _, h := range hs {
		if h.local() && h.Range == (model.Range{}) {
			h.Range = h.Model.Range
		}
		if h.Range.First != next || h.Range.Last <= h.Range.First || h.Range.Last > r.Last {
			return nil, fmt.Errorf("hop %s (layers %s) does not continue layers %s at %d", h.name(), h.Range, r, next)
		}
		next = h.Range.Last
		hp, err := c.newHop(h, i+len(out))
		if err != nil {
			return nil, err
		}
		if !h.local() && slices.Contains(c.excluded, h.Peer) {
			return nil, fmt.Errorf("node %s is excluded", h.Peer)
		}
		out = append(out, hp)
	}
	if next != r.Last {
		return nil, fmt.Errorf("the hops end at layer %d, not %d", next, r.Last)
	}
	return out, nil
}

// replay runs the calls recorded at r.First through group (the last one
// being cur's, when cur is not nil), checks that the group's outputs for
// the earlier calls are those recorded at r.Last (what the failed node
// sent on), and records the group's inner boundaries. With verification
// it replays call by call, as recorded, so that every node's receipts
// stay aligned call by call with its neighbours'; otherwise it sends the
// session's current state at once. It returns the calls and positions
// replayed before cur.
func (c *Chain) replay(ctx context.Context, group []*hop, r model.Range, cur *pending) (calls, positions int, err error) {
	dim := c.cfg.Model.Dim
	in := c.hist.snapshot(r.First)
	k := len(in.calls) // calls to check against r.Last
	if cur != nil {
		k--
		if k < 0 {
			return 0, 0, errors.New("swarm: internal error: the current call was not recorded")
		}
	}
	for _, g := range group {
		if g.local() {
			continue
		}
		if err := g.open(ctx); err != nil {
			return 0, 0, fmt.Errorf("%s (layers %s): %w", g.name(), g.Range, err)
		}
	}
	var out callLog // what the group computes, as the boundary r.Last would record it
	inner := make([]callLog, len(group)-1)
	run := func(start, n, perMsg int, x []float32) error {
		for j, g := range group {
			if j > 0 {
				inner[j-1].add(start, n, perMsg, x)
			}
			var err error
			if g.local() {
				err = g.forwardLocal(start, x, n)
			} else {
				err = g.forwardRemote(ctx, start, x, n, perMsg)
			}
			if err != nil {
				return fmt.Errorf("%s (layers %s): %w", g.name(), g.Range, err)
			}
		}
		out.add(start, n, perMsg, x)
		return nil
	}
	if c.cfg.Verify != nil {
		x := make([]float32, 0, dim)
		for j, cl := range in.calls {
			x = append(x[:0], in.input(j, dim)...)
			if err := run(cl.start, cl.n, cl.perMsg, x); err != nil {
				return 0, 0, err
			}
			if j < k {
				calls++
				positions += cl.n
			}
		}
		if err := c.chainedReplay(group); err != nil {
			return 0, 0, err
		}
	} else if len(in.calls) > 0 {
		// The state before cur, then cur itself: two calls at most.
		if k > 0 {
			x := in.latest(k, dim)
			if n := len(x) / dim; n > 0 {
				if err := run(0, n, 0, x); err != nil {
					return 0, 0, err
				}
				calls, positions = 1, n
			}
		}
		if cur != nil {
			cl := in.calls[k]
			if err := run(cl.start, cl.n, 0, slices.Clone(in.input(k, dim))); err != nil {
				return 0, 0, err
			}
		}
	}
	// The group must compute what the failed node sent on: the next hop's
	// KV cache holds it (and, at the end of the chain, the tokens
	// sampled so far came from it).
	done := len(out.calls)
	if cur != nil {
		done--
	}
	want := c.hist.latest(r.Last, dim)
	got := out.latest(done, dim)
	if cur != nil {
		// The boundary at r.Last does not hold cur yet.
		want = want[:min(len(want), cur.start*dim)]
	}
	if p, ok := firstDiff(got, want, dim); !ok {
		names := make([]string, len(group))
		for j, g := range group {
			names[j] = g.name()
		}
		return 0, 0, fmt.Errorf("%s (layers %s): %w (position %d)", strings.Join(names, " + "), r, errMismatch, p)
	}
	for j := range inner {
		c.hist.set(group[j].Range.Last, &inner[j])
	}
	if cur != nil {
		copy(cur.hidden, out.input(len(out.calls)-1, dim))
	}
	return calls, positions, nil
}

// firstDiff compares the positions both hold, bit for bit; it reports the
// first position that differs, or ok. Comparing bits rather than values
// is what "the same KV cache" means (and NaN is never sent).
func firstDiff(got, want []float32, dim int) (int, bool) {
	n := min(len(got), len(want))
	if len(want) > len(got) {
		return len(got) / dim, false
	}
	for i := range n {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return i / dim, false
		}
	}
	return 0, true
}

// chainedReplay checks, with verification, that the receipts of a
// replacement group chain call by call: the first hop's to the previous
// hop's, and each to the one before it in the group.
func (c *Chain) chainedReplay(group []*hop) error {
	for j, g := range group {
		if g.proof == nil {
			continue
		}
		var prev *hop
		if j > 0 {
			prev = group[j-1]
		} else if i := g.index; i > 0 && i-1 < len(c.hops) && c.hops[i-1].proof != nil && c.hops[i-1].retired == nil {
			prev = c.hops[i-1]
		}
		if prev == nil || prev.proof == nil || prev.proof.checker == nil {
			continue
		}
		got := g.proof.checker.Receipts()
		all := prev.proof.checker.Receipts()
		if len(all) < len(got) {
			continue // the previous hop's session is younger than the replay: nothing to align
		}
		for k, r := range got {
			q := all[k]
			if r.HIn != q.HOut || r.Start != q.Start || r.N != q.N {
				return fmt.Errorf("%s: %w: replayed call %d: the receipt's input is not the previous node's output", g.name(), ErrDistrusted, k)
			}
		}
	}
	return nil
}
