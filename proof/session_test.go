package proof_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
)

// simNode is a node of one session, in process: it computes layers r,
// keeps traces and signs receipts as swarm.Server does.
type simNode struct {
	t       testing.TB
	m       *model.Model
	s       *model.Session
	store   proof.TraceStore
	key     ed25519.PrivateKey
	nonce   proof.Hash
	model   proof.Hash
	step    uint64
	prev    proof.Hash
	dtype   uint8
	tamper  func(step uint64, tr *model.Trace, out []float32) // a dishonest node's edits
	history []*proof.Receipt
}

func newSimNode(t testing.TB, fx *fixture, r model.Range, seed byte) *simNode {
	t.Helper()
	m, err := model.Load(fx.file, model.Options{Layers: r, Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession(fx.cfg.ContextLen)
	if err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(sha256.New().Sum([]byte{seed})[:32])
	return &simNode{t: t, m: m, s: s, key: key, nonce: sha256.Sum256([]byte{seed, 1}), model: fx.commit.Model, dtype: proof.DTypeF32}
}

func (n *simNode) forward(start int, hidden []float32, count int) *proof.Receipt {
	n.t.Helper()
	dim := n.m.Config.Dim
	in := proof.HiddenRoot(hidden, count, dim)
	tr := n.store.NewTrace(model.TraceBytes(n.m.Config, n.m.Range.Last-n.m.Range.First, count))
	if err := n.m.ForwardTrace(n.s, start, hidden, count, tr); err != nil {
		n.t.Fatal(err)
	}
	if n.tamper != nil {
		n.tamper(n.step, tr, hidden)
	}
	tc, err := n.store.Add(n.step, n.m.Config, tr)
	if err != nil {
		n.t.Fatal(err)
	}
	r := &proof.Receipt{DType: n.dtype, Session: n.nonce, Step: n.step, Start: start, N: count, Model: n.model,
		First: n.m.Range.First, Last: n.m.Range.Last, HIn: in, HOut: proof.HiddenRoot(hidden, count, dim),
		TraceRoot: tc.Root(), Prev: n.prev}
	r.Sign(n.key)
	n.prev = r.Hash()
	n.step++
	n.history = append(n.history, r)
	return r
}

// simClient drives a simNode through a generation-like sequence of calls
// and audits every receipt.
type simClient struct {
	fx      *fixture
	node    *simNode
	checker *proof.ReceiptChecker
	auditor *proof.Auditor
	frauds  []*proof.Fraud
	errs    []error

	clock                        func() time.Duration // cpuNow unless set
	workTime, verifyTime, l0Time time.Duration
	// l1Windows and the others count the timed windows of each kind, so
	// that the clock's own cost (readingCost, about one per window) can be
	// taken out of the figures.
	workWindows, l0Windows, l1Windows int
}

func newSimClient(t testing.TB, fx *fixture, node *simNode, cfg proof.AuditConfig, seed uint64) *simClient {
	t.Helper()
	r := node.m.Range
	a, err := proof.NewAuditor(fx.vk, r.First, r.Last, cfg, rand.New(rand.NewPCG(seed, 99)))
	if err != nil {
		t.Fatal(err)
	}
	return &simClient{fx: fx, node: node, auditor: a, checker: &proof.ReceiptChecker{
		Key: node.key.Public().(ed25519.PublicKey), Session: node.nonce, Model: fx.commit.Model,
		First: r.First, Last: r.Last, DType: proof.DTypeF32}}
}

// call sends hidden through the node, checks the receipt and audits.
func (c *simClient) call(t testing.TB, start int, hidden []float32, n int) {
	t.Helper()
	dim := c.fx.cfg.Dim
	t0 := c.now()
	in := append([]float32(nil), hidden...)
	inHash := proof.HiddenRoot(hidden, n, dim)
	t1 := c.now()
	r := c.node.forward(start, hidden, n)
	t2 := c.now()
	c.workTime += t2 - t1
	c.workWindows++
	c.l0Windows += 2 // t0–t1 and t2–(the L0 checks' end)
	c.l1Windows++    // from the L0 checks' end to the return
	defer func() { c.verifyTime += c.now() - t2 + t1 - t0 }()
	// The receipt travels encoded.
	r2, err := proof.UnmarshalReceipt(r.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.checker.Check(r2, start, n, inHash, proof.HiddenRoot(hidden, n, dim)); err != nil {
		c.errs = append(c.errs, err)
		return
	}
	c.l0Time += c.now() - t2 + t1 - t0
	refs := c.auditor.Observe(r2, in, append([]float32(nil), hidden...))
	if refs == nil {
		return
	}
	req, err := proof.UnmarshalRequest(proof.MarshalRequest(refs))
	if err != nil {
		t.Fatal(err)
	}
	t3 := c.now()
	ops, err := c.node.store.Open(req)
	wire := proof.MarshalOpenings(ops)
	t4 := c.now()
	c.verifyTime -= t4 - t3 // the node's time
	c.workTime += t4 - t3
	c.workWindows++
	c.l1Windows++ // the audit's time is now two windows
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	ops, err = proof.UnmarshalOpenings(wire)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.auditor.Check(ops); err != nil {
		var f *proof.Fraud
		if errors.As(err, &f) {
			c.frauds = append(c.frauds, f)
		} else {
			c.errs = append(c.errs, err)
		}
	}
}

// generate runs a prompt and decode steps (embedding fixed token ids).
func (c *simClient) generate(t testing.TB, prompt []int, decode int) {
	t.Helper()
	dim := c.fx.cfg.Dim
	h := make([]float32, len(prompt)*dim)
	if err := c.fx.all.Embed(h, prompt); err != nil {
		t.Fatal(err)
	}
	c.call(t, 0, h, len(prompt))
	for i := 0; i < decode; i++ {
		tok := []int{(prompt[len(prompt)-1]*31 + i*17 + 3) % c.fx.cfg.Vocab}
		h := make([]float32, dim)
		if err := c.fx.all.Embed(h, tok); err != nil {
			t.Fatal(err)
		}
		c.call(t, len(prompt)+i, h, 1)
	}
}

func TestSessionHonestAllCells(t *testing.T) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	node := newSimNode(t, fx, model.Range{First: 2, Last: 5}, 1)
	c := newSimClient(t, fx, node, proof.AuditConfig{Cells: 1000}, 1)
	c.generate(t, []int{1, 450, 32, 9, 77, 1000}, 12)
	if len(c.errs) > 0 || len(c.frauds) > 0 {
		t.Fatalf("honest session: errors %v, frauds %v", c.errs, c.frauds)
	}
	st := c.auditor.Stats()
	if st.Cells != (6+12)*3 || st.Receipts != 13 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("stats: %+v", st)
}

func TestSessionDefaultBudget(t *testing.T) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	var total proof.AuditStats
	for s := 0; s < 20; s++ {
		node := newSimNode(t, fx, model.Range{First: 0, Last: 3}, byte(s))
		c := newSimClient(t, fx, node, proof.AuditConfig{}, uint64(s))
		c.generate(t, []int{1, 450, 32, 9, 77, 1000, 5, 6}, 24)
		if len(c.errs) > 0 || len(c.frauds) > 0 {
			t.Fatalf("honest session: errors %v, frauds %v", c.errs, c.frauds)
		}
		total.Add(c.auditor.Stats())
	}
	t.Logf("default budget: %d receipts, %d audited, %d cells, %d kv openings, cost/work %.4f", total.Receipts, total.Audited, total.Cells, total.KVOpenings, total.Cost/total.Work)
}

func (c *simClient) now() time.Duration {
	if c.clock != nil {
		return c.clock()
	}
	return cpuNow()
}

// readingCost measures what one reading of clock costs on clock itself
// (about 1.5–1.8 µs for cpuNow here: a system call, slow in this VM; tens
// of nanoseconds for wallNow). Each timed window pays about one reading
// (half of the one at either end), which for cpuNow is 1 % of a kjv-tiny
// decode step: the figures subtract it.
func readingCost(clock func() time.Duration) time.Duration {
	const n = 20000
	t0 := clock()
	for i := 0; i < n; i++ {
		clock()
	}
	return (clock() - t0) / n
}

// wallNow is the monotonic wall clock (a vDSO read, no system call). With
// GOMAXPROCS 1 and one kernel thread, client and node run one at a time,
// so a window's wall time is its CPU time plus whatever preemption by
// other processes lands in it, which falls on both sides in proportion
// to their time.
func wallNow() time.Duration { return time.Duration(time.Now().UnixNano()) }

// cpuNow is the process's CPU time (user + system): unlike the wall clock
// it does not count other processes sharing the machine.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
