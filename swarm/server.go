package swarm

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tessera-net/tessera/merkle"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/wire"
)

// Server defaults, used when the corresponding field is zero.
const (
	DefaultMaxSessions = 16
	DefaultIdleTimeout = 2 * time.Minute
)

// After an error answer the server drains what the client still sends,
// for at most errorLinger and until the client has been quiet for
// errorQuiet, so that closing does not reset the connection (losing the
// answer) while the client is still writing.
const (
	errorLinger = 2 * time.Second
	errorQuiet  = 250 * time.Millisecond
)

// Server serves one layer range of a model over the forward protocol: a
// session may ask for the whole range or any non-empty part of it (see
// wire.Version 2), which it computes on a view of Model (model.Model.Sub).
// Set its fields before the first ServeStream and do not change them
// after; ServeStream may be called from many goroutines at once.
type Server struct {
	// Model holds the layers served (Model.Range); it need not hold the
	// client parts.
	Model *model.Model
	// ModelCommit is the commitment of the whole model; sessions that ask
	// for another are refused.
	ModelCommit [32]byte
	// MaxSessions bounds the sessions open at once (0: DefaultMaxSessions).
	MaxSessions int
	// MaxPositions bounds the positions of one session (0: the model's
	// context length). A session asking for more is granted this many.
	MaxPositions int
	// MaxMessageBytes bounds a frame from the client (0:
	// wire.DefaultMaxMessageBytes); it must hold at least one position in
	// f32. Clients learn it from SessionOpened and split prefills to fit.
	MaxMessageBytes int
	// IdleTimeout closes a stream that sends nothing for this long, and
	// bounds the time to write an answer (0: DefaultIdleTimeout; negative:
	// no timeout).
	IdleTimeout time.Duration
	// Key signs receipts (with libp2p, the host's identity key, so that
	// clients know it from the peer id). Without a key the node announces
	// none and sessions get no receipts.
	Key ed25519.PrivateKey
	// TraceWindow is the number of a session's most recent forward calls
	// whose full traces are kept for openings (0:
	// proof.DefaultTraceWindow); keys and values are kept for the whole
	// session. TraceBytes bounds the bytes of full traces kept per session
	// (0: proof.DefaultTraceBytes).
	TraceWindow int
	TraceBytes  int64
	// Admit, when set, decides whether to open a session (after the
	// request's model, layers and payer signature were checked); an error
	// refuses it with wire.CodeRefused and the error's text. Nodes use it
	// to serve only clients whose ledger balance can pay.
	Admit func(ctx context.Context, a Admission) error
	// Release, when set, is told once when a session Admit admitted ends
	// (closed, failed or not opened after all), so that a policy can hold
	// something back for the sessions open (a payer's balance).
	Release func(a Admission)
	// Forward computes a forward call (nil: the session's model's
	// ForwardTrace, tr nil when the session is not traced; for a session
	// of part of the range, s.Model() is a view of Model). It exists so
	// that tests can play dishonest nodes; a real node leaves it nil.
	Forward ForwardFunc
	// Peers applies per-peer limits to streams served with ServePeer (nil:
	// a limiter with the default PeerLimits). Servers that take turns
	// serving a node share one.
	Peers *PeerLimiter

	peersOnce sync.Once
	peers     *PeerLimiter

	tracesOnce sync.Once
	traces     *proof.TracePool // trace buffers shared by the sessions

	viewsMu sync.Mutex
	views   map[model.Range]*model.Model // views of Model for sub-range sessions

	sessionsOpen  atomic.Int64
	sessionsTotal atomic.Uint64
	streams       atomic.Uint64
	forwards      atomic.Uint64
	positions     atomic.Uint64
	bytesIn       atomic.Uint64
	bytesOut      atomic.Uint64
	errorsSent    atomic.Uint64
	expired       atomic.Uint64
	openings      atomic.Uint64
	nextID        atomic.Uint64
}

// ForwardFunc computes one forward call of a session in place, recording
// its trace into tr when tr is not nil (model.Model.ForwardTrace).
type ForwardFunc func(s *model.Session, start int, hidden []float32, n int, tr *model.Trace) error

