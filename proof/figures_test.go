package proof_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/synth"
)

// figures gates the measurement tests that write docs/proof-figures.md
// numbers: TESSERA_PROOF_FIGURES=1 go test ./proof -run Figures -v
func figures(t *testing.T) {
	if os.Getenv("TESSERA_PROOF_FIGURES") == "" {
		t.Skip("set TESSERA_PROOF_FIGURES=1 to measure")
	}
}

// TestFiguresCPU measures the verifier's CPU time against the worker's at
// the default audit budget, both single-threaded, over generations of a
// prompt of 8 tokens and 56 decoded positions through layers 0:3.
func TestFiguresCPU(t *testing.T) {
	figures(t)
	runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(runtime.NumCPU())
	pool := kernels.NewPool(1)
	defer pool.Close()
	big := bigFixture(t)
	for _, clk := range []struct {
		name string
		now  func() time.Duration
	}{{"process CPU time (getrusage)", cpuNow}, {"wall clock", wallNow}} {
		probe := readingCost(clk.now)
		t.Logf("clock: %s; one reading costs %v; each timed window's figure has one taken out", clk.name, probe)
		figuresCPU(t, pool, big, clk.now, probe)
	}
}

// figuresCPU runs TestFiguresCPU's sessions with timings from now, whose
// readings cost probe each.
func figuresCPU(t *testing.T, pool *kernels.Pool, big *fixture, now func() time.Duration, probe time.Duration) {
	for _, file := range []string{"kjv-tiny-q8_0.gguf", "big"} {
		var fx *fixture
		if file == "big" {
			fx = big
		} else {
			fx = kjv(t, file)
		}
		for _, cells := range []int{0, 1} {
			var work, verify, l0 time.Duration
			var workWindows, l0Windows, l1Windows int
			var st proof.AuditStats
			sessions, decode := 10, 56
			if file == "big" {
				sessions, decode = 2, 56
			}
			// More sessions narrow the sampling noise of the budget's
			// few audits per session.
			if n, err := strconv.Atoi(os.Getenv("TESSERA_CPU_SESSIONS")); err == nil && n > 0 {
				sessions = n
			}
			for s := 0; s < sessions; s++ {
				node := newSimNode(t, fx, model.Range{First: 0, Last: 3}, byte(s))
				m, err := model.Load(fx.file, model.Options{Layers: node.m.Range, Pool: pool})
				if err != nil {
					t.Fatal(err)
				}
				node.m = m
				node.s, _ = m.NewSession(256)
				c := newSimClient(t, fx, node, proof.AuditConfig{Cells: cells}, uint64(s))
				c.clock = now
				c.generate(t, []int{1, 450, 32, 9, 77, 1000, 5, 6}, decode)
				work += c.workTime
				verify += c.verifyTime
				l0 += c.l0Time
				workWindows += c.workWindows
				l0Windows += c.l0Windows
				l1Windows += c.l1Windows
				st.Add(c.auditor.Stats())
				if len(c.errs) > 0 || len(c.frauds) > 0 {
					t.Fatal(c.errs, c.frauds)
				}
			}
			l1 := verify - l0
			t.Logf("%s cells=%d: worker %v, verifier %v (L0 %v), ratio %.4f (L1 only %.4f); model cost/work %.4f; %d receipts, %d audited, %d cells, %d kv, %d bytes opened",
				file, cells, work, verify, l0, float64(verify)/float64(work), float64(l1)/float64(work), st.Cost/st.Work, st.Receipts, st.Audited, st.Cells, st.KVOpenings, st.Bytes)
			// The same without the readings' own cost.
			work -= time.Duration(workWindows) * probe
			l0 -= time.Duration(l0Windows) * probe
			l1 -= time.Duration(l1Windows) * probe
			t.Logf("   without the readings: worker %v, L0 %v, L1 %v: L1 ÷ worker %.4f, (L0+L1) ÷ worker %.4f",
				work, l0, l1, float64(l1)/float64(work), float64(l0+l1)/float64(work))
			t.Logf("   L1 ns per opened byte %.2f, worker ns per weight byte %.4f", float64(l1.Nanoseconds())/float64(st.Bytes), float64(work.Nanoseconds())/st.Work)
		}
	}
}

