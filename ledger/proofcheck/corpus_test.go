package proofcheck_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/ledger/proofcheck"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/synth"
)

// The corpus in testdata holds evidence files and the verdicts the ledger
// gave them when they were written. Ledgers replay old blocks, so these
// verdicts must never change, on any machine: TestCorpusVerdicts checks
// them (CI runs it on arm64 and on amd64 without FMA under qemu too). The
// files are written once, on amd64, by
//
//	go test ./ledger/proofcheck -run TestWriteCorpus -write-corpus
//
// and then never rewritten (a rewrite would hide a change of verdicts).
var writeCorpus = flag.Bool("write-corpus", false, "write the evidence corpus in testdata (once)")

// corpus is testdata/verdicts.json: the models the evidence is about (by
// commitment: the synthetic ones are rebuilt by package synth, which must
// keep writing the same bytes) and the verdicts.
type corpus struct {
	Models  map[string]string `json:"models"` // name → model commitment, hex
	Entries []corpusEntry     `json:"entries"`
}

// corpusEntry is one evidence file and what the ledger says of it.
type corpusEntry struct {
	Case string `json:"case"`
	File string `json:"file"`
	Node string `json:"node"` // the key the evidence is submitted against, hex
	// Verdict is "valid" or the checker's reason for refusing.
	Verdict string `json:"verdict"`
	// Equation and ValueBits are what proof.CheckEvidence recomputes for
	// cell evidence it proves (ValueBits: the float64's bits, hex): the
	// canonical arithmetic must give the same bits everywhere.
	Equation  string `json:"equation,omitempty"`
	ValueBits string `json:"value_bits,omitempty"`
}

const corpusDir = "testdata"

// nodeKey is the dishonest node's receipt key in the corpus.
func nodeKey(i int) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(fmt.Sprint("proofcheck corpus node ", i)))
	return ed25519.NewKeyFromSeed(seed[:])
}

// tamper edits a forward call of the second node's layers [first, last)
// after it is computed honestly: the trace cells (aliased) and the output.
type tamper func(m *model.Model, tr *model.Trace, start, n int, out []float32)

// scaleDown scales the last layer's Down by 1+eps and keeps the trace and
// the output consistent with it.
func scaleDown(eps float32) tamper {
	return func(m *model.Model, tr *model.Trace, start, n int, out []float32) {
		dim := m.Config.Dim
		for p := start; p < start+n; p++ {
			c, _ := tr.Cell(m.Range.Last-1, p)
			for i := range c.Down {
				c.Down[i] *= 1 + eps
				out[(p-start)*dim+i] = (c.H[i] + c.O[i]) + c.Down[i]
			}
		}
	}
}

// traceOnly edits one vector of the last-but-one layer's cells in the
// trace only.
func traceOnly(vec func(c model.Cell) []float32, delta float32) tamper {
	return func(m *model.Model, tr *model.Trace, start, n int, out []float32) {
		for p := start; p < start+n; p++ {
			c, _ := tr.Cell(m.Range.Last-2, p)
			vec(c)[3] += delta
		}
	}
}

// corpusModel is a model the corpus has evidence about.
type corpusModel struct {
	name string
	file *gguf.File
}

// corpusModels are the embedded kjv-tiny (q8_0, whose products are exact
// in float64) and two synthetic models (f32 and q4_k, whose are not, so
// that any machine-dependent rounding in the checks changes the recomputed
// values). Package synth writes the same bytes on every architecture.
func corpusModels(t testing.TB) []corpusModel {
	t.Helper()
	kjv, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	out := []corpusModel{{"kjv", kjv}}
	for _, typ := range []quant.Type{quant.F32, quant.Q4_K} {
		b, err := synth.Builder(synth.Config{Arch: "llama", Dim: 256, Layers: 4, Heads: 4, KVHeads: 2, FF: 512, Vocab: 300, ContextLen: 64, Type: typ, Seed: 11})
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
		out = append(out, corpusModel{"synth-" + typ.String(), f})
	}
	return out
}