// tracePool returns the trace buffers the sessions share: at most one
// session's worth (TraceBytes) is kept between sessions.
func (s *Server) tracePool() *proof.TracePool {
	s.tracesOnce.Do(func() {
		limit := s.TraceBytes
		if limit <= 0 {
			limit = proof.DefaultTraceBytes
		}
		s.traces = &proof.TracePool{MaxBytes: limit}
	})
	return s.traces
}

// NodeKey is the public key receipts are signed with, or nil.
func (s *Server) NodeKey() ed25519.PublicKey {
	if s.Key == nil {
		return nil
	}
	return s.Key.Public().(ed25519.PublicKey)
}

// ServerStats are the operator's counters, all since the server started.
type ServerStats struct {
	SessionsOpen  int64  // sessions open now
	SessionsTotal uint64 // sessions opened
	Streams       uint64 // streams served
	Forwards      uint64 // Forward messages computed
	Positions     uint64 // positions computed (a rewind computes its positions again)
	BytesIn       uint64 // bytes read from clients
	BytesOut      uint64 // bytes written to clients
	Errors        uint64 // Error messages sent
	Expired       uint64 // streams closed by the idle timeout
	Openings      uint64 // trace cells opened for auditors
	// Trace buffers kept between sessions, their bytes, and how many
	// calls recorded into a buffer that another session had released.
	TracesKept     int
	TraceBytesKept int64
	TracesReused   uint64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() ServerStats {
	st := ServerStats{
		SessionsOpen:  s.sessionsOpen.Load(),
		SessionsTotal: s.sessionsTotal.Load(),
		Streams:       s.streams.Load(),
		Forwards:      s.forwards.Load(),
		Positions:     s.positions.Load(),
		BytesIn:       s.bytesIn.Load(),
		BytesOut:      s.bytesOut.Load(),
		Errors:        s.errorsSent.Load(),
		Expired:       s.expired.Load(),
		Openings:      s.openings.Load(),
	}
	st.TracesKept, st.TraceBytesKept = s.tracePool().Kept()
	st.TracesReused = s.tracePool().Reused()
	return st
}

// limits are the Server's settings with defaults applied.
type limits struct {
	maxSessions, maxPositions, maxMessage int
	idle                                  time.Duration
}

func (s *Server) limits() (limits, error) {
	if s.Model == nil || s.Model.Range.Len() <= 0 {
		return limits{}, errors.New("swarm: server has no layers to serve")
	}
	l := limits{maxSessions: s.MaxSessions, maxPositions: s.MaxPositions, maxMessage: s.MaxMessageBytes, idle: s.IdleTimeout}
	if l.maxSessions == 0 {
		l.maxSessions = DefaultMaxSessions
	}
	if l.maxPositions == 0 {
		l.maxPositions = s.Model.Config.ContextLen
	}
	l.maxPositions = min(l.maxPositions, wire.PositionLimit)
	if l.maxMessage == 0 {
		l.maxMessage = wire.DefaultMaxMessageBytes
	}
	if l.idle == 0 {
		l.idle = DefaultIdleTimeout
	}
	if l.maxSessions < 0 || l.maxPositions <= 0 {
		return limits{}, fmt.Errorf("swarm: bad server limits: %d sessions, %d positions", l.maxSessions, l.maxPositions)
	}
	if need := s.Model.Config.Dim*4 + frameOverhead; l.maxMessage < need {
		return limits{}, fmt.Errorf("swarm: MaxMessageBytes %d cannot hold one position (%d bytes)", l.maxMessage, need)
	}
	return l, nil
}

// frameOverhead bounds the bytes of a Forward or ForwardResult frame
// besides its payload.
const frameOverhead = 64

// ServeStream serves one session on st and closes st when done. It returns
// nil when the client closes the session (CloseSession or end of stream)
// and otherwise the reason the stream ended: an error answered to the
// client (a *wire.Error), the idle timeout, ctx's end, or an I/O error.
// Cancelling ctx ends the stream with a CodeBusy answer. The stream's
// peer is unknown, so no per-peer limits apply: see ServePeer.
func (s *Server) ServeStream(ctx context.Context, st Stream) error {
	return s.ServePeer(ctx, "", st)
}

// ServePeer is ServeStream for a stream from peer (with libp2p, its peer
// id), to whom Peers' limits apply; "" is no peer.
func (s *Server) ServePeer(ctx context.Context, peer string, st Stream) error {
	s.streams.Add(1)
	c := &conn{
		srv:  s,
		peer: peer,
		st:   st,
		r:    bufio.NewReader(countingReader{st, &s.bytesIn}),
		w:    wire.Writer{W: countingWriter{st, &s.bytesOut}},
	}
	defer st.Close()
	defer c.release()
	lim, err := s.limits()
	if err != nil {
		return c.fail(wire.NewError(wire.CodeInternal, "node misconfigured"), err)
	}
	c.lim = lim
	if ctx.Err() != nil {
		return c.shutdown(ctx)
	}
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.failing {
			_ = st.SetDeadline(time.Unix(1, 0)) // interrupt a blocked read
		}
	})
	defer stop()
	return c.serve(ctx)
}

