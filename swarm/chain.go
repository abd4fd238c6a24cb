package swarm

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/wire"
)

// Opener opens a new stream to a hop's node under wire.ProtocolID.
type Opener func(ctx context.Context) (Stream, error)

// Hop is one step of a chain: a layer range computed either locally (Model
// set) or by a remote node (Peer and Open set).
type Hop struct {
	// Range is the layers the hop computes. For a local hop it may be left
	// zero and is then Model.Range.
	Range model.Range
	// Model computes a local hop; it must hold exactly Range.
	Model *model.Model
	// Peer names a remote hop's node in errors and stats (a peer id).
	Peer string
	// Open opens a stream to a remote hop's node; the chain opens one
	// stream per session, lazily, and closes it on Close.
	Open Opener
	// PubKey is the Ed25519 key a remote hop's node is known by (with
	// libp2p, the key inside its peer id); receipts must be signed with
	// it. Required when ChainConfig.Verify is set.
	PubKey ed25519.PublicKey
	// Operator is who runs the node ("" : unknown), passed to Reroute so
	// that a replacement avoids the operators of its neighbours.
	Operator string
}

// LocalHop is a hop computing m's layer range in this process.
func LocalHop(m *model.Model) Hop { return Hop{Range: m.Range, Model: m} }

// RemoteHop is a hop whose layers r are computed by node peer.
func RemoteHop(peer string, r model.Range, open Opener) Hop {
	return Hop{Range: r, Peer: peer, Open: open}
}

func (h Hop) local() bool { return h.Model != nil }

func (h Hop) name() string {
	if h.local() {
		return "local"
	}
	return h.Peer
}

// ChainConfig describes the model a chain runs and how it talks to nodes.
type ChainConfig struct {
	// Model is the model's configuration; its Layers must be covered by the
	// hops and its Dim is the hidden-state width.
	Model model.Config
	// ModelCommit is the commitment of the model, sent to every node.
	ModelCommit [32]byte
	// MaxPositions is the session length asked of every hop (0:
	// Model.ContextLen). A node may grant fewer; positions beyond its grant
	// fail with an error naming it.
	MaxPositions int
	// DType encodes hidden states on the wire (0: wire.DTypeF32, exact;
	// wire.DTypeF16 halves the bytes but rounds the states at every hop).
	DType wire.DType
	// MaxMessageBytes bounds the frames the chain sends and accepts (0:
	// wire.DefaultMaxMessageBytes). Prefills are split into Forward
	// messages that fit both this and each node's limit.
	MaxMessageBytes int
	// Timeout bounds each round trip to a node when ctx has no deadline
	// (0: no bound besides ctx).
	Timeout time.Duration
	// KeepHistory records, per hop, every hidden-state input sent (see
	// History), which replaying a hop's session on another node needs.
	// Reroute turns it on.
	KeepHistory bool
	// Reroute, when set, turns on failover: a remote hop that fails
	// mid-generation (its stream breaks, its node dies or times out,
	// answers Busy, Internal, TooManySessions or Refused, or fails
	// verification) is replaced by the hops Reroute returns for exactly
	// its layers. The chain replays the hop's recorded inputs on them to
	// rebuild its KV cache, checks that they reproduce what the failed
	// node had sent on, redoes the failed call and continues, so that the
	// output is what it would have been. Failures that are the client's
	// own (bad requests) are not retried. See Failovers and Retired.
	Reroute Reroute
	// OnFailover, when set, is called after each recovered failure (from
	// the goroutine calling Forward), e.g. to log it.
	OnFailover func(Failover)
	// FailoverAttempts bounds the replacements tried for one failure (0:
	// DefaultFailoverAttempts); MaxFailovers bounds the failures a chain
	// recovers from (0: DefaultMaxFailovers); FailoverTimeout bounds one
	// failover, replay included (0: DefaultFailoverTimeout).
	FailoverAttempts int
	MaxFailovers     int
	FailoverTimeout  time.Duration
	// Verify, when set, asks every remote hop for signed receipts, checks
	// them and audits them (see Verification).
	Verify *Verification
	// Payer, when set, is the ledger account key the client pays from:
	// every session request names the account and is signed with it
	// (PayerStatement), so nodes that admit only paying clients can check
	// its balance.
	Payer ed25519.PrivateKey
}