// chainRun runs a session (a prefill of 4 positions, then 2 decode steps
// of fixed pseudo-random hidden states) through two in-process signing
// nodes splitting cm's layers in half, the second edited by tm, auditing
// every cell with a fixed key and fixed randomness. It returns the chain
// and the second node's layers.
func chainRun(t *testing.T, cm corpusModel, tm tamper, keepInputs bool) (*swarm.Chain, *model.Model) {
	t.Helper()
	f := cm.file
	c, err := commit.Of(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := model.ConfigFromGGUF(f)
	vk, err := proof.GenerateVK(f, c, model.Range{First: 0, Last: cfg.Layers}, sha256.Sum256([]byte("corpus vk")), proof.VKOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var hops []swarm.Hop
	var last *model.Model
	half := cfg.Layers / 2
	for i, r := range []model.Range{{First: 0, Last: half}, {First: half, Last: cfg.Layers}} {
		m, err := model.Load(f, model.Options{Layers: r})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		srv := &swarm.Server{Model: m, ModelCommit: c.Model, Key: nodeKey(i)}
		if i == 1 && tm != nil {
			srv.Forward = func(s *model.Session, start int, hidden []float32, n int, tr *model.Trace) error {
				if err := m.ForwardTrace(s, start, hidden, n, tr); err != nil || tr == nil {
					return err
				}
				tm(m, tr, start, n, hidden)
				return nil
			}
		}
		h := swarm.RemoteHop(fmt.Sprint("node", i), r, func(context.Context) (swarm.Stream, error) {
			a, b := net.Pipe()
			go srv.ServeStream(ctx, b)
			return a, nil
		})
		h.PubKey = srv.NodeKey()
		hops = append(hops, h)
		last = m
	}
	v := &swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: proof.AuditConfig{Cells: 1000},
		Rand: rand.NewChaCha8(sha256.Sum256([]byte("corpus randomness"))), KeepInputs: keepInputs}
	chain, err := swarm.NewChain(swarm.ChainConfig{Model: cfg, ModelCommit: c.Model, Verify: v}, hops)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	rng := rand.New(rand.NewPCG(5, 6))
	for _, call := range [][2]int{{0, 4}, {4, 1}, {5, 1}} {
		h := make([]float32, call[1]*cfg.Dim)
		for i := range h {
			h[i] = float32(rng.NormFloat64())
		}
		if err := chain.Forward(ctx, call[0], h, call[1]); err != nil {
			break // the dishonest node was caught
		}
	}
	return chain, last
}

// fraudEvidence is the evidence of the first fraud the audit of the second
// node found.
func fraudEvidence(t *testing.T, cm corpusModel, tm tamper) *proof.Evidence {
	t.Helper()
	chain, _ := chainRun(t, cm, tm, false)
	fr := chain.Proofs()[1].Frauds
	if len(fr) == 0 {
		t.Fatalf("%s: the audit found no fraud", cm.name)
	}
	return fr[0].Evidence
}

func hexKey(k ed25519.PrivateKey) string { return hex.EncodeToString(k.Public().(ed25519.PublicKey)) }

func TestWriteCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to write testdata (once)")
	}
	type item struct {
		name string
		b    []byte
		node string
	}
	accused := hexKey(nodeKey(1))
	var items []item
	add := func(name string, e *proof.Evidence) []byte {
		b := e.Marshal()
		items = append(items, item{name, b, accused})
		return b
	}
	ms := corpusModels(t)
	kjv := ms[0]
	down := fraudEvidence(t, kjv, scaleDown(0.01))
	downBytes := add("down-1e-2", down)
	add("down-3e-4", fraudEvidence(t, kjv, scaleDown(3e-4)))
	add("down-1e-5", fraudEvidence(t, kjv, scaleDown(1e-5)))
	add("x1", fraudEvidence(t, kjv, traceOnly(func(c model.Cell) []float32 { return c.X1 }, 0.01)))
	add("q", fraudEvidence(t, kjv, traceOnly(func(c model.Cell) []float32 { return c.Q }, 0.01)))
	add("attention", fraudEvidence(t, kjv, traceOnly(func(c model.Cell) []float32 { return c.Att }, 0.01)))
	add("residual", fraudEvidence(t, kjv, func(m *model.Model, tr *model.Trace, start, n int, out []float32) { out[7] += 1e-3 }))
	add("input", fraudEvidence(t, kjv, func(m *model.Model, tr *model.Trace, start, n int, out []float32) {
		c, _ := tr.Cell(m.Range.First, start)
		c.H[0] += 1e-3
	}))
	for _, cm := range ms[1:] {
		add(cm.name+"-down-1e-2", fraudEvidence(t, cm, scaleDown(0.01)))
		add(cm.name+"-down-3e-4", fraudEvidence(t, cm, scaleDown(3e-4)))
		add(cm.name+"-gate", fraudEvidence(t, cm, traceOnly(func(c model.Cell) []float32 { return c.Gate }, 0.01)))
		add(cm.name+"-k", fraudEvidence(t, cm, traceOnly(func(c model.Cell) []float32 { return c.K }, 0.01)))
		add(cm.name+"-attention", fraudEvidence(t, cm, traceOnly(func(c model.Cell) []float32 { return c.Att }, 1e-4)))
	}

	edit := func(name string, fn func(e *proof.Evidence)) {
		e, err := proof.UnmarshalEvidence(downBytes)
		if err != nil {
			t.Fatal(err)
		}
		fn(e)
		add(name, e)
	}
	edit("wrong-equation", func(e *proof.Evidence) { e.Finding.Equation = proof.EqGate })
	edit("forged-opening", func(e *proof.Evidence) { e.Openings[0].Vecs[proof.VecDown][0] *= 2 })
	edit("forged-signature", func(e *proof.Evidence) { e.Receipts[0].Sig[3] ^= 1 })
	edit("finding-outside", func(e *proof.Evidence) { e.Finding.Layer = 1 })
	edit("finding-reexec-equation", func(e *proof.Evidence) { e.Finding.Equation = proof.EqReexec })
	items = append(items, item{"other-node", downBytes, hexKey(nodeKey(0))})
	items = append(items, item{"truncated", downBytes[:len(downBytes)/2], accused})

	// Re-execution evidence: the ledger refuses it whatever it says.
	chain, m := chainRun(t, kjv, scaleDown(0.01), true)
	_, ev, err := chain.Reexecute(1, m)
	if err != nil || ev == nil {
		t.Fatalf("re-execution evidence: %v", err)
	}
	add("reexec", ev)

	ck := checker(t)
	cp := corpus{Models: map[string]string{}}
	for _, cm := range ms {
		c, err := commit.Of(cm.file)
		if err != nil {
			t.Fatal(err)
		}
		cp.Models[cm.name] = commit.Hex(c.Model)
	}
	for _, it := range items {
		file := it.name + ".evidence"
		if err := os.WriteFile(filepath.Join(corpusDir, file), it.b, 0o644); err != nil {
			t.Fatal(err)
		}
		cp.Entries = append(cp.Entries, judge(t, ck, it.name, file, it.node, it.b))
	}
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corpusDir, "verdicts.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// judge returns what the checker and proof.CheckEvidence say of b.
func judge(t *testing.T, ck *proofcheck.Checker, name, file, node string, b []byte) corpusEntry {
	t.Helper()
	var key [32]byte
	if _, err := hex.Decode(key[:], []byte(node)); err != nil {
		t.Fatal(err)
	}
	e := corpusEntry{Case: name, File: file, Node: node, Verdict: "valid"}
	if err := ck.CheckEvidence(key, b); err != nil {
		e.Verdict = err.Error()
	}
	if ev, err := proof.UnmarshalEvidence(b); err == nil && ev.Kind == proof.EvidenceCell && weights(t, ev.Model) != nil {
		if f, err := proof.CheckEvidence(ev, weights(t, ev.Model), proofcheck.Tolerances); err == nil {
			e.Equation = proof.EqName(f.Equation)
			e.ValueBits = fmt.Sprintf("%016x", math.Float64bits(f.Value))
		}
	}
	return e
}

