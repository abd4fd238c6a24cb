package proof_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/quant"
)

func TestReceiptChecker(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	other := ed25519.NewKeyFromSeed(append(make([]byte, 31), 1))
	sess := sha256.Sum256([]byte("s"))
	model := sha256.Sum256([]byte("m"))
	in, out := sha256.Sum256([]byte("in")), sha256.Sum256([]byte("out"))
	mk := func(step uint64, prev proof.Hash) *proof.Receipt {
		r := &proof.Receipt{DType: proof.DTypeF32, Session: sess, Step: step, Start: int(step), N: 1, Model: model,
			First: 2, Last: 4, HIn: in, HOut: out, Prev: prev}
		r.Sign(key)
		return r
	}
	newChecker := func() *proof.ReceiptChecker {
		return &proof.ReceiptChecker{Key: key.Public().(ed25519.PublicKey), Session: sess, Model: model, First: 2, Last: 4, DType: proof.DTypeF32}
	}
	c := newChecker()
	r0 := mk(0, proof.Hash{})
	r1 := mk(1, r0.Hash())
	if err := c.Check(r0, 0, 1, in, out); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(r1, 1, 1, in, out); err != nil {
		t.Fatal(err)
	}
	if err := proof.CheckSequence(key.Public().(ed25519.PublicKey), c.Receipts()); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func() (*proof.Receipt, int, proof.Hash, proof.Hash){
		"replay":          func() (*proof.Receipt, int, proof.Hash, proof.Hash) { return r1, 1, in, out },
		"skipped step":    func() (*proof.Receipt, int, proof.Hash, proof.Hash) { return mk(3, r1.Hash()), 3, in, out },
		"broken chain":    func() (*proof.Receipt, int, proof.Hash, proof.Hash) { return mk(2, r0.Hash()), 2, in, out },
		"other input":     func() (*proof.Receipt, int, proof.Hash, proof.Hash) { return mk(2, r1.Hash()), 2, out, out },
		"other output":    func() (*proof.Receipt, int, proof.Hash, proof.Hash) { return mk(2, r1.Hash()), 2, in, in },
		"other positions": func() (*proof.Receipt, int, proof.Hash, proof.Hash) { return mk(2, r1.Hash()), 5, in, out },
		"other key": func() (*proof.Receipt, int, proof.Hash, proof.Hash) {
			r := mk(2, r1.Hash())
			r.Sign(other)
			return r, 2, in, out
		},
		"forged signature": func() (*proof.Receipt, int, proof.Hash, proof.Hash) {
			r := mk(2, r1.Hash())
			r.Sig[5] ^= 1
			return r, 2, in, out
		},
		"edited after signing": func() (*proof.Receipt, int, proof.Hash, proof.Hash) {
			r := mk(2, r1.Hash())
			r.TraceRoot[0] ^= 1
			return r, 2, in, out
		},
		"other session": func() (*proof.Receipt, int, proof.Hash, proof.Hash) {
			r := mk(2, r1.Hash())
			r.Session[0] ^= 1
			r.Sign(key)
			return r, 2, in, out
		},
		"other model": func() (*proof.Receipt, int, proof.Hash, proof.Hash) {
			r := mk(2, r1.Hash())
			r.Model[0] ^= 1
			r.Sign(key)
			return r, 2, in, out
		},
		"other layers": func() (*proof.Receipt, int, proof.Hash, proof.Hash) {
			r := mk(2, r1.Hash())
			r.Last = 5
			r.Sign(key)
			return r, 2, in, out
		},
		"other dtype": func() (*proof.Receipt, int, proof.Hash, proof.Hash) {
			r := mk(2, r1.Hash())
			r.DType = proof.DTypeF16
			r.Sign(key)
			return r, 2, in, out
		},
	}
	for name, f := range bad {
		r, start, hin, hout := f()
		cc := newChecker()
		_ = cc.Check(r0, 0, 1, in, out)
		_ = cc.Check(r1, 1, 1, in, out)
		if err := cc.Check(r, start, 1, hin, hout); !errors.Is(err, proof.ErrBadReceipt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := proof.CheckSequence(key.Public().(ed25519.PublicKey), []*proof.Receipt{r1, r0}); err == nil {
		t.Error("out of order sequence passed")
	}
}

// TestTraceStore: full traces leave the window, keys and values of live
// positions stay, recomputed positions are gone, and what is served
// verifies against the receipts' roots.
func TestTraceStore(t *testing.T) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	node := newSimNode(t, fx, model.Range{First: 1, Last: 3}, 3)
	node.store.Window = 3
	c := newSimClient(t, fx, node, proof.AuditConfig{Cells: 2}, 3)
	c.generate(t, []int{1, 2, 3, 4}, 6) // steps 0 (positions 0..3) .. 6
	if len(c.errs)+len(c.frauds) > 0 {
		t.Fatal(c.errs, c.frauds)
	}
	if steps, _ := node.store.Retained(); steps != 3 {
		t.Fatalf("%d full traces retained, window 3", steps)
	}
	open := func(ref proof.CellRef) error {
		ops, err := node.store.Open([]proof.CellRef{ref})
		if err != nil {
			return err
		}
		return proof.VerifyOpening(fx.cfg, node.history[ref.Step], ops[0])
	}
	if err := open(proof.CellRef{Step: 0, Layer: 2, Pos: 1, Mask: proof.MaskAll}); !errors.Is(err, proof.ErrGone) {
		t.Fatalf("full cell of an old step: %v", err)
	}
	if err := open(proof.CellRef{Step: 0, Layer: 2, Pos: 1, Mask: proof.MaskKV}); err != nil {
		t.Fatalf("keys and values of an old step: %v", err)
	}
	if err := open(proof.CellRef{Step: 6, Layer: 1, Pos: 9, Mask: proof.MaskAll}); err != nil {
		t.Fatalf("latest cell: %v", err)
	}
	if err := open(proof.CellRef{Step: 6, Layer: 3, Pos: 9, Mask: proof.MaskAll}); err == nil || errors.Is(err, proof.ErrGone) {
		t.Fatalf("cell outside the range: %v", err)
	}
	// Rewind: positions 2.. are recomputed by step 7.
	h := make([]float32, 2*fx.cfg.Dim)
	_ = fx.all.Embed(h, []int{9, 10})
	node.forward(2, h, 2)
	if err := open(proof.CellRef{Step: 0, Layer: 2, Pos: 3, Mask: proof.MaskKV}); !errors.Is(err, proof.ErrGone) {
		t.Fatalf("keys of a recomputed position: %v", err)
	}
	if err := open(proof.CellRef{Step: 0, Layer: 2, Pos: 1, Mask: proof.MaskKV}); err != nil {
		t.Fatalf("keys of a position kept: %v", err)
	}
	if err := open(proof.CellRef{Step: 7, Layer: 2, Pos: 3, Mask: proof.MaskKV}); err != nil {
		t.Fatalf("keys of the recomputation: %v", err)
	}
}

func TestVKFile(t *testing.T) {
	fx := synthetic(t, "qwen2", quant.Q8_0)
	b := fx.vk.Marshal()
	vk, err := proof.UnmarshalVK(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(vk.Marshal()) != string(b) || vk.ID() != fx.vk.ID() {
		t.Fatal("key does not round-trip")
	}
	for i := range vk.Layers {
		for m := 0; m < proof.NumMats; m++ {
			if got, want := vk.R(vk.Layers[i].Layer, m, 1), fx.vk.R(vk.Layers[i].Layer, m, 1); string(f32b(got)) != string(f32b(want)) {
				t.Fatal("r is not derived identically")
			}
			for _, v := range vk.R(vk.Layers[i].Layer, m, 0) {
				if a := math.Abs(float64(v)); a < 1 || a >= 2 {
					t.Fatalf("r entry %v outside ±[1, 2)", v)
				}
			}
		}
	}
	if fx.vk.Layers[0].Mats[proof.MatQ].RB[0] == 0 {
		t.Fatal("qwen2 key holds no bias term")
	}
	cases := map[string]func([]byte) []byte{
		"truncated":   func(b []byte) []byte { return b[:len(b)-1] },
		"flipped bit": func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
		"bad magic":   func(b []byte) []byte { b[0] = 'x'; return b },
		"version 2":   func(b []byte) []byte { b[12] = 2; return b },
		"other model": func(b []byte) []byte { b[16] ^= 1; return reseal(b) },
		"empty":       func(b []byte) []byte { return nil },
	}
	for name, f := range cases {
		if _, err := proof.UnmarshalVK(f(append([]byte(nil), b...))); !errors.Is(err, proof.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func f32b(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		u := math.Float32bits(x)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

// reseal recomputes a key file's checksum after an edit.
func reseal(b []byte) []byte {
	sum := sha256.Sum256(b[:len(b)-32])
	copy(b[len(b)-32:], sum[:])
	return b
}

// TestTamperedCells: a change of one element of any vector of a cell, of
// 1% of the vector's largest value, makes the right equation fail.
func TestTamperedCells(t *testing.T) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	r := model.Range{First: 1, Last: 3}
	calls := runTraced(t, fx, r, []int{1, 40, 77, 120}, 2)
	want := map[int][]int{
		proof.VecH: {proof.EqInput, proof.EqX1}, proof.VecX1: {proof.EqX1}, proof.VecQ: {proof.EqQ},
		proof.VecK: {proof.EqK}, proof.VecV: {proof.EqV}, proof.VecAtt: {proof.EqAttention},
		proof.VecO: {proof.EqO}, proof.VecX2: {proof.EqX2}, proof.VecGate: {proof.EqGate},
		proof.VecUp: {proof.EqUp}, proof.VecDown: {proof.EqDown},
	}
	for vec := 0; vec < proof.NumVecs; vec++ {
		for _, layer := range []int{1, 2} {
			d := cellData(t, fx, r, calls, 1, layer, 4)
			v := append([]float32(nil), d.Cell.Vecs[vec]...)
			var mx float32
			for _, x := range v {
				mx = max(mx, float32(math.Abs(float64(x))))
			}
			v[len(v)/3] += 1e-2 * mx
			d.Cell.Vecs[vec] = v
			_, f, err := proof.CheckCell(fx.vk, proof.DefaultTolerances, d)
			if err != nil {
				t.Fatal(err)
			}
			if f == nil {
				t.Fatalf("layer %d: a change of %s passed", layer, proof.VecName(vec))
			}
			ok := false
			for _, eq := range want[vec] {
				ok = ok || f.Equation == eq
			}
			if !ok {
				t.Errorf("layer %d: a change of %s failed %s", layer, proof.VecName(vec), proof.EqName(f.Equation))
			}
		}
	}
}

// TestEvidence: evidence of an honest cell is not proven; evidence whose
// openings were edited is rejected; a node whose weights differ is
// convicted by re-checking with the honest weights.
func TestEvidence(t *testing.T) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	w, err := proof.NewWeights(fx.file, fx.commit, testPool)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// A dishonest node: Down of layer 2 scaled at every position.
	node := newSimNode(t, fx, model.Range{First: 1, Last: 3}, 4)
	node.tamper = func(step uint64, tr *model.Trace, out []float32) {
		dim := fx.cfg.Dim
		for p := tr.Start; p < tr.Start+tr.N; p++ {
			c, _ := tr.Cell(2, p)
			for i := range c.Down {
				c.Down[i] *= 1.01
				out[(p-tr.Start)*dim+i] = (c.H[i] + c.O[i]) + c.Down[i]
			}
		}
	}
	c := newSimClient(t, fx, node, proof.AuditConfig{Cells: 100}, 4)
	c.generate(t, []int{1, 2, 3}, 1)
	if len(c.frauds) == 0 {
		t.Fatal("fraud not found")
	}
	ev := c.frauds[0].Evidence
	f, err := proof.CheckEvidence(ev, w, proof.Tolerances{})
	if err != nil || f.Equation != proof.EqDown {
		t.Fatalf("evidence: %v %v", f, err)
	}
	// Edited evidence.
	back, _ := proof.UnmarshalEvidence(ev.Marshal())
	back.Openings[0].Vecs[proof.VecDown][0] += 1
	if _, err := proof.CheckEvidence(back, w, proof.Tolerances{}); err == nil || !strings.Contains(err.Error(), "trace root") {
		t.Fatalf("edited evidence: %v", err)
	}
	back, _ = proof.UnmarshalEvidence(ev.Marshal())
	back.Finding.Equation = proof.EqQ
	if _, err := proof.CheckEvidence(back, w, proof.Tolerances{}); !errors.Is(err, proof.ErrNotProven) {
		t.Fatalf("evidence pointing at an equation that holds: %v", err)
	}
	// Evidence against an honest node proves nothing.
	honest := newSimNode(t, fx, model.Range{First: 1, Last: 3}, 5)
	hc := newSimClient(t, fx, honest, proof.AuditConfig{Cells: 100}, 5)
	hc.generate(t, []int{1, 2, 3}, 1)
	fake := *ev
	fake.Receipts = honest.history[:1]
	ops, _ := honest.store.Open([]proof.CellRef{{Step: 0, Layer: 2, Pos: ev.Finding.Pos, Mask: proof.MaskAll}})
	fake.Openings = ops
	if _, err := proof.CheckEvidence(&fake, w, proof.Tolerances{}); !errors.Is(err, proof.ErrNotProven) {
		t.Fatalf("evidence against an honest node: %v", err)
	}
}

// TestReexecute: re-execution matches an honest node bit for bit and
// convicts one whose output differs.
func TestReexecute(t *testing.T) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	r := model.Range{First: 0, Last: 2}
	w, err := proof.NewWeights(fx.file, fx.commit, testPool)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, dishonest := range []bool{false, true} {
		node := newSimNode(t, fx, r, 6)
		if dishonest {
			node.tamper = func(step uint64, tr *model.Trace, out []float32) {
				if step == 2 {
					out[3] += 1e-6
				}
			}
		}
		steps := reexecJob(t, fx, node).Steps
		m, err := w.Model(r)
		if err != nil {
			t.Fatal(err)
		}
		res, ev, err := proof.Reexecute(m, steps)
		if err != nil {
			t.Fatal(err)
		}
		if !dishonest {
			if !res.OK() || ev != nil {
				t.Fatalf("honest re-execution: %+v", res)
			}
			continue
		}
		if res.Mismatch != 2 || ev == nil || res.RelDev == 0 {
			t.Fatalf("dishonest re-execution: %+v", res)
		}
		back, err := proof.UnmarshalEvidence(ev.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if f, err := proof.CheckEvidence(back, w, proof.Tolerances{}); err != nil || f.Equation != proof.EqReexec {
			t.Fatalf("re-execution evidence: %v %v", f, err)
		}
	}
}

func TestCertificateChecks(t *testing.T) {
	good := sampleCertificate()
	if err := proof.VerifyCertificate(good); err != nil || !good.Passed {
		t.Fatalf("%v %v", err, good.Passed)
	}
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	edits := map[string]func(c *proof.Certificate){
		"edited after signing":    func(c *proof.Certificate) { c.OutputTokens++ },
		"receipt of other model":  func(c *proof.Certificate) { c.Model[0] ^= 1; c.Sign(key) },
		"gap in layers":           func(c *proof.Certificate) { c.Hops[1].First = 3; c.Sign(key) },
		"unaudited with a key id": func(c *proof.Certificate) { c.VKID[0] = 1; c.Sign(key) },
		"wrong passed flag": func(c *proof.Certificate) {
			c.Sign(key)
			c.Passed = false
			c.Sig = ed25519.Sign(key, c.SignedMessage())
		},
	}
	for name, edit := range edits {
		c, _ := proof.UnmarshalCertificate(good.Marshal())
		edit(c)
		if err := proof.VerifyCertificate(c); !errors.Is(err, proof.ErrCertificate) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A failed audit, or receipts missing, are authentic but not passed.
	for _, edit := range []func(c *proof.Certificate){
		func(c *proof.Certificate) { c.Hops[1].Audit.Failed = 1 },
		func(c *proof.Certificate) { c.Hops[1].Receipts = nil },
	} {
		c, _ := proof.UnmarshalCertificate(good.Marshal())
		edit(c)
		c.Sign(key)
		if err := proof.VerifyCertificate(c); err != nil || c.Passed {
			t.Fatalf("failed audit: %v, passed %v", err, c.Passed)
		}
	}
}

// A trace's commitment does not depend on how its hashing is split: on
// goroutines, serially, on kernel pools of any size, or index by index in
// reverse order. A changed value changes it.
func TestCommitTraceSplitInvariant(t *testing.T) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	calls := runTraced(t, fx, model.Range{First: 1, Last: 4}, []int{5, 9, 14, 2, 77}, 3)
	pool2, pool3 := kernels.NewPool(2), kernels.NewPool(3)
	defer pool2.Close()
	defer pool3.Close()
	splits := map[string]proof.Parallel{
		"serial":    func(n, _ int, f func(lo, hi int)) { f(0, n) },
		"pool of 2": pool2.Parallel,
		"pool of 3": pool3.Parallel,
		"one by one, backwards": func(n, _ int, f func(lo, hi int)) {
			for i := n - 1; i >= 0; i-- {
				f(i, i+1)
			}
		},
	}
	for ci, cl := range calls {
		want, err := proof.CommitTrace(cl.trace)
		if err != nil {
			t.Fatal(err)
		}
		for name, par := range splits {
			got, err := proof.CommitTraceOn(cl.trace, par)
			if err != nil {
				t.Fatal(err)
			}
			if got.Root() != want.Root() || !slices.Equal(got.Hashes, want.Hashes) {
				t.Fatalf("call %d (%d positions): %s commits to another root", ci, cl.n, name)
			}
		}
		c, _ := cl.trace.Cell(2, cl.start)
		c.Up[len(c.Up)-1] = math.Nextafter32(c.Up[len(c.Up)-1], float32(math.Inf(1)))
		moved, err := proof.CommitTraceOn(cl.trace, pool2.Parallel)
		if err != nil {
			t.Fatal(err)
		}
		if moved.Root() == want.Root() {
			t.Fatalf("call %d: one ulp in a cell's up vector left the root unchanged", ci)
		}
	}
}

// TestTraceRecycling: a session that records into buffers another
// session released commits to exactly what fresh buffers give, its
// openings verify, and the buffers did come from the pool.
func TestTraceRecycling(t *testing.T) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	r := model.Range{First: 1, Last: 4}
	pool := &proof.TracePool{}

	// An earlier session fills the pool with dirty buffers: another
	// prompt, longer than what follows (prefill buffers larger).
	dirty := newSimNode(t, fx, r, 4)
	dirty.store.Window, dirty.store.Recycle = 2, pool
	dc := newSimClient(t, fx, dirty, proof.AuditConfig{Cells: 1}, 4)
	dc.generate(t, []int{7, 8, 9, 10, 11, 12}, 8)
	dirty.store.Release()
	kept, _ := pool.Kept()
	if kept == 0 {
		t.Fatal("a released session left no buffers in the pool")
	}

	fresh := newSimNode(t, fx, r, 5)
	recycled := newSimNode(t, fx, r, 5)
	recycled.store.Recycle = pool
	for _, n := range []*simNode{fresh, recycled} {
		c := newSimClient(t, fx, n, proof.AuditConfig{Cells: 3}, 5)
		c.generate(t, []int{1, 2, 3}, 6)
		if len(c.errs)+len(c.frauds) > 0 {
			t.Fatal(c.errs, c.frauds)
		}
	}
	if len(fresh.history) != len(recycled.history) || len(fresh.history) == 0 {
		t.Fatalf("%d and %d receipts", len(fresh.history), len(recycled.history))
	}
	for i := range fresh.history {
		if fresh.history[i].TraceRoot != recycled.history[i].TraceRoot {
			t.Fatalf("step %d: the trace root from recycled buffers differs", i)
		}
	}
	if after, _ := pool.Kept(); after >= kept {
		t.Errorf("the pool kept %d buffers before the session and %d after: none reused", kept, after)
	}
}

// TestTracePool: Get hands out the smallest buffer that fits (else the
// largest), Put respects the byte bound, and a nil pool keeps nothing.
func TestTracePool(t *testing.T) {
	fx := kjv(t, "kjv-tiny-q8_0.gguf")
	m, err := model.Load(fx.file, model.Options{Layers: model.Range{First: 0, Last: 1}, Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	sized := func(n int) *model.Trace { // a trace of n positions of one layer
		s, err := m.NewSession(n)
		if err != nil {
			t.Fatal(err)
		}
		h := make([]float32, n*fx.cfg.Dim)
		tr := new(model.Trace)
		if err := m.ForwardTrace(s, 0, h, n, tr); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	one := model.TraceBytes(fx.cfg, 1, 1)
	small, mid, big := sized(1), sized(4), sized(16)
	pool := &proof.TracePool{MaxBytes: 21 * one}
	for _, tr := range []*model.Trace{big, small, mid} {
		pool.Put(tr)
	}
	if n, b := pool.Kept(); n != 3 || b != 21*one {
		t.Fatalf("kept %d buffers of %d bytes, want 3 of %d", n, b, 21*one)
	}
	pool.Put(sized(1)) // over the bound
	if n, _ := pool.Kept(); n != 3 {
		t.Fatalf("kept %d buffers past the bound", n)
	}
	cases := []struct {
		need int64
		want *model.Trace
	}{
		{2 * one, mid},   // smallest that fits
		{100 * one, big}, // none fits: the largest
		{one, small},     // exact fit
		{one, nil},       // empty: a new one
	}
	for i, c := range cases {
		got := pool.Get(c.need)
		if c.want == nil {
			if got == nil || got == small || got == mid || got == big {
				t.Errorf("case %d: got a kept buffer from an empty pool", i)
			}
			continue
		}
		if got != c.want {
			t.Errorf("case %d: need %d bytes: got a buffer of %d", i, c.need, got.Capacity())
		}
	}
	var none *proof.TracePool
	none.Put(big)
	if tr := none.Get(one); tr == nil || tr == big {
		t.Error("a nil pool kept a buffer")
	}
}
