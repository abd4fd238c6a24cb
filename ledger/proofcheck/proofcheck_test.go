package proofcheck_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/proofcheck"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/slice"
)

var (
	sharedOnce    sync.Once
	sharedChecker *proofcheck.Checker
	sharedWeights map[proof.Hash]*proof.Weights
	sharedErr     error
)

// shared loads the checker and weights of the corpus models once.
func shared(t testing.TB) {
	t.Helper()
	sharedOnce.Do(func() {
		ms := corpusModels(t)
		sharedChecker = proofcheck.New()
		sharedWeights = map[proof.Hash]*proof.Weights{}
		pool := kernels.NewPool(1)
		for _, cm := range ms {
			if sharedErr = sharedChecker.Add(cm.file, cm.name); sharedErr != nil {
				return
			}
			c, err := commit.Of(cm.file)
			if err != nil {
				sharedErr = err
				return
			}
			if sharedWeights[c.Model], sharedErr = proof.NewWeights(cm.file, c, pool); sharedErr != nil {
				return
			}
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
}

func checker(t testing.TB) *proofcheck.Checker { shared(t); return sharedChecker }

// weights returns the weights of model mc, nil if it is not a corpus model.
func weights(t testing.TB, mc proof.Hash) *proof.Weights { shared(t); return sharedWeights[mc] }

// corpusFile reads an evidence file of the corpus.
func corpusFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, name+".evidence"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func accusedKey(t testing.TB, b []byte) ledger.PubKey {
	t.Helper()
	e, err := proof.UnmarshalEvidence(b)
	if err != nil {
		t.Fatal(err)
	}
	var k ledger.PubKey
	copy(k[:], e.Node())
	return k
}

// TestCheckerVerdicts: valid evidence is valid, forged, altered or
// misdirected evidence is refused with its fixed reason.
func TestCheckerVerdicts(t *testing.T) {
	ck := checker(t)
	down := corpusFile(t, "down-1e-2")
	node := accusedKey(t, down)
	if err := ck.CheckEvidence(node, down); err != nil {
		t.Fatalf("valid evidence: %v", err)
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x10
		return c
	}
	var other ledger.PubKey
	other[0] = 1
	cases := []struct {
		name string
		node ledger.PubKey
		ev   []byte
		want string
	}{
		{"another node", other, down, proofcheck.ReasonOtherNode},
		{"garbage", node, []byte("fraud!"), proofcheck.ReasonMalformed},
		{"truncated", node, down[:len(down)-3], proofcheck.ReasonMalformed},
		{"a value in an opening altered", node, flip(down, len(down)-200), proofcheck.ReasonInconsistent},
		{"wrong equation", node, corpusFile(t, "wrong-equation"), proofcheck.ReasonNotProven},
		{"re-execution", node, corpusFile(t, "reexec"), proofcheck.ReasonReexec},
		{"forged signature", node, corpusFile(t, "forged-signature"), proofcheck.ReasonReceipts},
	}
	for _, tc := range cases {
		err := ck.CheckEvidence(tc.node, tc.ev)
		if err == nil || err.Error() != tc.want || errors.Is(err, ledger.ErrCannotJudge) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestCannotJudge: without the weights of the model, or of the layer at
// fault, the checker cannot judge (never "invalid"); with a directory of
// slices that holds the layer it can.
func TestCannotJudge(t *testing.T) {
	down := corpusFile(t, "down-1e-2") // about layer 5
	node := accusedKey(t, down)
	empty := proofcheck.New()
	defer empty.Close()
	if err := empty.CheckEvidence(node, down); !errors.Is(err, ledger.ErrCannotJudge) {
		t.Fatalf("no weights: %v", err)
	}
	// Malformed evidence is refused even without weights: every machine
	// agrees on that.
	if err := empty.CheckEvidence(node, corpusFile(t, "finding-outside")); err == nil || err.Error() != proofcheck.ReasonInconsistent {
		t.Fatalf("malformed evidence without weights: %v", err)
	}

	src, _ := models.Default()
	dir := t.TempDir()
	if _, err := slice.Write(src, []model.Range{{First: 0, Last: 3}, {First: 3, Last: 6}}, dir, slice.Options{Base: "kjv"}); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(t.TempDir(), "first-half")
	if err := os.Mkdir(partial, 0o755); err != nil {
		t.Fatal(err)
	}
	first, _ := filepath.Glob(filepath.Join(dir, "*layers-0-3*.gguf"))
	if len(first) != 1 {
		t.Fatalf("slices: %v", first)
	}
	if err := os.Rename(first[0], filepath.Join(partial, filepath.Base(first[0]))); err != nil {
		t.Fatal(err)
	}
	half, err := proofcheck.Open(partial)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	if err := half.CheckEvidence(node, down); !errors.Is(err, ledger.ErrCannotJudge) || !strings.Contains(err.Error(), "layer 5") {
		t.Fatalf("layer not held: %v", err)
	}
	rest, err := proofcheck.Open(partial, dir) // the client file in dir is skipped
	if err != nil {
		t.Fatal(err)
	}
	defer rest.Close()
	if err := rest.Load(); err != nil {
		t.Fatal(err)
	}
	if len(rest.Models()) != 2 {
		t.Fatalf("models: %v", rest.Models())
	}
	if err := rest.CheckEvidence(node, down); err != nil {
		t.Fatalf("with the slice holding the layer: %v", err)
	}
	if _, err := proofcheck.Open(filepath.Join(dir, "missing.gguf")); err == nil {
		t.Fatal("opened a missing file")
	}
	// A damaged file is reported by Load, and makes evidence unjudgeable
	// rather than invalid.
	broken := filepath.Join(t.TempDir(), "broken.gguf")
	if err := os.WriteFile(broken, []byte("GGUF but not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad, err := proofcheck.Open(broken)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Load(); err == nil || !strings.Contains(err.Error(), "broken.gguf") {
		t.Fatalf("damaged file: %v", err)
	}
	if err := bad.CheckEvidence(node, down); !errors.Is(err, ledger.ErrCannotJudge) {
		t.Fatalf("damaged file, evidence: %v", err)
	}
}

// TestLedgerSlashes: wired into the ledger's state machine, valid evidence
// slashes the node and rewards the reporter; refused evidence changes
// nothing and says why; evidence it cannot judge is not a verdict.
func TestLedgerSlashes(t *testing.T) {
	down := corpusFile(t, "down-1e-2")
	node := accusedKey(t, down)
	reporterKey := nodeKey(7)
	reporter := ledger.KeyOf(reporterKey)
	g := ledger.Genesis{ChainID: "proofcheck-test", Params: ledger.DefaultParams(true), Accounts: []ledger.GenesisAccount{
		{Key: node, Balance: 10, Stake: 2000},
		{Key: reporter, Balance: 10},
	}}
	s, err := ledger.NewState(g)
	if err != nil {
		t.Fatal(err)
	}
	m := ledger.Machine{Evidence: checker(t)}
	tx := func(key []byte, nonce uint64, body ledger.Body) *ledger.Tx {
		x := &ledger.Tx{ChainID: g.ChainID, Nonce: nonce, Body: body}
		x.Sign(key)
		return x
	}
	// The node's account is its receipt key: register it.
	nodePriv := nodeKey(1)
	if ledger.KeyOf(nodePriv) != node {
		t.Fatal("the corpus was not made with nodeKey(1)")
	}
	if s, _, err = m.Apply(s, tx(nodePriv, 0, &ledger.RegisterNode{Capacity: 3})); err != nil {
		t.Fatal(err)
	}
	var re *ledger.RejectError
	_, _, err = m.Apply(s, tx(reporterKey, 0, &ledger.SubmitEvidence{Node: node, Evidence: corpusFile(t, "wrong-equation")}))
	if !errors.As(err, &re) || re.Code != ledger.CodeInvalidEvidence || !strings.Contains(err.Error(), proofcheck.ReasonNotProven) {
		t.Fatalf("unproven evidence: %v", err)
	}
	unjudged := ledger.Machine{Evidence: proofcheck.New()}
	_, _, err = unjudged.Apply(s, tx(reporterKey, 0, &ledger.SubmitEvidence{Node: node, Evidence: down}))
	if !errors.As(err, &re) || re.Code != ledger.CodeUnjudgeable {
		t.Fatalf("without weights: %v", err)
	}
	s2, events, err := m.Apply(s, tx(reporterKey, 0, &ledger.SubmitEvidence{Node: node, Evidence: down}))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := s2.Node(node)
	if !n.Excluded || s2.Account(node).Stake != 1000 || s2.Account(reporter).Balance != 10+200 {
		t.Fatalf("after slashing: node %+v, stake %d, reporter %d; events %v", n, s2.Account(node).Stake, s2.Account(reporter).Balance, events)
	}
}

// FuzzCheckEvidence: damaged evidence never makes the checker panic (its
// recovery would answer ReasonFailed) and gets the same answer twice.
func FuzzCheckEvidence(f *testing.F) {
	for _, name := range []string{"down-1e-2", "attention", "residual", "input", "q"} {
		f.Add(corpusFile(f, name))
	}
	ck := checker(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var node ledger.PubKey
		if e, err := proof.UnmarshalEvidence(b); err == nil {
			copy(node[:], e.Node())
		}
		err1 := ck.CheckEvidence(node, b)
		err2 := ck.CheckEvidence(node, b)
		if err1 != nil && err1.Error() == proofcheck.ReasonFailed {
			t.Fatal("the checker panicked")
		}
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("two answers: %v, then %v", err1, err2)
		}
	})
}