// TestCorpusVerdicts: every evidence file of the corpus gets the verdict
// it got when it was written, and proven findings recompute to the same
// bits.
func TestCorpusVerdicts(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(corpusDir, "verdicts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cp corpus
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	if len(cp.Entries) < 10 {
		t.Fatalf("corpus of %d entries", len(cp.Entries))
	}
	for _, cm := range corpusModels(t) {
		c, err := commit.Of(cm.file)
		if err != nil {
			t.Fatal(err)
		}
		if got := commit.Hex(c.Model); got != cp.Models[cm.name] {
			t.Fatalf("model %s now has commitment %s, the corpus was written for %s: package synth or quant "+
				"changed the bytes it writes, and the evidence about it can no longer be judged", cm.name, got, cp.Models[cm.name])
		}
	}
	ck := checker(t)
	valid := 0
	for _, want := range cp.Entries {
		ev, err := os.ReadFile(filepath.Join(corpusDir, want.File))
		if err != nil {
			t.Fatal(err)
		}
		got := judge(t, ck, want.Case, want.File, want.Node, ev)
		if got != want {
			t.Errorf("%s: verdict %+v, the corpus says %+v", want.Case, got, want)
		}
		if got.Verdict == "valid" {
			valid++
		}
	}
	if valid < 5 {
		t.Errorf("only %d valid evidence files in the corpus", valid)
	}
}