// HopStats are one hop's counters.
type HopStats struct {
	Peer          string // "local" for a local hop
	Range         model.Range
	Local         bool
	DType         wire.DType // negotiated encoding (0 before the session opens, or local)
	Sessions      uint64     // sessions opened
	Calls         uint64     // Forward round trips (or local forward passes)
	Positions     uint64     // positions computed
	BytesSent     uint64
	BytesReceived uint64
	Time          time.Duration // time spent in the hop, network included
	// Retired is set for a hop replaced by failover (Failure says why);
	// its counters are the work it did before.
	Retired bool
	Failure string
}

// HopError is an error of one hop; it names the hop's node and layers.
type HopError struct {
	Hop   int // index in the chain
	Peer  string
	Range model.Range
	Err   error
}

func (e *HopError) Error() string {
	return fmt.Sprintf("swarm: hop %d (%s, layers %s): %v", e.Hop, e.Peer, e.Range, e.Err)
}

func (e *HopError) Unwrap() error { return e.Err }

// Chain runs all layers of a model through its hops in order. It
// implements generate.Layers for one sequence. Forward and Close must not
// be called concurrently; Stats and History may be called at any time.
type Chain struct {
	cfg    ChainConfig
	closed bool
	hist   history

	// mu guards the slices below against Stats, Proofs and Failovers
	// while Forward replaces hops; Forward's goroutine alone writes them.
	mu          sync.Mutex
	hops        []*hop
	retiredHops []*hop     // hops replaced by failover, in order
	failovers   []Failover // recovered failures, in order
	excluded    []string   // peers this chain does not use again
}

// hop is the per-hop state of a chain.
type hop struct {
	Hop
	index int
	cfg   *ChainConfig

	// local
	sess *model.Session

	// remote
	st       Stream
	r        *bufio.Reader
	w        wire.Writer
	id       uint64
	maxPos   int
	maxMsg   int    // frame limit towards the node
	step     uint64 // next Forward's step
	lost     error  // why the last session ended abnormally
	payload  []byte
	scratch  []float32
	dtype    atomic.Uint32
	sessions atomic.Uint64
	calls    atomic.Uint64
	pos      atomic.Uint64
	sent     atomic.Uint64
	recv     atomic.Uint64
	nanos    atomic.Int64

	proof   *hopProof // nil without ChainConfig.Verify, and for local hops
	sentBuf []float32 // what the node decodes of the last Forward
	idle    func()    // work to do while waiting for the node (Chain.idle)

	retired error // why failover replaced the hop (nil while in use)
}