// conn is the state of one stream.
type conn struct {
	srv *Server
	lim limits
	st  Stream
	r   *bufio.Reader
	w   wire.Writer

	peer        string // the remote peer, "" when unknown
	peerRelease func() // gives back the session's per-peer slot

	mu      sync.Mutex
	failing bool // set by fail: ctx's end no longer touches the deadline

	sess *model.Session // nil until OpenSession
	// admitted is what Server.Admit admitted for the session (nil when
	// no policy was asked), handed to Server.Release when it ends.
	admitted *Admission
	model    *model.Model // the layers of the session: Model or a view of it
	id       uint64
	dtype    wire.DType
	maxPos   int
	step     uint64
	hidden   []float32
	payload  []byte

	// Receipts and traces, when the client sent a nonce and the node has
	// a key.
	signing  bool
	deferred bool // version 3: receipts one call late (receiptJob)
	nonce    proof.Hash
	prev     proof.Hash // hash of the last receipt collected
	store    *proof.TraceStore
	jobs     [2]receiptJob
	job      *receiptJob // the last call's, until the next one starts
}

// setDeadline arms the idle timeout; it reports false once ctx is done (so
// that a deadline set after ctx's AfterFunc cannot revive the stream).
func (c *conn) setDeadline(ctx context.Context) bool {
	var d time.Time
	if c.lim.idle > 0 {
		d = time.Now().Add(c.lim.idle)
	}
	_ = c.st.SetDeadline(d)
	return ctx.Err() == nil
}

