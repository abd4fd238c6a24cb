package swarm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/wire"
)

// How a chain checks receipts without waiting for them (wire.Version 3).
//
// A node answers a call as soon as its output is computed and sends the
// call's receipt with its next result (or on a ReceiptRequest), so the
// client keeps, per hop, the call whose receipt is owed (owedCall: what it
// sent and received, hashed, and the copies audits and re-execution need).
// When the receipt comes, everything but its signature is checked at once
// (proof.ReceiptChecker.CheckUnsigned: key, session, step, chaining, H(in)
// and H(out) against the owed call). The Ed25519 verification, most of
// the check's cost, waits for the client's next idle moment: after it
// sends a Forward to any node and before the answer comes (Chain.idle).
// The receipt's audit, when the auditor picks it, runs before the hop's
// next call (the signature verified first). Any failure distrusts the
// node: its next call fails and failover replays its calls on another
// node, whose outputs must be those the node had sent (so an output the
// node never vouched for cannot stay in the chain's results unnoticed).

// DefaultFlushTimeout bounds Flush when called without a deadline (by
// Proofs, Close and ReexecJob) and ChainConfig.Timeout is zero.
const DefaultFlushTimeout = 30 * time.Second

// owedCall is a forward call whose receipt has not been checked yet.
type owedCall struct {
	step      uint64
	start, n  int
	hIn, hOut proof.Hash
	in, out   []float32 // copies, kept only for audits and re-execution
}

// sigCheck is the newest receipt of a hop, accepted by CheckUnsigned,
// until its signature is verified and its audit done.
type sigCheck struct {
	r        *proof.Receipt
	call     *owedCall
	verified bool // the signature was verified (or failed: hopProof.fault)
	observed bool // the auditor has seen it (and audited it if picked)
}

// newCall records call step, which sent in (as the node decodes it) and
// received out.
func (p *hopProof) newCall(step uint64, start, n, dim int, in, out []float32) *owedCall {
	c := &owedCall{step: step, start: start, n: n, hIn: proof.HiddenRoot(in, n, dim), hOut: proof.HiddenRoot(out, n, dim)}
	if p.auditor != nil || p.v.KeepInputs {
		c.in = append([]float32(nil), in...)
		c.out = append([]float32(nil), out...)
	}
	return c
}

// checkResult takes the receipt a ForwardResult carries for call step
// (in is what the node decoded, out what the client decoded): the call's
// own receipt in sessions before version 3, checked and audited before
// the output is used; otherwise the previous call's, whose signature and
// audit are checked later (see above).
func (h *hop) checkResult(m *wire.ForwardResult, start, n int, in, out []float32) error {
	p := h.proof
	call := p.newCall(h.step, start, n, h.cfg.Model.Dim, in, out)
	due := call
	if p.deferred {
		due, p.owed = p.owed, call
	}
	if due == nil {
		if len(m.Receipt) != 0 {
			return p.distrust(fmt.Errorf("the node sent a receipt with step %d, none was owed", h.step))
		}
		return nil
	}
	if len(m.Receipt) == 0 {
		if p.deferred {
			return p.distrust(fmt.Errorf("the node withheld the receipt of step %d", due.step))
		}
		return p.distrust(errors.New("the node sent no receipt"))
	}
	return h.accept(m.Receipt, due, !p.deferred)
}

// accept checks receipt b of call due; now finishes the check (signature
// and audit) before returning.
func (h *hop) accept(b []byte, due *owedCall, now bool) error {
	p := h.proof
	r, err := proof.UnmarshalReceipt(b)
	if err != nil {
		return p.distrust(err)
	}
	if err := h.settle(); err != nil { // the previous receipt first
		return err
	}
	if err := p.checker.CheckUnsigned(r, due.start, due.n, due.hIn, due.hOut); err != nil {
		return p.distrust(err)
	}
	p.unsigned = 1
	if p.v.KeepInputs {
		p.inputs = append(p.inputs, due.in)
		p.outputs = append(p.outputs, due.out)
	}
	p.verifying = &sigCheck{r: r, call: due}
	if now {
		return h.settle()
	}
	return nil
}

// verifySig verifies the newest receipt's signature, if not done yet; a
// bad one distrusts the node (and the receipt stays out of Proofs). It
// reports whether the node is still trusted.
func (p *hopProof) verifySig() bool {
	sc := p.verifying
	if sc != nil && !sc.verified {
		sc.verified = true
		if err := p.checker.VerifySignature(sc.r); err != nil {
			_ = p.distrust(err)
		} else {
			p.unsigned = 0
		}
	}
	return p.fault == nil
}

// audit shows the newest receipt to the auditor, once, and when it picks
// cells of it, verifies the signature and asks the node for openings.
func (h *hop) audit() error {
	p := h.proof
	sc := p.verifying
	if sc == nil || sc.observed || p.auditor == nil || p.fault != nil {
		return nil
	}
	sc.observed = true
	refs := p.auditor.Observe(sc.r, sc.call.in, sc.call.out)
	if len(refs) == 0 {
		return nil
	}
	if !p.verifySig() {
		_ = p.auditor.Check(nil)
		return fmt.Errorf("%w: %w", ErrDistrusted, p.fault)
	}
	if h.st == nil {
		// The session broke after the receipt came: the cells can no
		// longer be opened, and the failover that follows replaces it.
		_ = p.auditor.Check(nil)
		return errors.New("the session ended before its receipt could be audited")
	}
	ops, err := h.fetchOpenings(refs)
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			// The node refused to open what it committed to.
			_ = p.auditor.Check(nil)
			return p.distrust(fmt.Errorf("%w: %w", proof.ErrRefused, err))
		}
		return err
	}
	if err := p.auditor.Check(ops); err != nil {
		return p.distrust(err)
	}
	return nil
}

