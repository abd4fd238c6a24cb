package swarm

import (
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/wire"
)

// receiptJob commits one forward call's trace and signs its receipt. In
// sessions of wire.Version 3 it runs after the call's result was sent,
// while the client works on the next call (the stream's goroutine would
// otherwise wait for it), so that hashing the trace (tens of kilobytes per
// layer and position) and the Ed25519 signature are off the path between
// computing an output and sending it; the receipt goes out with the next
// result or on a ReceiptRequest. A session owes at most one receipt
// (conn.job). The job runs on the stream's goroutine rather than its own:
// a goroutine of its own would compete for the cores with the next
// call's computation, and on a busy machine wait for a core for longer
// than the client takes.
type receiptJob struct {
	// Set before the job runs; in and out are the call's input as decoded
	// and its output.
	step     uint64
	start, n int
	in, out  []float32
	tr       *model.Trace
	prev     proof.Hash // hash of the session's previous receipt, set by start

	// Results.
	tc      *proof.TraceCommitment
	receipt []byte
	hash    proof.Hash
	err     error

	collected bool // the store holds the trace and conn.prev the hash
	delivered bool // the receipt went out to the client
}

// run commits the trace and signs the receipt.
func (c *conn) run(j *receiptJob) {
	mod := c.model // receipts name the session's layers
	dim := mod.Config.Dim
	par := c.store.Parallel
	if c.deferred && j.n == 1 {
		// A decode step's trace, hashed while the client works on the
		// next call: leave the other cores to the other parties (on one
		// machine, the next node). A prefill's is large and the next
		// call waits for it: it takes them all.
		par = proof.Serial
	}
	if j.tc, j.err = proof.CommitTraceOn(j.tr, par); j.err != nil {
		return
	}
	out := j.out
	if c.dtype == wire.DTypeF16 {
		// H(out) is over the values as the client decodes them.
		for i, v := range out {
			out[i] = proof.RoundDType(v, proof.DTypeF16)
		}
	}
	r := &proof.Receipt{
		DType: uint8(c.dtype), Session: c.nonce, Step: j.step, Start: j.start, N: j.n,
		Model: c.srv.ModelCommit, First: mod.Range.First, Last: mod.Range.Last,
		HIn: proof.HiddenRoot(j.in, j.n, dim), HOut: proof.HiddenRoot(out, j.n, dim), TraceRoot: j.tc.Root(), Prev: j.prev,
	}
	r.Sign(c.srv.Key)
	j.receipt = r.Marshal()
	j.hash = r.Hash()
}

// nextJob returns a job for the call about to be computed, with its input
// copied in: the one of the conn's two jobs that is not the job owed
// (the other was collected before the job owed started).
func (c *conn) nextJob(step uint64, start, n int, in []float32) *receiptJob {
	j := &c.jobs[0]
	if c.job == j {
		j = &c.jobs[1]
	}
	c.store.Recycle.Put(j.tr) // recorded by a call that failed, never kept
	need := model.TraceBytes(c.srv.Model.Config, c.model.Range.Last-c.model.Range.First, n)
	*j = receiptJob{step: step, start: start, n: n,
		in: append(j.in[:0], in...), out: j.out[:0], tr: c.store.NewTrace(need)}
	return j
}

// collect waits for the job owed, if any, keeps its trace for openings
// and returns its receipt unless it was delivered already.
func (c *conn) collect() ([]byte, error) {
	j := c.job
	if j == nil {
		return nil, nil
	}
	if !j.collected {
		if j.err != nil {
			return nil, j.err
		}
		if err := c.store.Keep(j.step, c.model.Config, j.tr, j.tc); err != nil {
			return nil, err
		}
		j.tr, j.tc = nil, nil
		c.prev = j.hash
		j.collected = true
	}
	if j.delivered {
		return nil, nil
	}
	j.delivered = true
	return j.receipt, nil
}

// start runs job j for the call just answered, whose output is out. The
// previous job must have been collected (its hash is the receipt's Prev).
func (c *conn) start(j *receiptJob, out []float32) {
	j.out = append(j.out[:0], out...)
	j.prev = c.prev
	c.job = j
	c.run(j)
}

// answerReceipt answers a ReceiptRequest with the receipt owed.
func (c *conn) answerReceipt(m *wire.ReceiptRequest) (*wire.Error, *wire.ReceiptReply) {
	if m.SessionID != c.id {
		return wire.NewError(wire.CodeBadRequest, "session id mismatch in ReceiptRequest"), nil
	}
	if !c.signing {
		return wire.NewError(wire.CodeBadRequest, "this session has no receipts (open it with a nonce on a node that signs)"), nil
	}
	r, err := c.collect()
	if err != nil {
		return wire.NewError(wire.CodeInternal, err.Error()), nil
	}
	return nil, &wire.ReceiptReply{Receipt: r}
}
