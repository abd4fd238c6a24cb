package swarm_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

var (
	vkOnce sync.Once
	testVK *proof.VerificationKey
	vkErr  error
)

// verificationKey is a key over every layer of the test model.
func verificationKey(t testing.TB) *proof.VerificationKey {
	t.Helper()
	vkOnce.Do(func() {
		testVK, vkErr = proof.GenerateVK(testFile, testCommits, model.Range{First: 0, Last: testConfig.Layers},
			sha256.Sum256([]byte("swarm test vk")), proof.VKOptions{Workers: 2})
	})
	if vkErr != nil {
		t.Fatal(vkErr)
	}
	return testVK
}

func nodeKey(seed byte) ed25519.PrivateKey {
	s := sha256.Sum256([]byte{'k', seed})
	return ed25519.NewKeyFromSeed(s[:])
}

// detRand is a deterministic randomness source for nonces and audits.
func detRand(seed uint64) io.Reader {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return rand.NewChaCha8(s)
}

// adversary turns an honest node into a dishonest one, in test code only:
// server edits the Server (weights, Forward hook, key); wrap rewrites what
// the node writes on its stream.
type adversary struct {
	name   string
	server func(t testing.TB, srv *swarm.Server)
	wrap   func(st swarm.Stream) swarm.Stream
}

// verifiedNode is a signing node serving layers r through adv.
func verifiedNode(t testing.TB, r model.Range, seed byte, adv *adversary) (*node, swarm.Opener, ed25519.PublicKey) {
	t.Helper()
	srv := &swarm.Server{Model: layers(t, r.First, r.Last), ModelCommit: testCommit, Key: nodeKey(seed), MaxSessions: 64}
	announced := srv.NodeKey()
	if adv != nil && adv.server != nil {
		adv.server(t, srv)
	}
	n := newNode(t, srv)
	open := func(ctx context.Context) (swarm.Stream, error) {
		a, b := net.Pipe()
		var st swarm.Stream = b
		if adv != nil && adv.wrap != nil {
			st = adv.wrap(b)
		}
		n.serve(st)
		return a, nil
	}
	return n, open, announced
}