// settle finishes the check of the newest receipt: signature and audit.
func (h *hop) settle() error {
	p := h.proof
	if p.verifying == nil {
		return nil
	}
	if !p.verifySig() {
		return fmt.Errorf("%w: %w", ErrDistrusted, p.fault)
	}
	if err := h.audit(); err != nil {
		return err
	}
	p.verifying = nil
	return nil
}

// idle verifies the signatures of the receipts that came so far, while the
// client waits for a node's answer anyway.
func (c *Chain) idle() {
	for _, h := range c.hops {
		if h.proof != nil {
			h.proof.verifySig()
		}
	}
}

// Flush fetches and checks every receipt the chain's nodes still owe (the
// last call's, in sessions of wire.Version 3), finishes the checks of the
// receipts in flight, and checks that every hop's receipts chain to its
// neighbours'. A node that withholds or fails them is distrusted and, with
// ChainConfig.Reroute, replaced like a node failing mid-generation: its
// replacement replays the session and must reproduce the outputs the node
// had sent, or Flush fails. Proofs, ReexecJob and Close flush first; call
// Flush directly to bound it by ctx and see its error.
func (c *Chain) Flush(ctx context.Context) error {
	if c.closed || c.cfg.Verify == nil {
		return nil
	}
	var errs []error
	for i := 0; i < len(c.hops); i++ {
		h := c.hops[i]
		if h.proof == nil || h.retired != nil {
			continue
		}
		err := h.flush(ctx)
		if err == nil {
			continue
		}
		if !c.canFailover(ctx, h, err) {
			errs = append(errs, &HopError{Hop: h.index, Peer: h.name(), Range: h.Range, Err: err})
			continue // the other nodes' receipts all the same
		}
		if _, err := c.failover(ctx, i, err, 0, nil); err != nil {
			errs = append(errs, err)
			continue
		}
		i-- // flush the replacement's own last receipt
	}
	if err := c.chainedLast(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// flush fetches hop h's owed receipt, if any, and finishes its checks.
func (h *hop) flush(ctx context.Context) (err error) {
	p := h.proof
	if p.fault != nil {
		return fmt.Errorf("%w: %w", ErrDistrusted, p.fault)
	}
	if h.st == nil {
		p.verifySig()
		switch {
		case p.fault != nil:
			return fmt.Errorf("%w: %w", ErrDistrusted, p.fault)
		case p.owed != nil && h.lost != nil:
			return fmt.Errorf("the session was lost before its last receipt came: %w", h.lost)
		case p.owed != nil:
			return errors.New("the session ended before its last receipt came")
		}
		return nil
	}
	stop := h.watch(ctx)
	defer func() {
		stop()
		if err != nil {
			err = h.broken(ctx, err)
		}
	}()
	if p.owed == nil {
		return h.settle()
	}
	due := p.owed
	p.owed = nil
	if err := h.w.WriteMessage(&wire.ReceiptRequest{SessionID: h.id}); err != nil {
		return h.writeFailed("asking for the last receipt", err)
	}
	msg, err := wire.ReadMessage(h.r, h.cfg.MaxMessageBytes)
	if err != nil {
		return fmt.Errorf("reading the last receipt: %w", err)
	}
	switch m := msg.(type) {
	case *wire.Error:
		return fmt.Errorf("asking for the last receipt: %w", m)
	case *wire.ReceiptReply:
		if len(m.Receipt) == 0 {
			return p.distrust(fmt.Errorf("the node withheld the receipt of step %d", due.step))
		}
		return h.accept(m.Receipt, due, true)
	default:
		return fmt.Errorf("asked for the last receipt, node answered %s", msg.Type())
	}
}

// chainedLast checks, for every pair of neighbouring remote hops still
// trusted, that the last receipt of the second takes as input the output
// of the first's last receipt: Forward checked the earlier ones as they
// came (chained), Flush fetched these.
func (c *Chain) chainedLast() error {
	var prev *hop
	for _, h := range c.hops {
		p := h.proof
		if p == nil || p.checker == nil || h.retired != nil || p.fault != nil || len(p.checker.Receipts()) == 0 {
			prev = nil
			continue
		}
		if prev != nil {
			a, b := prev.proof.checker.LastReceipt(), p.checker.LastReceipt()
			if b.HIn != a.HOut || b.Start != a.Start || b.N != a.N {
				err := p.distrust(fmt.Errorf("step %d: the receipt's input is not the previous node's output", b.Step))
				return &HopError{Hop: h.index, Peer: h.name(), Range: h.Range, Err: err}
			}
		}
		prev = h
	}
	return nil
}

// flushTimeout bounds the implicit flushes.
func (c *Chain) flushTimeout() time.Duration {
	if c.cfg.Timeout > 0 {
		return c.cfg.Timeout
	}
	return DefaultFlushTimeout
}

// owes reports whether a hop's receipts are not all checked yet.
func (c *Chain) owes() bool {
	for _, h := range c.hops {
		if p := h.proof; p != nil && h.retired == nil && (p.owed != nil || p.verifying != nil) {
			return true
		}
	}
	return false
}

// flushNow flushes with the default bound when receipts are owed.
func (c *Chain) flushNow() {
	if !c.owes() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.flushTimeout())
	defer cancel()
	_ = c.Flush(ctx)
}
