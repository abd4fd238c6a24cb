package swarm_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// rewrite makes node n pass everything it sends through edit.
func (n *fnode) rewrite(edit func(m wire.Message) wire.Message) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.wrap = func(st swarm.Stream) swarm.Stream { return &frameRewriter{Stream: st, edit: edit} }
}

// withReceipt returns m with its receipt (of a ForwardResult or a
// ReceiptReply) replaced by edit(receipt's step, receipt).
func withReceipt(m wire.Message, edit func(step uint64, b []byte) []byte) wire.Message {
	var b []byte
	switch x := m.(type) {
	case *wire.ForwardResult:
		b = x.Receipt
	case *wire.ReceiptReply:
		b = x.Receipt
	}
	if b == nil {
		return m
	}
	r, err := proof.UnmarshalReceipt(b)
	if err != nil {
		return m
	}
	b = edit(r.Step, b)
	switch x := m.(type) {
	case *wire.ForwardResult:
		c := *x
		c.Receipt = b
		return &c
	case *wire.ReceiptReply:
		return &wire.ReceiptReply{Receipt: b}
	}
	return m
}

// TestReceiptsOneCallLate: with version 3 sessions every receipt comes
// with the next call's result; Proofs mid-generation fetches the last
// ones (one ReceiptRequest per node), the generation goes on without a
// false alarm, every receipt is audited and chains, and the final
// certificate verifies.
func TestReceiptsOneCallLate(t *testing.T) {
	want := reference(t, prompts[1])
	f := newFleet(t)
	a := f.add("A", 0, 3, 0, nodeKey(1), nil)
	b := f.add("B", 3, 6, 0, nodeKey(2), nil)
	var late, replies atomic.Int64
	for _, n := range []*fnode{a, b} {
		n.rewrite(func(m wire.Message) wire.Message {
			switch x := m.(type) {
			case *wire.ForwardResult:
				if r, err := proof.UnmarshalReceipt(x.Receipt); err == nil && r.Step+1 == x.Step {
					late.Add(1)
				}
			case *wire.ReceiptReply:
				replies.Add(1)
			}
			return m
		})
	}
	cfg := chainConfig()
	vk := verificationKey(t)
	cfg.Verify = &swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: proof.AuditConfig{Cells: 1}, Rand: detRand(3), KeepInputs: true}
	ch, err := swarm.NewChain(cfg, []swarm.Hop{a.hop(a.r), b.hop(b.r)})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	const mid = 10
	got, err := failoverRun(t, ch, prompts[1], map[int]func(){mid: func() {
		for i, p := range ch.Proofs() {
			if p.Fault != nil || len(p.Receipts) != mid {
				t.Errorf("hop %d before call %d: %d receipts, fault %v", i, mid, len(p.Receipts), p.Fault)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if i, j := sameBits(got.outs, want.outs); i >= 0 {
		t.Fatalf("hidden states differ at forward %d index %d", i, j)
	}
	calls := len(got.outs)
	var hops []proof.CertHop
	for i, p := range ch.Proofs() {
		if p.Fault != nil || len(p.Receipts) != calls || p.Audit.Audited != calls || p.Audit.Failed != 0 {
			t.Fatalf("hop %d: %d receipts of %d calls, audit %+v, fault %v", i, len(p.Receipts), calls, p.Audit, p.Fault)
		}
		hops = append(hops, p.CertHop())
	}
	// Every result but the first of each session carried the previous
	// call's receipt; the two flushes (mid-generation, end) fetched the
	// others.
	if n := late.Load(); n != int64(2*(calls-2)) {
		t.Errorf("%d results carried the previous call's receipt, want %d", n, 2*(calls-2))
	}
	if n := replies.Load(); n != 4 {
		t.Errorf("%d receipt replies, want 4", n)
	}
	cert := &proof.Certificate{Model: testCommit, PromptHash: proof.HashText(prompts[1]), OutputHash: proof.HashText(got.res.Text),
		PromptTokens: len(got.res.PromptTokens), OutputTokens: len(got.res.Tokens), Audited: ch.Audited(), VKID: vk.ID(), Hops: hops}
	cert.Sign(nodeKey(200))
	if err := proof.VerifyCertificate(cert); err != nil || !cert.Passed {
		t.Fatalf("certificate: %v, passed %v", err, cert.Passed)
	}
	job, err := ch.ReexecJob(1)
	if err != nil || len(job.Steps) != calls {
		t.Fatalf("re-execution job: %v", err)
	}
	if n := replies.Load(); n != 4 {
		t.Errorf("%d receipt replies after ReexecJob, want still 4", n)
	}
}

// TestReceiptFailures: a node that withholds a receipt, mid-session or
// at the end, or sends one whose signature fails or whose H(out) is not
// what it sent, is distrusted when the receipt is due; failover replaces
// it and the output stays the honest one, or, when the node had sent an
// output it did not sign, the generation stops.
func TestReceiptFailures(t *testing.T) {
	const bad = 6 // the step whose receipt the node spoils
	withhold := func(m wire.Message) wire.Message {
		if x, ok := m.(*wire.ForwardResult); ok && x.Step == bad+1 {
			c := *x
			c.Receipt = nil
			return &c
		}
		return m
	}
	withholdLast := func(m wire.Message) wire.Message {
		if _, ok := m.(*wire.ReceiptReply); ok {
			return &wire.ReceiptReply{}
		}
		return m
	}
	badSig := func(m wire.Message) wire.Message {
		return withReceipt(m, func(step uint64, b []byte) []byte {
			if step == bad {
				b = append([]byte(nil), b...)
				b[len(b)-1] ^= 1 // the signature's last byte
			}
			return b
		})
	}
	wrongOutput := func(m wire.Message) wire.Message {
		x, ok := m.(*wire.ForwardResult)
		if !ok || x.Step != bad {
			return m
		}
		out := make([]float32, x.N*testConfig.Dim)
		if err := wire.DecodeHidden(out, wire.DTypeF32, x.Payload, x.N, testConfig.Dim); err != nil {
			return m
		}
		out[0] += 0.5
		c := *x
		c.Payload, _ = wire.EncodeHidden(nil, wire.DTypeF32, out, x.N, testConfig.Dim)
		return &c
	}
	for _, tc := range []struct {
		name    string
		edit    func(wire.Message) wire.Message
		reroute bool
		fault   string // in the distrusted node's Fault
		stops   bool   // the generation fails
		kept    int    // receipts of the distrusted node kept (-1: all calls)
	}{
		{name: "withheld", edit: withhold, reroute: true, fault: "withheld the receipt of step 6", kept: bad},
		{name: "withheld without failover", edit: withhold, fault: "withheld the receipt of step 6", stops: true, kept: bad},
		{name: "last withheld", edit: withholdLast, reroute: true, fault: "withheld the receipt", kept: -2},
		{name: "last withheld without failover", edit: withholdLast, fault: "withheld the receipt", kept: -2},
		{name: "bad signature", edit: badSig, reroute: true, fault: "signature", kept: bad},
		{name: "output not the signed one", edit: wrongOutput, reroute: true, fault: "H(out)", stops: true, kept: bad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := reference(t, prompts[0])
			f := newFleet(t)
			a := f.add("A", 0, 3, 0, nodeKey(1), nil)
			b := f.add("B", 3, 6, 0, nodeKey(2), nil)
			f.add("D", 3, 6, 10*time.Millisecond, nodeKey(4), nil)
			b.rewrite(tc.edit)
			cfg := chainConfig()
			if tc.reroute {
				cfg.Reroute = f.reroute
			}
			cfg.Verify = &swarm.Verification{Keys: []*proof.VerificationKey{verificationKey(t)}, Rand: detRand(7)}
			ch, err := swarm.NewChain(cfg, []swarm.Hop{a.hop(a.r), b.hop(b.r)})
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			got, err := failoverRun(t, ch, prompts[0], nil)
			if tc.stops {
				if err == nil || !errors.Is(err, swarm.ErrDistrusted) {
					t.Fatalf("generation: %v, want it stopped by the distrusted node", err)
				}
				if tc.reroute && !strings.Contains(err.Error(), "differ") {
					t.Fatalf("generation: %v, want the replacement's outputs to differ", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if i, j := sameBits(got.outs, want.outs); i >= 0 {
					t.Fatalf("hidden states differ at forward %d index %d", i, j)
				}
			}
			flushErr := ch.Flush(context.Background())
			calls := len(want.outs)
			var distrusted *swarm.HopProof
			for _, p := range append(ch.Proofs(), ch.Retired()...) {
				if p.Peer == "B" {
					distrusted = &p
				}
			}
			if distrusted == nil || distrusted.Fault == nil || !strings.Contains(distrusted.Fault.Error(), tc.fault) {
				t.Fatalf("node B: %+v, want a fault about %q", distrusted, tc.fault)
			}
			kept := tc.kept
			if kept < 0 {
				kept += calls + 1
			}
			if len(distrusted.Receipts) != kept {
				t.Errorf("node B kept %d receipts, want %d", len(distrusted.Receipts), kept)
			}
			if tc.stops || !tc.reroute {
				if !tc.stops && (flushErr == nil || !errors.Is(flushErr, swarm.ErrDistrusted)) {
					t.Fatalf("flush: %v, want the node distrusted", flushErr)
				}
				return
			}
			if flushErr != nil {
				t.Fatal(flushErr)
			}
			// The replacement vouches for every call; the certificate,
			// with B retired, verifies.
			var hops, retired []proof.CertHop
			for i, p := range ch.Proofs() {
				if p.Fault != nil || len(p.Receipts) != calls {
					t.Fatalf("hop %d (%s): %d receipts of %d calls, fault %v", i, p.Peer, len(p.Receipts), calls, p.Fault)
				}
				hops = append(hops, p.CertHop())
			}
			for _, p := range ch.Retired() {
				retired = append(retired, p.CertHop())
			}
			if fos := ch.Failovers(); len(fos) != 1 || fos[0].Peer != "B" || fos[0].Replacement[0] != "D" {
				t.Fatalf("failovers %+v", fos)
			}
			cert := &proof.Certificate{Model: testCommit, PromptHash: proof.HashText(prompts[0]), OutputHash: proof.HashText(got.res.Text),
				PromptTokens: len(got.res.PromptTokens), OutputTokens: len(got.res.Tokens), Audited: ch.Audited(),
				VKID: verificationKey(t).ID(), Hops: hops, Retired: retired}
			cert.Sign(nodeKey(200))
			if err := proof.VerifyCertificate(cert); err != nil {
				t.Fatalf("certificate: %v", err)
			}
		})
	}
}

// TestFlushPastFailedNode: when the first node withholds its last
// receipt and there is no failover, Flush reports it and still fetches
// and checks the next node's, which stays trusted with every receipt.
func TestFlushPastFailedNode(t *testing.T) {
	f := newFleet(t)
	a := f.add("A", 0, 3, 0, nodeKey(1), nil)
	b := f.add("B", 3, 6, 0, nodeKey(2), nil)
	a.rewrite(func(m wire.Message) wire.Message {
		if _, ok := m.(*wire.ReceiptReply); ok {
			return &wire.ReceiptReply{}
		}
		return m
	})
	cfg := chainConfig()
	cfg.Verify = &swarm.Verification{Rand: detRand(8)}
	ch, err := swarm.NewChain(cfg, []swarm.Hop{a.hop(a.r), b.hop(b.r)})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	got, err := failoverRun(t, ch, prompts[2], nil)
	if err != nil {
		t.Fatal(err)
	}
	err = ch.Flush(context.Background())
	var he *swarm.HopError
	if !errors.As(err, &he) || he.Peer != "A" || !errors.Is(err, swarm.ErrDistrusted) {
		t.Fatalf("flush: %v, want node A distrusted", err)
	}
	ps := ch.Proofs()
	calls := len(got.outs)
	if ps[0].Fault == nil || len(ps[0].Receipts) != calls-1 {
		t.Errorf("node A: %d receipts, fault %v", len(ps[0].Receipts), ps[0].Fault)
	}
	if ps[1].Fault != nil || len(ps[1].Receipts) != calls {
		t.Errorf("node B: %d receipts of %d calls, fault %v", len(ps[1].Receipts), calls, ps[1].Fault)
	}
}