// bigFixture is a synthetic model with the layer shape of a 1B-class
// model (dim 2048, ff 5632, 32 heads, 8 kv heads) and 3 layers, q8_0.
func bigFixture(t testing.TB) *fixture {
	t.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if fx, ok := fixtures["big"]; ok {
		return fx
	}
	b, err := synth.Builder(synth.Config{Arch: "llama", Dim: 2048, Layers: 3, Heads: 32, KVHeads: 8, FF: 5632, Vocab: 2048, ContextLen: 256, Type: quant.Q8_0, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	fx := newFixture(t, "big", f)
	fixtures["big"] = fx
	return fx
}

// BenchmarkAuditCell measures checking one fully opened cell (with its
// boundary and link openings) of the big model at position 40, keys and
// values cached.
func BenchmarkAuditCell(b *testing.B) {
	if os.Getenv("TESSERA_PROOF_FIGURES") == "" {
		b.Skip("set TESSERA_PROOF_FIGURES=1 to measure")
	}
	fx := bigFixture(b)
	r := model.Range{First: 0, Last: 3}
	calls := runTraced(b, fx, r, []int{1, 2, 3, 4, 5, 6, 7, 8}, 33)
	d := cellData(b, fx, r, calls, len(calls)-1, 1, 40)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, f, err := proof.CheckCell(fx.vk, proof.DefaultTolerances, d); err != nil || f != nil {
			b.Fatal(err, f)
		}
	}
}

func BenchmarkVerifyOpening(b *testing.B) {
	if os.Getenv("TESSERA_PROOF_FIGURES") == "" {
		b.Skip("set TESSERA_PROOF_FIGURES=1 to measure")
	}
	fx := bigFixture(b)
	r := model.Range{First: 0, Last: 3}
	calls := runTraced(b, fx, r, []int{1, 2, 3, 4, 5, 6, 7, 8}, 1)
	cl := calls[len(calls)-1]
	tc, _ := proof.CommitTrace(cl.trace)
	c, _ := cl.trace.Cell(1, cl.start)
	op, _ := proof.Open(tc, 1, proof.CellRef{Step: 1, Layer: 1, Pos: cl.start, Mask: proof.MaskAll}, proof.CellVectors(c))
	rc := &proof.Receipt{Step: 1, Start: cl.start, N: cl.n, First: 0, Last: 3, TraceRoot: tc.Root()}
	enc := proof.MarshalOpenings([]*proof.CellOpening{op})
	b.SetBytes(int64(len(enc)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ops, err := proof.UnmarshalOpenings(enc)
		if err != nil {
			b.Fatal(err)
		}
		if err := proof.VerifyOpening(fx.cfg, rc, ops[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitTrace measures a node's commitment to one decode step's
// trace (every vector hashed, cell hashes, tree) on kernel pools of one
// and two threads: kjv-tiny's 6 layers, and with TESSERA_PROOF_FIGURES=1
// also three 1B-shape layers.
func BenchmarkCommitTrace(b *testing.B) {
	models := []string{"kjv-tiny"}
	if os.Getenv("TESSERA_PROOF_FIGURES") != "" {
		models = append(models, "big")
	}
	for _, name := range models {
		fx := kjv(b, "kjv-tiny-q8_0.gguf")
		if name == "big" {
			fx = bigFixture(b)
		}
		calls := runTraced(b, fx, model.Range{First: 0, Last: fx.cfg.Layers}, []int{5, 9, 14}, 1)
		tr := calls[len(calls)-1].trace
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", name, threads), func(b *testing.B) {
				pool := kernels.NewPool(threads)
				defer pool.Close()
				for b.Loop() {
					if _, err := proof.CommitTraceOn(tr, pool.Parallel); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestFiguresRecording measures what recording, committing and signing a
// trace adds to decode steps (the node's side), in process CPU time,
// alternating plain and recorded sessions of 200 decode steps (64 for the
// 1B-shape layers).
func TestFiguresRecording(t *testing.T) {
	figures(t)
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	for _, name := range []string{"kjv-tiny-q8_0.gguf", "big"} {
		var fx *fixture
		if name == "big" {
			fx = bigFixture(t)
		} else {
			fx = kjv(t, name)
		}
		for _, threads := range []int{1, 2} {
			pool := kernels.NewPool(threads)
			r := model.Range{First: 0, Last: fx.cfg.Layers}
			m, err := model.Load(fx.file, model.Options{Layers: r, Pool: pool})
			if err != nil {
				t.Fatal(err)
			}
			dim := fx.cfg.Dim
			h := make([]float32, dim)
			var plain, traced time.Duration
			var ratios []float64 // wall-clock recorded/plain per round
			traces := &proof.TracePool{}
			rounds, block := 6, 200
			if name == "big" {
				rounds, block = 8, 64
			}
			for round := 0; round < rounds; round++ {
				var wall [2]time.Duration
				for k, rec := range []bool{false, true} {
					s, _ := m.NewSession(block)
					store := proof.TraceStore{Parallel: pool.Parallel, Recycle: traces} // as a node does
					var prev proof.Hash
					t0 := cpuNow()
					w0 := time.Now()
					for p := 0; p < block; p++ {
						_ = fx.all.Embed(h, []int{1 + p})
						if !rec {
							if err := m.Forward(s, p, h, 1); err != nil {
								t.Fatal(err)
							}
							continue
						}
						in := proof.HiddenRoot(h, 1, dim)
						tr := store.NewTrace(model.TraceBytes(fx.cfg, r.Last-r.First, 1))
						if err := m.ForwardTrace(s, p, h, 1, tr); err != nil {
							t.Fatal(err)
						}
						tc, err := store.Add(uint64(p), fx.cfg, tr)
						if err != nil {
							t.Fatal(err)
						}
						rc := &proof.Receipt{DType: 1, Step: uint64(p), Start: p, N: 1, First: r.First, Last: r.Last,
							HIn: in, HOut: proof.HiddenRoot(h, 1, dim), TraceRoot: tc.Root(), Prev: prev}
						rc.Sign(key)
						prev = rc.Hash()
					}
					wall[k] = time.Since(w0)
					store.Release()
					if rec {
						traced += cpuNow() - t0
					} else {
						plain += cpuNow() - t0
					}
				}
				ratios = append(ratios, float64(wall[1])/float64(wall[0]))
			}
			slices.Sort(ratios)
			pool.Close()
			t.Logf("%s, %d threads: decode %v plain, %v recorded+committed+signed (CPU time): overhead %.1f%% CPU, %.1f%% wall clock (median of %d rounds)",
				name, threads, plain/time.Duration(rounds*block), traced/time.Duration(rounds*block), 100*(float64(traced)/float64(plain)-1),
				100*(ratios[len(ratios)/2]-1), rounds)
		}
	}
}

// TestFiguresSizes prints the sizes of receipts, openings and keys.
func TestFiguresSizes(t *testing.T) {
	figures(t)
	t.Logf("receipt: %d bytes (+3 bytes of framing in a ForwardResult)", proof.ReceiptSize)
	for _, name := range []string{"kjv-tiny-q8_0.gguf", "big"} {
		var fx *fixture
		if name == "big" {
			fx = bigFixture(t)
		} else {
			fx = kjv(t, name)
		}
		var weights int64
		for _, ti := range fx.file.Tensors {
			if strings.HasPrefix(ti.Name, "blk.") {
				weights += int64(ti.Size)
			}
		}
		for _, reps := range []int{1, 2} {
			vk, err := proof.GenerateVK(fx.file, fx.commit, model.Range{First: 0, Last: fx.cfg.Layers}, [32]byte{1}, proof.VKOptions{Reps: reps, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d layers, layer weights %d bytes; vk with %d Freivalds vectors per matrix: %d bytes (1/%.0f of the weights)",
				name, fx.cfg.Layers, weights, reps, vk.Size(), float64(weights)/float64(vk.Size()))
		}
		path := 4 // a 3-layer decode receipt has 3 leaves: paths of 1-2 hashes; prefill more
		t.Logf("%s: full cell opening %d bytes, key+value opening %d bytes, H-only opening %d bytes (paths of %d hashes)",
			name, proof.OpeningSize(fx.cfg, proof.MaskAll, path), proof.OpeningSize(fx.cfg, proof.MaskKV, path), proof.OpeningSize(fx.cfg, proof.MaskH, path), path)
	}
}

// TestFiguresDetectionBig: at the default budget, the share of sessions
// (8 prompt tokens, 16 decoded) through a node serving the three
// 1B-shape layers in which a node perturbing its last layer's output by
// 1e-3 (consistently in its trace) is caught, and the honest false alarms.
func TestFiguresDetectionBig(t *testing.T) {
	figures(t)
	fx := bigFixture(t)
	r := model.Range{First: 0, Last: 3}
	sessions := 20
	for _, dishonest := range []bool{true, false} {
		caught, receipts, audited := 0, 0, 0
		for s := 0; s < sessions; s++ {
			node := newSimNode(t, fx, r, byte(s))
			if dishonest {
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
			}
			c := newSimClient(t, fx, node, proof.AuditConfig{}, uint64(s))
			c.generate(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, 16)
			if len(c.frauds) > 0 {
				caught++
			}
			if len(c.errs) > 0 {
				t.Fatal(c.errs)
			}
			st := c.auditor.Stats()
			receipts += st.Receipts
			audited += st.Audited
		}
		t.Logf("1B-shape layers, default budget, dishonest=%v: caught in %d/%d sessions; %d of %d receipts audited", dishonest, caught, sessions, audited, receipts)
	}
}

// TestFiguresReexec measures spot re-execution (level L2): the validator's
// CPU time to re-run a session — decoding the job, replaying every call
// with its trace, hashing and comparing — against the node's CPU time to
// compute it (forward pass, trace, hashes, receipt), both single-threaded,
// over sessions of an 8-token prompt and 56 decoded positions through
// layers 0:3. At a re-execution rate p the validator spends p times the
// ratio of the nodes' CPU.
func TestFiguresReexec(t *testing.T) {
	figures(t)
	runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(runtime.NumCPU())
	pool := kernels.NewPool(1)
	defer pool.Close()
	r := model.Range{First: 0, Last: 3}
	for _, name := range []string{"kjv-tiny-q8_0.gguf", "big"} {
		var fx *fixture
		sessions := 10
		if name == "big" {
			fx, sessions = bigFixture(t), 2
		} else {
			fx = kjv(t, name)
		}
		w, err := proof.NewWeights(fx.file, fx.commit, pool)
		if err != nil {
			t.Fatal(err)
		}
		validator, err := w.Model(r)
		if err != nil {
			t.Fatal(err)
		}
		var work, verify time.Duration
		var bytes, steps int
		for s := 0; s < sessions; s++ {
			node := newSimNode(t, fx, r, byte(s))
			m, err := model.Load(fx.file, model.Options{Layers: r, Pool: pool})
			if err != nil {
				t.Fatal(err)
			}
			node.m = m
			node.s, _ = m.NewSession(256)
			job := &proof.ReexecJob{}
			prompt := []int{1, 450, 32, 9, 77, 1000 % fx.cfg.Vocab, 5, 6}
			call := func(start int, toks []int) {
				h := make([]float32, len(toks)*fx.cfg.Dim)
				if err := fx.all.Embed(h, toks); err != nil {
					t.Fatal(err)
				}
				in := append([]float32(nil), h...)
				t0 := cpuNow()
				rc := node.forward(start, h, len(toks))
				work += cpuNow() - t0
				job.Steps = append(job.Steps, proof.ReexecStep{Receipt: rc, Input: in, Output: h})
			}
			call(0, prompt)
			for i := 0; i < 56; i++ {
				call(len(prompt)+i, []int{(s*31 + i*17 + 3) % fx.cfg.Vocab})
			}
			b := job.Marshal()
			bytes += len(b)
			steps += len(job.Steps)
			t0 := cpuNow()
			back, err := proof.UnmarshalReexecJob(b)
			if err != nil {
				t.Fatal(err)
			}
			res, _, err := proof.Reexecute(validator, back.Steps)
			verify += cpuNow() - t0
			if err != nil || !res.OK() {
				t.Fatal(err, res)
			}
			m.Close()
		}
		t.Logf("%s layers %s: node %v, validator %v, validator ÷ node %.3f; job %d bytes per session (%.0f per step)",
			name, r, work, verify, float64(verify)/float64(work), bytes/sessions, float64(bytes)/float64(steps))
		w.Close()
	}
}