// NewChain checks that hops cover layers [0, cfg.Model.Layers) in order,
// without gaps or overlaps, and returns a chain over them. No session is
// opened until the first Forward.
func NewChain(cfg ChainConfig, hops []Hop) (*Chain, error) {
	if cfg.Model.Layers <= 0 || cfg.Model.Dim <= 0 {
		return nil, fmt.Errorf("swarm: chain needs the model's layers and dim, got %d and %d", cfg.Model.Layers, cfg.Model.Dim)
	}
	if cfg.MaxPositions == 0 {
		cfg.MaxPositions = cfg.Model.ContextLen
	}
	if cfg.MaxPositions <= 0 || cfg.MaxPositions > wire.PositionLimit {
		return nil, fmt.Errorf("swarm: max positions %d outside [1, %d]", cfg.MaxPositions, wire.PositionLimit)
	}
	if cfg.DType == 0 {
		cfg.DType = wire.DTypeF32
	}
	if !cfg.DType.Valid() {
		return nil, fmt.Errorf("swarm: unknown dtype %v", cfg.DType)
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = wire.DefaultMaxMessageBytes
	}
	if need := cfg.Model.Dim*cfg.DType.Size() + frameOverhead; cfg.MaxMessageBytes < need {
		return nil, fmt.Errorf("swarm: MaxMessageBytes %d cannot hold one position (%d bytes)", cfg.MaxMessageBytes, need)
	}
	if cfg.Reroute != nil {
		cfg.KeepHistory = true
	}
	if cfg.FailoverAttempts <= 0 {
		cfg.FailoverAttempts = DefaultFailoverAttempts
	}
	if cfg.MaxFailovers <= 0 {
		cfg.MaxFailovers = DefaultMaxFailovers
	}
	if cfg.FailoverTimeout <= 0 {
		cfg.FailoverTimeout = DefaultFailoverTimeout
	}
	if cfg.Payer != nil && len(cfg.Payer) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("swarm: payer key of %d bytes, want an Ed25519 private key", len(cfg.Payer))
	}
	if len(hops) == 0 {
		return nil, fmt.Errorf("swarm: no hops: layers 0:%d are not covered", cfg.Model.Layers)
	}
	c := &Chain{cfg: cfg}
	next := 0 // first layer not yet covered
	for i, h := range hops {
		if h.local() && h.Range == (model.Range{}) {
			h.Range = h.Model.Range
		}
		desc := fmt.Sprintf("hop %d (%s, layers %s)", i, h.name(), h.Range)
		switch {
		case h.Range.First < 0 || h.Range.Last <= h.Range.First:
			return nil, fmt.Errorf("swarm: %s: empty or negative layer range", desc)
		case h.Range.First > next:
			return nil, fmt.Errorf("swarm: layers %s are not covered (gap before %s)", model.Range{First: next, Last: h.Range.First}, desc)
		case h.Range.First < next:
			return nil, fmt.Errorf("swarm: %s overlaps the previous hop at layers %s", desc, model.Range{First: h.Range.First, Last: min(next, h.Range.Last)})
		case h.Range.Last > cfg.Model.Layers:
			return nil, fmt.Errorf("swarm: %s goes beyond the model's %d layers", desc, cfg.Model.Layers)
		}
		next = h.Range.Last
		hp, err := c.newHop(h, i)
		if err != nil {
			return nil, fmt.Errorf("swarm: %s: %w", desc, err)
		}
		c.hops = append(c.hops, hp)
	}
	if next < cfg.Model.Layers {
		return nil, fmt.Errorf("swarm: layers %s are not covered (the last hop ends at layer %d)", model.Range{First: next, Last: cfg.Model.Layers}, next)
	}
	return c, nil
}

// newHop prepares the state of hop h at index i.
func (c *Chain) newHop(h Hop, i int) (*hop, error) {
	hp := &hop{Hop: h, index: i, cfg: &c.cfg, idle: c.idle}
	if h.local() {
		mc := h.Model.Config
		if h.Model.Range != h.Range {
			return nil, fmt.Errorf("the local model holds layers %s, the hop %s", h.Model.Range, h.Range)
		}
		if mc.Dim != c.cfg.Model.Dim || mc.Layers != c.cfg.Model.Layers {
			return nil, fmt.Errorf("the local model has dim %d and %d layers, the chain %d and %d",
				mc.Dim, mc.Layers, c.cfg.Model.Dim, c.cfg.Model.Layers)
		}
	} else if h.Open == nil {
		return nil, errors.New("a remote hop needs an Opener")
	}
	if c.cfg.Verify != nil && !h.local() {
		p, err := newHopProof(c.cfg.Verify, &c.cfg, h)
		if err != nil {
			return nil, err
		}
		hp.proof = p
	}
	return hp, nil
}