// verifiedChain is a chain over ranges whose hop bad (-1: none) is
// played by adv.
func verifiedChain(t testing.TB, ranges [][2]int, local int, bad int, adv *adversary, v *swarm.Verification, dt wire.DType) *swarm.Chain {
	t.Helper()
	var hops []swarm.Hop
	for i, r := range ranges {
		rg := model.Range{First: r[0], Last: r[1]}
		if i < local {
			hops = append(hops, swarm.LocalHop(layers(t, r[0], r[1])))
			continue
		}
		var a *adversary
		if i == bad {
			a = adv
		}
		_, open, key := verifiedNode(t, rg, byte(i), a)
		h := swarm.RemoteHop("node"+string(rune('A'+i)), rg, open)
		h.PubKey = key
		hops = append(hops, h)
	}
	ch, err := swarm.NewChain(swarm.ChainConfig{Model: testConfig, ModelCommit: testCommit, Verify: v, DType: dt}, hops)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func genRun(ctx context.Context, layers generate.Layers, prompt string, tokens int) (generate.Result, error) {
	c := generate.Client{Model: client, Tokenizer: testTok}
	return c.Run(ctx, layers, generate.Request{Prompt: prompt, MaxTokens: tokens, IgnoreEOS: true}, nil)
}

// TestVerifiedChainHonest: with receipts and audits of every cell, honest
// chains of every shape produce the same tokens as one process, no check
// fails, every receipt is accounted for, and the signed certificate
// verifies offline.
func TestVerifiedChainHonest(t *testing.T) {
	vk := verificationKey(t)
	cases := []struct {
		name   string
		ranges [][2]int
		local  int
		dt     wire.DType
	}{
		{"1 node", [][2]int{{0, 6}}, 0, wire.DTypeF32},
		{"3 nodes", [][2]int{{0, 2}, {2, 4}, {4, 6}}, 0, wire.DTypeF32},
		{"local then 2 nodes", [][2]int{{0, 2}, {2, 4}, {4, 6}}, 1, wire.DTypeF32},
		{"2 nodes f16", [][2]int{{0, 3}, {3, 6}}, 0, wire.DTypeF16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := &swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: proof.AuditConfig{Cells: 4}, Rand: detRand(1), KeepInputs: true}
			ch := verifiedChain(t, tc.ranges, tc.local, -1, nil, v, tc.dt)
			defer ch.Close()
			res, err := genRun(context.Background(), ch, prompts[0], 12)
			if err != nil {
				t.Fatal(err)
			}
			if tc.dt == wire.DTypeF32 {
				if want := reference(t, prompts[0]); !equalInts(res.Tokens, want.res.Tokens[:12]) {
					t.Fatalf("tokens %v, want %v", res.Tokens, want.res.Tokens[:12])
				}
			}
			if !ch.Audited() {
				t.Fatal("chain not audited")
			}
			var hops []proof.CertHop
			for i, p := range ch.Proofs() {
				if p.Fault != nil {
					t.Fatalf("hop %d: %v", i, p.Fault)
				}
				if !p.Local {
					if len(p.Receipts) != 12 || p.Audit.Cells == 0 || p.Audit.Failed != 0 || p.Audit.Refused != 0 {
						t.Fatalf("hop %d: %d receipts, audit %+v", i, len(p.Receipts), p.Audit)
					}
					res, ev, err := ch.Reexecute(i, layers(t, p.Range.First, p.Range.Last))
					if err != nil || ev != nil || !res.OK() || res.Steps != 12 {
						t.Fatalf("re-execution of hop %d: %+v %v %v", i, res, ev, err)
					}
				}
				hops = append(hops, ch.Proofs()[i].CertHop())
			}
			cert := &proof.Certificate{Model: testCommit, PromptHash: proof.HashText(prompts[0]), OutputHash: proof.HashText(res.Text),
				PromptTokens: len(res.PromptTokens), OutputTokens: len(res.Tokens), Audited: true, VKID: vk.ID(), Hops: hops}
			cert.Sign(nodeKey(200))
			back, err := proof.UnmarshalCertificate(cert.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyCertificate(back); err != nil || !back.Passed {
				t.Fatalf("certificate: %v, passed %v", err, back.Passed)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ---- dishonest nodes (test code only) ----

// frameRewriter rewrites the frames a node writes (one Write per frame).
type frameRewriter struct {
	swarm.Stream
	edit func(m wire.Message) wire.Message
}

func (f *frameRewriter) Write(p []byte) (int, error) {
	m, err := wire.Unmarshal(p, 0)
	if err != nil {
		return f.Stream.Write(p)
	}
	b, err := wire.Marshal(f.edit(m))
	if err != nil {
		return 0, err
	}
	if _, err := f.Stream.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

func editReceipts(edit func(step uint64, r []byte) []byte) func(st swarm.Stream) swarm.Stream {
	return func(st swarm.Stream) swarm.Stream {
		return &frameRewriter{Stream: st, edit: func(m wire.Message) wire.Message {
			if fr, ok := m.(*wire.ForwardResult); ok && fr.Receipt != nil {
				c := *fr
				c.Receipt = edit(fr.Step, fr.Receipt)
				return &c
			}
			return m
		}}
	}
}

// alteredModel returns layers r of a copy of the test model in which
// tensor name has been changed by edit (on its raw bytes).
func alteredModel(t testing.TB, r model.Range, names []string, edit func(name string, typ quant.Type, data []byte)) *model.Model {
	t.Helper()
	data, err := readModel()
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		info, _ := f.Tensor(name)
		b, err := f.TensorData(name)
		if err != nil {
			t.Fatal(err)
		}
		edit(name, info.Type, b)
	}
	m, err := model.Load(f, model.Options{Layers: r, Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readModel() ([]byte, error) {
	b, err := osReadFile(modelPath)
	return b, err
}

// lowPrecisionModel returns layers r with every weight matrix of those
// layers re-quantized from q8_0 to q4_0: a cheaper copy of the model.
func lowPrecisionModel(t testing.TB, r model.Range) *model.Model {
	t.Helper()
	b := gguf.NewBuilder()
	if err := b.CopyKV(testFile); err != nil {
		t.Fatal(err)
	}
	for _, info := range testFile.Tensors {
		layer := -1
		for i := r.First; i < r.Last; i++ {
			if strings.HasPrefix(info.Name, "blk."+itoa(i)+".") {
				layer = i
			}
		}
		if layer < 0 || len(info.Dims) != 2 {
			if err := b.CopyTensor(testFile, info.Name); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, _ := testFile.TensorData(info.Name)
		vals := make([]float32, info.Dims[0]*info.Dims[1])
		if err := quant.Dequantize(info.Type, vals, data); err != nil {
			t.Fatal(err)
		}
		rb, _ := quant.Q4_0.RowBytes(len(vals))
		out := make([]byte, rb)
		if err := quant.Quantize(quant.Q4_0, out, vals); err != nil {
			t.Fatal(err)
		}
		if err := b.AddTensorBytes(info.Name, quant.Q4_0, info.Dims, out); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(f, model.Options{Layers: r, Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func itoa(i int) string { return string(rune('0' + i)) }

// lastLayer applies edit to the last layer's cells and the output of an
// honest forward call (a dishonest node that computes the other layers).
func lastLayer(srv *swarm.Server, edit func(c model.Cell, out []float32, rng *rand.Rand)) {
	m := srv.Model
	rng := rand.New(rand.NewPCG(7, 7))
	var mu sync.Mutex
	srv.Forward = func(s *model.Session, start int, hidden []float32, n int, tr *model.Trace) error {
		if err := m.ForwardTrace(s, start, hidden, n, tr); err != nil || tr == nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		dim := m.Config.Dim
		for p := start; p < start+n; p++ {
			c, err := tr.Cell(m.Range.Last-1, p)
			if err != nil {
				return err
			}
			edit(c, hidden[(p-start)*dim:(p-start+1)*dim], rng)
		}
		return nil
	}
}

// noise adds to the last layer's Down (and so to the output) a Gaussian
// perturbation of relative L2 norm eps of the layer's output; with
// consistent, the trace records the perturbed Down too.
func noise(eps float64, consistent bool) func(c model.Cell, out []float32, rng *rand.Rand) {
	return func(c model.Cell, out []float32, rng *rand.Rand) {
		d := make([]float64, len(out))
		var dn, on float64
		for i := range d {
			d[i] = rng.NormFloat64()
			dn += d[i] * d[i]
			on += float64(out[i]) * float64(out[i])
		}
		scale := eps * math.Sqrt(on/dn)
		for i := range out {
			delta := float32(d[i] * scale)
			if consistent {
				c.Down[i] += delta
				out[i] = (c.H[i] + c.O[i]) + c.Down[i]
			} else {
				out[i] += delta
			}
		}
	}
}

// adversaries are the dishonest behaviours of the issue, each against
// the node serving layers 3:6.
func adversaries() []adversary {
	other := nodeKey(99)
	return []adversary{
		{name: "altered weights", server: func(t testing.TB, srv *swarm.Server) {
			// One weight block of layer 4's up projection scaled by 1.5.
			srv.Model = alteredModel(t, srv.Model.Range, []string{"blk.4.ffn_up.weight"}, func(_ string, _ quant.Type, b []byte) {
				h := quant.FP16ToFP32(uint16(b[0]) | uint16(b[1])<<8)
				v := quant.FP32ToFP16(h * 1.5)
				b[0], b[1] = byte(v), byte(v>>8)
			})
		}},
		{name: "skipped layer", server: func(t testing.TB, srv *swarm.Server) {
			// The last layer is not computed: its output is its input, and
			// its trace holds the cheap parts (norms) and zeros.
			lastLayer(srv, func(c model.Cell, out []float32, _ *rand.Rand) {
				for _, v := range [][]float32{c.Q, c.K, c.V, c.Att, c.O, c.Gate, c.Up, c.Down} {
					clear(v)
				}
				copy(out, c.H)
				proofNorm(c.X2, c.H, srv)
			})
		}},
		{name: "noise on one layer (1e-3)", server: func(t testing.TB, srv *swarm.Server) { lastLayer(srv, noise(1e-3, true)) }},
		{name: "lower precision weights", server: func(t testing.TB, srv *swarm.Server) {
			srv.Model = lowPrecisionModel(t, srv.Model.Range)
		}},
		{name: "replayed receipt", wrap: func() func(st swarm.Stream) swarm.Stream {
			return editReceipts(func() func(step uint64, r []byte) []byte {
				var last []byte
				return func(step uint64, r []byte) []byte {
					defer func() { last = append([]byte(nil), r...) }()
					if step == 3 && last != nil {
						return last
					}
					return r
				}
			}())
		}()},
		{name: "signed with another key", wrap: editReceipts(func(step uint64, b []byte) []byte {
			r, err := proof.UnmarshalReceipt(b)
			if err != nil {
				return b
			}
			r.Sign(other)
			return r.Marshal()
		})},
		{name: "trace not matching output", server: func(t testing.TB, srv *swarm.Server) {
			// The output is perturbed after the trace was recorded.
			lastLayer(srv, func(c model.Cell, out []float32, _ *rand.Rand) {
				out[7] += 0.01
			})
		}},
	}
}

// proofNorm writes RMSNorm(h)·ffn_norm of the server's last layer: the
// cheap part a layer-skipping node can still fake.
func proofNorm(dst, h []float32, srv *swarm.Server) {
	w, _ := testFile.TensorData("blk." + itoa(srv.Model.Range.Last-1) + ".ffn_norm.weight")
	norm := make([]float32, len(h))
	_ = quant.Dequantize(quant.F32, norm, w)
	var ss float64
	for _, v := range h {
		ss += float64(v) * float64(v)
	}
	scale := float32(1 / math.Sqrt(float64(float32(ss/float64(len(h)))+testConfig.NormEps)))
	for i, v := range h {
		dst[i] = v * scale * norm[i]
	}
}

// sessionResult is one session against an adversary.
type sessionResult struct {
	detected bool
	fraud    *proof.Fraud
	err      error
}

// runAdversary generates sessions times through nodes [0:3] (honest) and
// [3:6] (adv), each session with its own audit randomness.
func runAdversary(t testing.TB, adv *adversary, sessions, tokens int, audit proof.AuditConfig) []sessionResult {
	t.Helper()
	vk := verificationKey(t)
	var out []sessionResult
	for s := 0; s < sessions; s++ {
		v := &swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: audit, Rand: detRand(uint64(1000 + s))}
		ch := verifiedChain(t, [][2]int{{0, 3}, {3, 6}}, 0, 1, adv, v, wire.DTypeF32)
		_, err := genRun(context.Background(), ch, prompts[s%len(prompts)], tokens)
		r := sessionResult{err: err}
		if err != nil {
			if !errors.Is(err, swarm.ErrDistrusted) {
				t.Fatalf("%s session %d: %v", adv.name, s, err)
			}
			r.detected = true
			var he *swarm.HopError
			if !errors.As(err, &he) || he.Hop != 1 {
				t.Fatalf("%s session %d: the wrong hop is blamed: %v", adv.name, s, err)
			}
		}
		if ps := ch.Proofs(); len(ps[1].Frauds) > 0 {
			r.fraud = ps[1].Frauds[0]
		}
		if ps := ch.Proofs(); ps[0].Fault != nil {
			t.Fatalf("%s session %d: the honest node was blamed: %v", adv.name, s, ps[0].Fault)
		}
		ch.Close()
		out = append(out, r)
	}
	return out
}

// TestAdversaries: every dishonest behaviour is caught when every cell
// is audited, and audit failures come with evidence that the weights
// confirm.
func TestAdversaries(t *testing.T) {
	w := testWeights(t)
	for _, adv := range adversaries() {
		t.Run(adv.name, func(t *testing.T) {
			res := runAdversary(t, &adv, 2, 6, proof.AuditConfig{Cells: 1000})
			for s, r := range res {
				if !r.detected {
					t.Fatalf("session %d: not detected", s)
				}
				if r.fraud != nil {
					f, err := proof.CheckEvidence(r.fraud.Evidence, w, proof.Tolerances{})
					if err != nil {
						t.Fatalf("session %d: evidence of %v does not check: %v", s, r.fraud, err)
					}
					back, err := proof.UnmarshalEvidence(r.fraud.Evidence.Marshal())
					if err != nil {
						t.Fatal(err)
					}
					if _, err := proof.CheckEvidence(back, w, proof.Tolerances{}); err != nil {
						t.Fatal(err)
					}
					t.Logf("session %d: %s", s, f.Describe())
				} else {
					t.Logf("session %d: %v", s, r.err)
				}
			}
		})
	}
}

// TestHonestNoFalseAlarms: honest sessions at the default budget and with
// every cell audited never raise an alarm.
func TestHonestNoFalseAlarms(t *testing.T) {
	sessions := 6
	if raceEnabled {
		sessions = 2
	}
	for _, audit := range []proof.AuditConfig{{}, {Cells: 1000}} {
		res := runAdversary(t, &adversary{name: "honest"}, sessions, 10, audit)
		for s, r := range res {
			if r.detected {
				t.Fatalf("honest session %d (%+v) raised: %v", s, audit, r.err)
			}
		}
	}
}

var (
	weightsOnce sync.Once
	weights     *proof.Weights
)

func testWeights(t testing.TB) *proof.Weights {
	t.Helper()
	weightsOnce.Do(func() {
		var err error
		weights, err = proof.NewWeights(testFile, testCommits, testPool)
		if err != nil {
			panic(err)
		}
	})
	return weights
}

func osReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// TestKeyChecks: a node that does not sign, or announces another key than
// the one it is known by, is refused when the session opens; a node that
// refuses to open its trace is distrusted.
func TestKeyChecks(t *testing.T) {
	cases := []adversary{
		{name: "no key", server: func(t testing.TB, srv *swarm.Server) { srv.Key = nil }},
		{name: "other key", server: func(t testing.TB, srv *swarm.Server) { srv.Key = nodeKey(77) }},
		{name: "refuses openings", wrap: func(st swarm.Stream) swarm.Stream {
			return &frameRewriter{Stream: st, edit: func(m wire.Message) wire.Message {
				if _, ok := m.(*wire.Openings); ok {
					return wire.NewError(wire.CodeGone, "not kept")
				}
				return m
			}}
		}},
	}
	for _, adv := range cases {
		t.Run(adv.name, func(t *testing.T) {
			res := runAdversary(t, &adv, 1, 4, proof.AuditConfig{Cells: 1})
			if !res[0].detected {
				t.Fatal("not detected")
			}
			t.Log(res[0].err)
		})
	}
}

// TestServerOpenCells drives the protocol by hand: receipts come with
// results of a session opened with a nonce (version 2: each with its own
// call's; version 3: one call late, the last on a ReceiptRequest),
// openings verify against them, a request for cells no longer kept is
// answered CodeGone and the session goes on, and a session without a
// nonce keeps no traces.
func TestServerOpenCells(t *testing.T) {
	for _, version := range []uint32{2, wire.Version} {
		t.Run(fmt.Sprintf("version %d", version), func(t *testing.T) { testServerOpenCells(t, version) })
	}
}

func testServerOpenCells(t *testing.T, version uint32) {
	srv := &swarm.Server{Model: layers(t, 2, 4), ModelCommit: testCommit, Key: nodeKey(5), TraceWindow: 2}
	nd := newNode(t, srv).listen(t)
	c := dial(t, nd)
	nonce := bytes.Repeat([]byte{3}, wire.NonceSize)
	c.send(&wire.OpenSession{Version: version, ModelCommit: testCommit, First: 2, Last: 4, MaxPositions: 64, DType: wire.DTypeF32, Nonce: nonce})
	op, ok := c.recv().(*wire.SessionOpened)
	if !ok || !proof.SameKey(op.NodeKey, srv.NodeKey()) {
		t.Fatalf("opened: %+v", op)
	}
	c.id = op.SessionID
	late := version >= 3
	var receipts []*proof.Receipt
	var outs []proof.Hash // H(out) of every result, by step
	take := func(b []byte, step int) {
		t.Helper()
		r, err := proof.UnmarshalReceipt(b)
		if err != nil || r.Verify() != nil || r.Step != uint64(step) || r.HOut != outs[step] {
			t.Fatalf("receipt of step %d: %v %v", step, r, err)
		}
		receipts = append(receipts, r)
	}
	for i := 0; i < 4; i++ {
		n := 1
		if i == 0 {
			n = 3
		}
		c.send(c.forwardMsg(n))
		res, ok := c.recv().(*wire.ForwardResult)
		if !ok {
			t.Fatalf("result %+v", res)
		}
		out := make([]float32, n*testConfig.Dim)
		if err := wire.DecodeHidden(out, wire.DTypeF32, res.Payload, n, testConfig.Dim); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, proof.HiddenRoot(out, n, testConfig.Dim))
		switch {
		case !late:
			take(res.Receipt, i)
		case i == 0 && res.Receipt != nil:
			t.Fatal("a receipt with the first result of a version 3 session")
		case i > 0:
			take(res.Receipt, i-1)
		}
		c.n += n
		c.st++
	}
	if late {
		for k := 0; k < 2; k++ {
			c.send(&wire.ReceiptRequest{SessionID: c.id})
			rep, ok := c.recv().(*wire.ReceiptReply)
			switch {
			case !ok:
				t.Fatalf("receipt request: %+v", rep)
			case k == 0:
				take(rep.Receipt, 3)
			case rep.Receipt != nil:
				t.Fatal("the last receipt delivered twice")
			}
		}
	}
	ask := func(refs ...proof.CellRef) wire.Message {
		c.send(&wire.OpenCells{SessionID: c.id, Request: proof.MarshalRequest(refs)})
		return c.recv()
	}
	m := ask(proof.CellRef{Step: 3, Layer: 3, Pos: 5, Mask: proof.MaskAll}, proof.CellRef{Step: 0, Layer: 2, Pos: 1, Mask: proof.MaskKV})
	ops, ok := m.(*wire.Openings)
	if !ok {
		t.Fatalf("openings: %+v", m)
	}
	got, err := proof.UnmarshalOpenings(ops.Body)
	if err != nil || len(got) != 2 {
		t.Fatal(err)
	}
	for _, o := range got {
		if err := proof.VerifyOpening(testConfig, receipts[o.Step], o); err != nil {
			t.Fatal(err)
		}
	}
	if e, ok := ask(proof.CellRef{Step: 0, Layer: 2, Pos: 1, Mask: proof.MaskAll}).(*wire.Error); !ok || e.Code != wire.CodeGone {
		t.Fatalf("full cell outside the window: %+v", e)
	}
	c.step(srv.Model, mustSession(t, srv.Model, c), 1) // the session goes on
	if st := srv.Stats(); st.Openings != 2 {
		t.Fatalf("stats %+v", st)
	}

	// Without a nonce: no receipts, no traces.
	c2 := dial(t, nd)
	c2.open(2, 4, 8)
	c2.send(&wire.OpenCells{SessionID: c2.id, Request: proof.MarshalRequest([]proof.CellRef{{Layer: 2, Mask: proof.MaskH}})})
	if e, ok := c2.recv().(*wire.Error); !ok || e.Code != wire.CodeGone {
		t.Fatalf("untraced session: %+v", e)
	}
}

// mustSession replays what c sent so far into a fresh local session, for
// raw.step's comparison.
func mustSession(t *testing.T, m *model.Model, c *raw) *model.Session {
	t.Helper()
	s, err := m.NewSession(64)
	if err != nil {
		t.Fatal(err)
	}
	h := embed(t, 0, c.n)
	if err := m.Forward(s, 0, h, c.n); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTraceBuffersReused: a node hands the trace buffers of a finished
// session to the next one, whose receipts and audits still pass and whose
// tokens are unchanged.
func TestTraceBuffersReused(t *testing.T) {
	vk := verificationKey(t)
	rg := model.Range{First: 0, Last: 6}
	n, open, key := verifiedNode(t, rg, 7, nil)
	want := reference(t, prompts[0]).res.Tokens[:8]
	for run := 0; run < 2; run++ {
		h := swarm.RemoteHop("node", rg, open)
		h.PubKey = key
		v := &swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: proof.AuditConfig{Cells: 4}, Rand: detRand(uint64(run + 1))}
		ch, err := swarm.NewChain(swarm.ChainConfig{Model: testConfig, ModelCommit: testCommit, Verify: v, DType: wire.DTypeF32}, []swarm.Hop{h})
		if err != nil {
			t.Fatal(err)
		}
		res, err := genRun(context.Background(), ch, prompts[0], 8)
		if err != nil {
			t.Fatal(err)
		}
		if !equalInts(res.Tokens, want) {
			t.Fatalf("run %d: tokens %v, want %v", run, res.Tokens, want)
		}
		p := ch.Proofs()[0]
		if p.Fault != nil || len(p.Receipts) != 8 || p.Audit.Cells == 0 || p.Audit.Failed != 0 {
			t.Fatalf("run %d: fault %v, %d receipts, audit %+v", run, p.Fault, len(p.Receipts), p.Audit)
		}
		ch.Close()
		// The node releases the session when it sees the stream close.
		for i := 0; i < 500 && n.srv.Stats().SessionsOpen > 0; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		st := n.srv.Stats()
		if st.SessionsOpen != 0 || st.TracesKept == 0 || st.TraceBytesKept == 0 {
			t.Fatalf("run %d: after the session: %+v", run, st)
		}
		if run == 1 && st.TracesReused == 0 {
			t.Fatalf("the second session recorded into no buffer of the first: %+v", st)
		}
	}
}