func (c *conn) serve(ctx context.Context) error {
	for {
		if !c.setDeadline(ctx) {
			return c.shutdown(ctx)
		}
		msg, err := wire.ReadMessage(c.r, c.lim.maxMessage)
		if err != nil {
			switch {
			case err == io.EOF:
				return nil
			case ctx.Err() != nil:
				return c.shutdown(ctx)
			case errors.Is(err, wire.ErrTooLarge):
				return c.fail(wire.NewError(wire.CodeMessageTooLarge, err.Error()), nil)
			case errors.Is(err, wire.ErrMalformed):
				return c.fail(wire.NewError(wire.CodeBadRequest, err.Error()), nil)
			case isTimeout(err):
				c.srv.expired.Add(1)
				return fmt.Errorf("swarm: stream idle for %v: %w", c.lim.idle, err)
			}
			return err
		}
		switch m := msg.(type) {
		case *wire.OpenSession:
			if c.sess != nil {
				return c.fail(wire.NewError(wire.CodeOutOfOrder, "session already open on this stream"), nil)
			}
			if e := c.open(ctx, m); e != nil {
				return c.fail(e, nil)
			}
			err = c.w.WriteMessage(&wire.SessionOpened{SessionID: c.id, MaxPositions: c.maxPos, DType: c.dtype,
				MaxMessageBytes: c.lim.maxMessage, NodeKey: c.srv.NodeKey()})
		case *wire.Forward:
			if c.sess == nil {
				return c.fail(wire.NewError(wire.CodeOutOfOrder, "Forward before OpenSession"), nil)
			}
			if e := c.limitForward(m.N); e != nil {
				return c.fail(e, nil)
			}
			var e *wire.Error
			if e, err = c.forward(ctx, m); e != nil {
				if e.Code != wire.CodeTooLong {
					return c.fail(e, nil)
				}
				// The session is intact: answer and keep serving.
				c.srv.errorsSent.Add(1)
				err = c.w.WriteMessage(e)
			}
		case *wire.OpenCells:
			if c.sess == nil {
				return c.fail(wire.NewError(wire.CodeOutOfOrder, "OpenCells before OpenSession"), nil)
			}
			if e := c.limitOpening(); e != nil {
				return c.fail(e, nil)
			}
			var e *wire.Error
			if e, err = c.openCells(ctx, m); e != nil {
				if e.Code != wire.CodeGone {
					return c.fail(e, nil)
				}
				c.srv.errorsSent.Add(1)
				err = c.w.WriteMessage(e)
			}
		case *wire.ReceiptRequest:
			if c.sess == nil {
				return c.fail(wire.NewError(wire.CodeOutOfOrder, "ReceiptRequest before OpenSession"), nil)
			}
			e, reply := c.answerReceipt(m)
			if e != nil {
				return c.fail(e, nil)
			}
			if !c.setDeadline(ctx) {
				return c.shutdown(ctx)
			}
			err = c.w.WriteMessage(reply)
		case *wire.CloseSession:
			if c.sess == nil {
				return c.fail(wire.NewError(wire.CodeOutOfOrder, "CloseSession before OpenSession"), nil)
			}
			return nil
		default:
			return c.fail(wire.NewError(wire.CodeBadRequest, fmt.Sprintf("a client does not send %s", msg.Type())), nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				return c.shutdown(ctx)
			}
			return fmt.Errorf("swarm: writing to client: %w", err)
		}
	}
}

// open checks an OpenSession and starts the session.
func (c *conn) open(ctx context.Context, m *wire.OpenSession) *wire.Error {
	srv := c.srv
	if e := c.admitPeer(); e != nil {
		return e
	}
	if m.Version < 1 || m.Version > wire.Version {
		return wire.NewError(wire.CodeBadRequest, fmt.Sprintf("protocol version %d not supported (node speaks 1 to %d)", m.Version, wire.Version))
	}
	if m.ModelCommit != srv.ModelCommit {
		return wire.NewError(wire.CodeModelMismatch, fmt.Sprintf("node serves model %s, client asked for %s",
			hexCommit(srv.ModelCommit), hexCommit(m.ModelCommit)))
	}
	r := model.Range{First: m.First, Last: m.Last}
	if r.First < srv.Model.Range.First || r.Last > srv.Model.Range.Last {
		return wire.NewError(wire.CodeRangeMismatch, fmt.Sprintf("node serves layers %s, client asked for %s", srv.Model.Range, r))
	}
	if m.Version < 2 && r != srv.Model.Range {
		// A version 1 client expects the node's exact range.
		return wire.NewError(wire.CodeRangeMismatch, fmt.Sprintf("node serves layers %s, client asked for %s (protocol version 1 sessions take the whole range)", srv.Model.Range, r))
	}
	view, err := srv.view(r)
	if err != nil {
		return wire.NewError(wire.CodeInternal, err.Error())
	}
	maxPos := min(m.MaxPositions, c.lim.maxPositions)
	adm, e := srv.admit(ctx, m, maxPos)
	if e != nil {
		return e
	}
	unadmit := func() {
		if adm != nil && srv.Release != nil {
			srv.Release(*adm)
		}
	}
	for {
		n := srv.sessionsOpen.Load()
		if n >= int64(c.lim.maxSessions) {
			unadmit()
			return wire.NewError(wire.CodeTooManySessions, fmt.Sprintf("node already serves its limit of %d sessions", c.lim.maxSessions))
		}
		if srv.sessionsOpen.CompareAndSwap(n, n+1) {
			break
		}
	}
	sess, err := view.NewSession(maxPos)
	if err != nil {
		srv.sessionsOpen.Add(-1)
		unadmit()
		return wire.NewError(wire.CodeInternal, err.Error())
	}
	srv.sessionsTotal.Add(1)
	c.sess, c.model, c.maxPos, c.dtype, c.admitted = sess, view, maxPos, m.DType, adm
	c.id = srv.nextID.Add(1)
	if len(m.Nonce) == wire.NonceSize && srv.Key != nil {
		c.signing = true
		c.deferred = m.Version >= 3
		copy(c.nonce[:], m.Nonce)
		c.store = &proof.TraceStore{Window: srv.TraceWindow, MaxBytes: srv.TraceBytes, Recycle: srv.tracePool()}
		if pool := view.Pool(); pool != nil {
			c.store.Parallel = pool.Parallel
		}
	}
	return nil
}