// Forward runs hidden, n positions from start, through every hop in order,
// in place. As with model.Forward, start may rewind (start below the
// positions already sent) but not skip. Errors are *HopError values naming
// the hop. With ChainConfig.Reroute, a remote hop that fails is replaced
// (see Failover) and Forward goes on; without, it loses its session, which
// a later Forward from position 0 reopens.
func (c *Chain) Forward(ctx context.Context, start int, hidden []float32, n int) error {
	if c.closed {
		return errors.New("swarm: chain is closed")
	}
	dim := c.cfg.Model.Dim
	if n < 1 || len(hidden) != n*dim {
		return fmt.Errorf("swarm: forward: %d hidden values for %d positions of dim %d", len(hidden), n, dim)
	}
	if start < 0 || start+n > c.cfg.MaxPositions {
		return fmt.Errorf("swarm: forward: positions %d..%d outside the chain's %d", start, start+n-1, c.cfg.MaxPositions)
	}
	perMsg := 0
	if c.cfg.Verify != nil {
		// Every node gets the same calls, so that call k of one node's
		// receipts chains to call k of the next one's.
		var err error
		if perMsg, err = c.openAll(ctx, start); err != nil {
			return err
		}
	}
	var prev *hop // the previous hop, when remote and verified
	for i := 0; i < len(c.hops); i++ {
		h := c.hops[i]
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.cfg.KeepHistory {
			c.hist.record(h.Range.First, start, n, perMsg, hidden)
		}
		t0 := time.Now()
		before := 0
		if h.proof != nil && h.proof.checker != nil {
			before = len(h.proof.checker.Receipts())
		}
		var err error
		if h.local() {
			err = h.forwardLocal(start, hidden, n)
		} else {
			err = h.forwardRemote(ctx, start, hidden, n, perMsg)
		}
		spent := time.Since(t0)
		h.nanos.Add(int64(spent))
		if err == nil && prev != nil && h.proof != nil {
			err = chained(prev, h, before)
		}
		if err != nil && c.canFailover(ctx, h, err) {
			var m int
			if m, err = c.failover(ctx, i, err, spent, &pending{start: start, n: n, hidden: hidden}); err != nil {
				return err
			}
			i += m - 1
			h = c.hops[i]
		} else if err != nil {
			return &HopError{Hop: h.index, Peer: h.name(), Range: h.Range, Err: err}
		}
		prev = nil
		if h.proof != nil {
			prev = h
		}
	}
	if c.cfg.KeepHistory {
		// The chain's output: a failover of the last hop checks its
		// replacement against it.
		c.hist.record(c.cfg.Model.Layers, start, n, perMsg, hidden)
	}
	return nil
}

// openAll opens the session of every verified remote hop and returns the
// positions per Forward message that fit every node.
func (c *Chain) openAll(ctx context.Context, start int) (int, error) {
	dim := c.cfg.Model.Dim
	perMsg := c.cfg.MaxPositions
	for i := 0; i < len(c.hops); i++ {
		h := c.hops[i]
		if h.local() {
			continue
		}
		var err error
		switch {
		case h.proof != nil && h.proof.fault != nil:
			err = fmt.Errorf("%w: %w", ErrDistrusted, h.proof.fault)
		case h.retired != nil:
			err = fmt.Errorf("the node was taken out of the chain: %w", h.retired)
		case h.st == nil && h.lost != nil && start != 0:
			if c.cfg.Reroute == nil {
				continue // forwardRemote reports it
			}
			err = fmt.Errorf("the session was lost: %w", h.lost)
		case h.st == nil:
			err = h.open(ctx)
		}
		if err != nil && c.canFailover(ctx, h, err) {
			// Replace it before the call: its replacement replays the
			// calls so far and the call goes through it as through the
			// others.
			var m int
			if m, err = c.failover(ctx, i, err, 0, nil); err != nil {
				return 0, err
			}
			for _, g := range c.hops[i : i+m] {
				if !g.local() {
					perMsg = min(perMsg, max(1, (g.maxMsg-frameOverhead-receiptOverhead)/(dim*c.cfg.DType.Size())))
				}
			}
			i += m - 1
			continue
		} else if err != nil {
			return 0, &HopError{Hop: h.index, Peer: h.name(), Range: h.Range, Err: err}
		}
		perMsg = min(perMsg, max(1, (h.maxMsg-frameOverhead-receiptOverhead)/(dim*c.cfg.DType.Size())))
	}
	return perMsg, nil
}

// chained checks that the receipts hop h got since before take as inputs
// the outputs of the previous hop's latest receipts, call by call.
func chained(prev, h *hop, before int) error {
	got := h.proof.checker.Receipts()[before:]
	all := prev.proof.checker.Receipts()
	if len(all) < len(got) {
		return fmt.Errorf("%w: %d receipts but the previous node gave %d", ErrDistrusted, len(got), len(all))
	}
	want := all[len(all)-len(got):]
	for k, r := range got {
		if r.HIn != want[k].HOut || r.Start != want[k].Start || r.N != want[k].N {
			return fmt.Errorf("%w: call %d: the receipt's input is not the previous node's output", ErrDistrusted, k)
		}
	}
	return nil
}

// History returns the hidden states sent into hop i for positions
// [0, len/dim), the most recent input for each position (so including a
// step that failed), or nil without ChainConfig.KeepHistory. After a
// failover, i indexes the hops now in the chain.
func (c *Chain) History(i int) []float32 {
	c.mu.Lock()
	if i < 0 || i >= len(c.hops) {
		c.mu.Unlock()
		return nil
	}
	b := c.hops[i].Range.First
	c.mu.Unlock()
	return c.hist.latest(b, c.cfg.Model.Dim)
}

func (h *hop) forwardLocal(start int, hidden []float32, n int) error {
	if h.sess == nil {
		s, err := h.Model.NewSession(h.cfg.MaxPositions)
		if err != nil {
			return err
		}
		h.sess = s
		h.sessions.Add(1)
	}
	if err := h.Model.Forward(h.sess, start, hidden, n); err != nil {
		return err
	}
	h.calls.Add(1)
	h.pos.Add(uint64(n))
	return nil
}

func (h *hop) forwardRemote(ctx context.Context, start int, hidden []float32, n int, perMsg int) (err error) {
	if h.proof != nil && h.proof.fault != nil {
		return fmt.Errorf("%w: %w", ErrDistrusted, h.proof.fault)
	}
	if h.retired != nil {
		// A failover that gave up left it in place: never reopen it.
		return fmt.Errorf("the node was taken out of the chain: %w", h.retired)
	}
	if h.st == nil {
		if h.lost != nil && start != 0 {
			return fmt.Errorf("the session was lost (%w); position %d cannot be resumed without replaying its history", h.lost, start)
		}
		if err := h.open(ctx); err != nil {
			return err
		}
	}
	if start+n > h.maxPos {
		return fmt.Errorf("positions up to %d exceed the %d the node granted", start+n, h.maxPos)
	}
	if perMsg > 0 {
		// The session's calls are split alike on every node (receipts
		// chain call by call); a replacement must take them whole.
		if need := min(perMsg, n)*h.cfg.Model.Dim*h.cfg.DType.Size() + frameOverhead + receiptOverhead; h.proof != nil && need > h.maxMsg {
			return fmt.Errorf("the node accepts messages of %d bytes, this session's calls need %d", h.maxMsg, need)
		}
	}
	if h.proof != nil {
		// The previous call's receipt came with its result (wire.Version
		// 3): audit it, if the auditor picks it, before this call. The
		// openings are a round trip of their own, with their own bound.
		stop := h.watch(ctx)
		err := h.audit()
		stop()
		if err != nil {
			return h.broken(ctx, err)
		}
	}
	stop := h.watch(ctx)
	defer func() {
		stop()
		if err != nil {
			err = h.broken(ctx, err)
		}
	}()
	dim := h.cfg.Model.Dim
	dt := h.cfg.DType
	if perMsg <= 0 {
		perMsg = max(1, (h.maxMsg-frameOverhead)/(dim*dt.Size()))
	}
	for off := 0; off < n; off += perMsg {
		k := min(perMsg, n-off)
		if err := h.roundTrip(start+off, hidden[off*dim:(off+k)*dim], k); err != nil {
			return err
		}
	}
	return nil
}

// watch arms the stream's deadline for one call: cfg.Timeout from now, or
// ctx's deadline when earlier; cancelling ctx interrupts blocked reads
// and writes.
func (h *hop) watch(ctx context.Context) (stop func() bool) {
	var d time.Time
	if h.cfg.Timeout > 0 {
		d = time.Now().Add(h.cfg.Timeout)
	}
	if dl, ok := ctx.Deadline(); ok && (d.IsZero() || dl.Before(d)) {
		d = dl
	}
	_ = h.st.SetDeadline(d)
	st := h.st
	return context.AfterFunc(ctx, func() { _ = st.SetDeadline(time.Unix(1, 0)) })
}