// forward computes one Forward. A *wire.Error is the client's fault or the
// model's; a plain error is a failure to write the answer.
func (c *conn) forward(ctx context.Context, m *wire.Forward) (*wire.Error, error) {
	if m.SessionID != c.id {
		return wire.NewError(wire.CodeBadRequest, fmt.Sprintf("session id %d, this stream's session is %d", m.SessionID, c.id)), nil
	}
	if m.Step != c.step {
		return wire.NewError(wire.CodeOutOfOrder, fmt.Sprintf("step %d, expected step %d", m.Step, c.step)), nil
	}
	if m.Start > c.sess.Len() {
		return wire.NewError(wire.CodeOutOfOrder, fmt.Sprintf("start position %d skips positions: the session holds %d", m.Start, c.sess.Len())), nil
	}
	if m.Start+m.N > c.maxPos {
		return wire.NewError(wire.CodeTooLong, fmt.Sprintf("positions up to %d exceed the session's limit of %d", m.Start+m.N, c.maxPos)), nil
	}
	dim := c.srv.Model.Config.Dim
	if cap(c.hidden) < m.N*dim {
		c.hidden = make([]float32, m.N*dim)
	}
	hidden := c.hidden[:m.N*dim]
	if err := wire.DecodeHidden(hidden, c.dtype, m.Payload, m.N, dim); err != nil {
		return wire.NewError(wire.CodeBadRequest, err.Error()), nil
	}
	var job *receiptJob
	var tr *model.Trace
	if c.signing {
		job = c.nextJob(m.Step, m.Start, m.N, hidden)
		tr = job.tr
	}
	compute := c.srv.Forward
	if compute == nil {
		compute = c.model.ForwardTrace
	}
	if err := compute(c.sess, m.Start, hidden, m.N, tr); err != nil {
		return wire.NewError(wire.CodeInternal, err.Error()), nil
	}
	c.step++
	c.srv.forwards.Add(1)
	c.srv.positions.Add(uint64(m.N))
	var err error
	if c.payload, err = wire.EncodeHidden(c.payload[:0], c.dtype, hidden, m.N, dim); err != nil {
		return wire.NewError(wire.CodeInternal, "layers "+c.model.Range.String()+" produced "+err.Error()), nil
	}
	var receipt []byte
	if c.signing {
		if !c.deferred {
			c.start(job, hidden)
		}
		// Deferred: the previous call's receipt, normally ready long ago.
		if receipt, err = c.collect(); err != nil {
			return wire.NewError(wire.CodeInternal, err.Error()), nil
		}
	}
	if !c.setDeadline(ctx) {
		return nil, ctx.Err()
	}
	err = c.w.WriteMessage(&wire.ForwardResult{Step: m.Step, Start: m.Start, N: m.N, Payload: c.payload, Receipt: receipt})
	if c.deferred && err == nil {
		// Commit and sign while the client works on the next call.
		c.start(job, hidden)
	}
	return nil, err
}