// broken handles a failed exchange: unless the node kept the session (a
// CodeTooLong answer), the stream is closed and the session marked lost.
func (h *hop) broken(ctx context.Context, err error) error {
	var we *wire.Error
	if errors.As(err, &we) && we.Code == wire.CodeTooLong {
		return err
	}
	h.lost = err
	if errors.Is(err, ErrDistrusted) {
		h.lost = fmt.Errorf("the node failed verification: %w", err)
	}
	h.closeStream()
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

func (h *hop) closeStream() {
	if h.st != nil {
		_ = h.st.Close()
		h.st, h.r = nil, nil
	}
}

// open starts a session on the hop's node.
func (h *hop) open(ctx context.Context) (err error) {
	octx := ctx
	if h.cfg.Timeout > 0 {
		// A node behind a partition would hold the dial until ctx ends.
		var cancel context.CancelFunc
		octx, cancel = context.WithTimeout(ctx, h.cfg.Timeout)
		defer cancel()
	}
	st, err := h.Open(octx)
	if err != nil {
		return fmt.Errorf("opening a stream: %w", err)
	}
	h.st = st
	h.r = bufio.NewReader(countingReader{st, &h.recv})
	h.w = wire.Writer{W: countingWriter{st, &h.sent}}
	stop := h.watch(ctx)
	defer func() {
		stop()
		if err != nil {
			err = h.broken(ctx, err)
		}
	}()
	cfg := h.cfg
	version := uint32(wire.Version)
	if h.proof != nil && h.proof.v.SyncReceipts {
		version = 2 // the last version with each receipt in its own result
	}
	req := &wire.OpenSession{
		Version:      version,
		ModelCommit:  cfg.ModelCommit,
		First:        h.Range.First,
		Last:         h.Range.Last,
		MaxPositions: cfg.MaxPositions,
		DType:        cfg.DType,
	}
	if h.proof != nil {
		if req.Nonce, err = h.proof.begin(cfg, h.Range); err != nil {
			return err
		}
		h.proof.deferred = version >= 3
	}
	if cfg.Payer != nil {
		signPayer(req, cfg.Payer, h.PubKey)
	}
	if err := h.w.WriteMessage(req); err != nil {
		return h.writeFailed("opening a session", err)
	}
	msg, err := wire.ReadMessage(h.r, cfg.MaxMessageBytes)
	if err != nil {
		return fmt.Errorf("opening a session: %w", err)
	}
	switch m := msg.(type) {
	case *wire.Error:
		return fmt.Errorf("opening a session: %w", m)
	case *wire.SessionOpened:
		if m.DType != cfg.DType {
			return fmt.Errorf("opening a session: node answered dtype %s, asked %s", m.DType, cfg.DType)
		}
		h.id = m.SessionID
		h.maxPos = min(m.MaxPositions, cfg.MaxPositions)
		h.maxMsg = min(m.MaxMessageBytes, cfg.MaxMessageBytes)
		if need := cfg.Model.Dim*cfg.DType.Size() + frameOverhead; h.maxMsg < need {
			return fmt.Errorf("opening a session: node accepts messages of %d bytes, one position needs %d", h.maxMsg, need)
		}
		if h.proof != nil && !proof.SameKey(m.NodeKey, h.proof.key) {
			if len(m.NodeKey) == 0 {
				return h.proof.distrust(errors.New("the node does not sign receipts (it announced no key)"))
			}
			return h.proof.distrust(fmt.Errorf("the node signs with key %x, it is known by key %x", m.NodeKey, []byte(h.proof.key)))
		}
		h.step = 0
		h.lost = nil
		h.dtype.Store(uint32(m.DType))
		h.sessions.Add(1)
		return nil
	default:
		return fmt.Errorf("opening a session: node answered %s", msg.Type())
	}
}

// roundTrip sends one Forward of k positions and writes the answer into
// part.
func (h *hop) roundTrip(start int, part []float32, k int) error {
	cfg := h.cfg
	dim := cfg.Model.Dim
	var err error
	h.payload, err = wire.EncodeHidden(h.payload[:0], cfg.DType, part, k, dim)
	if err != nil {
		return &clientFault{err}
	}
	req := &wire.Forward{SessionID: h.id, Step: h.step, Start: start, N: k, Payload: h.payload}
	if err := h.w.WriteMessage(req); err != nil {
		return h.writeFailed(fmt.Sprintf("step %d", h.step), err)
	}
	if h.proof != nil {
		h.idle() // while the node computes
	}
	msg, err := wire.ReadMessage(h.r, cfg.MaxMessageBytes)
	if err != nil {
		return fmt.Errorf("step %d: reading the answer: %w", h.step, err)
	}
	switch m := msg.(type) {
	case *wire.Error:
		return fmt.Errorf("step %d: %w", h.step, m)
	case *wire.ForwardResult:
		if m.Step != h.step || m.Start != start || m.N != k {
			return fmt.Errorf("step %d: node answered step %d positions %d+%d, want positions %d+%d",
				h.step, m.Step, m.Start, m.N, start, k)
		}
		if cap(h.scratch) < len(part) {
			h.scratch = make([]float32, len(part))
		}
		out := h.scratch[:len(part)]
		if err := wire.DecodeHidden(out, cfg.DType, m.Payload, k, dim); err != nil {
			return fmt.Errorf("step %d: node's answer: %w", h.step, err)
		}
		if h.proof != nil {
			h.sentBuf = roundTo(h.sentBuf, part, cfg.DType)
			if err := h.checkResult(m, start, k, h.sentBuf, out); err != nil {
				return fmt.Errorf("step %d: %w", h.step, err)
			}
		}
		copy(part, out)
	default:
		return fmt.Errorf("step %d: node answered %s", h.step, msg.Type())
	}
	h.step++
	h.calls.Add(1)
	h.pos.Add(uint64(k))
	return nil
}

// writeFailed explains a failed write: a node that refused an earlier
// message may have answered with an Error before closing.
func (h *hop) writeFailed(what string, err error) error {
	_ = h.st.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if msg, rerr := wire.ReadMessage(h.r, h.cfg.MaxMessageBytes); rerr == nil {
		if we, ok := msg.(*wire.Error); ok {
			return fmt.Errorf("%s: %w (then %v)", what, we, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Stats returns every hop's counters, in chain order.
// Hops replaced by failover follow, marked Retired.
func (c *Chain) Stats() []HopStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	hops := slices.Concat(c.hops, c.retiredHops)
	out := make([]HopStats, len(hops))
	for i, h := range hops {
		out[i] = HopStats{
			Peer:          h.name(),
			Range:         h.Range,
			Local:         h.local(),
			DType:         wire.DType(h.dtype.Load()),
			Sessions:      h.sessions.Load(),
			Calls:         h.calls.Load(),
			Positions:     h.pos.Load(),
			BytesSent:     h.sent.Load(),
			BytesReceived: h.recv.Load(),
			Time:          time.Duration(h.nanos.Load()),
		}
		if h.retired != nil {
			out[i].Retired, out[i].Failure = true, h.retired.Error()
		}
	}
	return out
}

// Failovers returns the failures the chain recovered from, in order.
func (c *Chain) Failovers() []Failover {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.failovers)
}

// Close ends every hop's session (sending CloseSession to nodes) and
// closes their streams. The chain cannot be used afterwards.
func (c *Chain) Close() error {
	if c.closed {
		return nil
	}
	c.flushNow() // the nodes' last receipts, before their sessions end
	c.closed = true
	var errs []error
	for _, h := range c.hops {
		h.sess = nil
		if h.st == nil {
			continue
		}
		_ = h.st.SetDeadline(time.Now().Add(time.Second))
		_ = h.w.WriteMessage(&wire.CloseSession{})
		if err := h.st.Close(); err != nil {
			errs = append(errs, &HopError{Hop: h.index, Peer: h.name(), Range: h.Range, Err: err})
		}
		h.st, h.r = nil, nil
	}
	return errors.Join(errs...)
}