// openCells answers an OpenCells. A CodeGone answer leaves the session
// intact; other errors end it.
func (c *conn) openCells(ctx context.Context, m *wire.OpenCells) (*wire.Error, error) {
	if m.SessionID != c.id {
		return wire.NewError(wire.CodeBadRequest, fmt.Sprintf("session id %d, this stream's session is %d", m.SessionID, c.id)), nil
	}
	if !c.signing {
		return wire.NewError(wire.CodeGone, "this session keeps no traces (open it with a nonce on a node that signs)"), nil
	}
	refs, err := proof.UnmarshalRequest(m.Request)
	if err != nil {
		return wire.NewError(wire.CodeBadRequest, err.Error()), nil
	}
	// Refuse answers larger than the frames this node accepts before
	// building them: clients split their requests to fit.
	size := 64
	for _, ref := range refs {
		size += proof.OpeningSize(c.srv.Model.Config, ref.Mask, merkle.ProofLen(0, 1<<20))
	}
	if size > c.lim.maxMessage {
		return wire.NewError(wire.CodeGone, fmt.Sprintf("openings of %d cells may need %d bytes, more than the %d this node sends in one message", len(refs), size, c.lim.maxMessage)), nil
	}
	ops, err := c.store.Open(refs)
	if err != nil {
		return wire.NewError(wire.CodeGone, err.Error()), nil
	}
	c.srv.openings.Add(uint64(len(ops)))
	if !c.setDeadline(ctx) {
		return nil, ctx.Err()
	}
	return nil, c.w.WriteMessage(&wire.Openings{Body: proof.MarshalOpenings(ops)})
}

// release frees the session, if any.
func (c *conn) release() {
	c.releasePeer()
	if c.sess != nil {
		c.sess, c.model = nil, nil
		c.hidden, c.payload = nil, nil
		if c.store != nil {
			for i := range c.jobs {
				if t := c.jobs[i].tr; t != nil { // recorded, never kept
					c.store.Recycle.Put(t)
				}
			}
			c.store.Release()
		}
		c.store, c.job, c.jobs = nil, nil, [2]receiptJob{}
		c.srv.sessionsOpen.Add(-1)
		if c.admitted != nil && c.srv.Release != nil {
			c.srv.Release(*c.admitted)
		}
		c.admitted = nil
	}
}

// maxViews bounds the views kept for sub-range sessions: each holds its
// own scratch buffers, which grow with the largest prefill it computed.
const maxViews = 8

// view returns the model computing layers r (Model itself for its whole
// range), reusing a view made for an earlier session of the same range.
func (s *Server) view(r model.Range) (*model.Model, error) {
	if r == s.Model.Range {
		return s.Model, nil
	}
	s.viewsMu.Lock()
	defer s.viewsMu.Unlock()
	if v, ok := s.views[r]; ok {
		return v, nil
	}
	v, err := s.Model.Sub(r)
	if err != nil {
		return nil, err
	}
	if s.views == nil {
		s.views = map[model.Range]*model.Model{}
	}
	if len(s.views) >= maxViews {
		// Sessions keep the view they use; the cache only saves making
		// (and growing the buffers of) a new one.
		for k := range s.views {
			delete(s.views, k)
			break
		}
	}
	s.views[r] = v
	return v, nil
}

// shutdown answers CodeBusy because ctx ended.
func (c *conn) shutdown(ctx context.Context) error {
	return c.fail(wire.NewError(wire.CodeBusy, "node is shutting down"), ctx.Err())
}

// fail answers e, drains the stream (see errorLinger) and returns cause,
// or e itself when cause is nil.
func (c *conn) fail(e *wire.Error, cause error) error {
	c.srv.errorsSent.Add(1)
	c.release()
	c.mu.Lock()
	c.failing = true
	c.mu.Unlock()
	_ = c.st.SetDeadline(time.Now().Add(errorQuiet))
	// Drain concurrently: a client blocked writing the rest of a large
	// message would otherwise never read the answer.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		c.drain()
	}()
	_ = c.w.WriteMessage(e)
	if cw, ok := c.st.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	<-drained
	if cause != nil {
		return cause
	}
	return e
}

// drain discards input until the client closes, stays quiet for
// errorQuiet, errorLinger passes or too many bytes came.
func (c *conn) drain() {
	end := time.Now().Add(errorLinger)
	limit := int64(c.lim.maxMessage) + 1<<20
	buf := make([]byte, 32<<10)
	for limit > 0 {
		n, err := c.r.Read(buf)
		limit -= int64(n)
		if err != nil {
			return
		}
		d := time.Now().Add(errorQuiet)
		if d.After(end) {
			d = end
		}
		_ = c.st.SetDeadline(d)
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func hexCommit(c [32]byte) string { return hex.EncodeToString(c[:]) }
