// Package proofcheck is the ledger's fraud-evidence checker: it adapts
// package proof's evidence checks to ledger.EvidenceChecker, with the
// weights of the model files it is given.
//
// A ledger applies the checker inside its state machine, and validators
// replay old blocks with newer binaries, so the checker's answer is part of
// consensus: for the same node and evidence it must be the same on every
// machine and forever. Three things make it so:
//
//   - The arithmetic is canonical (package proof computes evidence checks
//     with no fused multiply-add and its own exp, log, pow and sincos; the
//     verdicts of the frozen corpus in testdata are checked on amd64 and,
//     in CI, on arm64 and on amd64 without FMA under qemu).
//   - The rules are frozen here: the tolerances (Tolerances) and what is
//     judged. Only cell evidence (an audited cell whose equation fails) is
//     judged. Re-execution evidence is refused, on every machine: its
//     verdict compares hashes of a full forward pass, whose bits differ
//     across instruction sets in package model's float32 arithmetic
//     (fused multiply-adds on arm64, math.Exp per CPU), so two honest
//     ledgers could disagree.
//   - Rejections carry one of a few fixed reasons (the Reason* constants),
//     never the text of an underlying error: the reason is stored in the
//     block's results, which replay compares byte for byte.
//
// Evidence about a model or layer whose weights the checker lacks gets an
// error wrapping ledger.ErrCannotJudge: not a verdict, and never
// "invalid", since another machine holding the weights would convict.
package proofcheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
)

// Tolerances are the ledger's tolerances for the elementwise equations,
// frozen: changing them would change old verdicts. (Matrix products are
// judged against a worst-case rounding bound that needs none.)
var Tolerances = proof.Tolerances{Freivalds: 1e-6, Norm: 1e-5, Attention: 1e-5}

// The reasons a checker gives for refusing evidence. They are stored in
// block results: never change them.
const (
	ReasonMalformed    = "the evidence does not decode"
	ReasonReexec       = "re-execution evidence is not judged by the ledger (its verdict depends on the machine)"
	ReasonOtherNode    = "the evidence accuses another node"
	ReasonReceipts     = "the evidence's receipts do not verify"
	ReasonInconsistent = "the evidence's openings, rows or finding do not hold together"
	ReasonNotProven    = "the evidence does not prove a failure: the equation holds"
	ReasonFailed       = "the evidence could not be checked"
)

// errReason is a refusal with one of the fixed reasons.
type errReason string

func (e errReason) Error() string { return string(e) }

// Checker judges evidence with the weights of the model files added to it.
// It implements ledger.EvidenceChecker and is safe for concurrent use.
type Checker struct {
	mu      sync.Mutex
	pending []string // files named by Open, not read yet
	models  []*held
	owned   []*gguf.File
	pool    *kernels.Pool
}

// held is one model file (whole model or slice) and its weights.
type held struct {
	name    string
	commit  commit.Commitments
	layers  model.Range
	weights *proof.Weights
}

// New returns a checker that holds no weights yet (see Add). Without
// weights it answers every well-formed evidence with ErrCannotJudge.
func New() *Checker { return &Checker{pool: kernels.NewPool(1)} }

// Open returns a checker over the GGUF models and slices at paths: files,
// or directories whose *.gguf files are all used (not recursively). It
// only lists them: they are read (and their commitments checked, which
// reads each file whole once) by Load, or when the first evidence is
// judged, so that opening a ledger that holds no evidence costs nothing.
// Files that hold no layers (a client slice) are skipped.
func Open(paths ...string) (*Checker, error) {
	c := New()
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("proofcheck: %w", err)
		}
		if !st.IsDir() {
			c.pending = append(c.pending, p)
			continue
		}
		files, err := filepath.Glob(filepath.Join(p, "*.gguf"))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("proofcheck: %w", err)
		}
		sort.Strings(files)
		c.pending = append(c.pending, files...)
	}
	return c, nil
}

var errNoLayers = errors.New("proofcheck: the file holds no layers")

// Load reads the files Open listed now, checking their commitments (a
// node calls it at start to report bad files at once).
func (c *Checker) Load() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadLocked()
}

func (c *Checker) loadLocked() error {
	for len(c.pending) > 0 {
		path := c.pending[0]
		f, err := gguf.Open(path)
		if err != nil {
			return fmt.Errorf("proofcheck: %w", err)
		}
		if err := c.addLocked(f, path); err != nil {
			f.Close()
			if !errors.Is(err, errNoLayers) {
				return err
			}
		} else {
			c.owned = append(c.owned, f)
		}
		c.pending = c.pending[1:]
	}
	return nil
}

// Add makes the checker use the weights of f (a whole model or a layer
// slice), named name in Models. It checks f's commitments; it does not
// close f, which must stay open while the checker is used.
func (c *Checker) Add(f *gguf.File, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addLocked(f, name)
}

func (c *Checker) addLocked(f *gguf.File, name string) error {
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return fmt.Errorf("proofcheck: %s: %w", name, err)
	}
	layers := model.Range{First: 0, Last: cfg.Layers}
	if s, ok, err := commit.ReadSlice(f); err != nil {
		return fmt.Errorf("proofcheck: %s: %w", name, err)
	} else if ok {
		layers = s.Layers
	}
	if layers.Len() == 0 {
		return fmt.Errorf("%w: %s", errNoLayers, name)
	}
	cm, err := commit.Of(f)
	if err != nil {
		return fmt.Errorf("proofcheck: %s: model commitment: %w", name, err)
	}
	w, err := proof.NewWeights(f, cm, c.pool)
	if err != nil {
		return fmt.Errorf("proofcheck: %s: %w", name, err)
	}
	c.models = append(c.models, &held{name: name, commit: cm, layers: layers, weights: w})
	return nil
}

// Models describes the weights held, one line per file: model commitment,
// layers, name (and the files not read yet).
func (c *Checker) Models() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, h := range c.models {
		out = append(out, fmt.Sprintf("model %s layers %s (%s)", commit.Short(h.commit.Model), h.layers, h.name))
	}
	for _, p := range c.pending {
		out = append(out, p+" (not read yet)")
	}
	return out
}

// Close releases the weights and the files Open opened.
func (c *Checker) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.models {
		h.weights.Close()
	}
	c.models = nil
	var errs []error
	for _, f := range c.owned {
		errs = append(errs, f.Close())
	}
	c.owned = nil
	if c.pool != nil {
		c.pool.Close()
		c.pool = nil
	}
	return errors.Join(errs...)
}

// CheckEvidence implements ledger.EvidenceChecker: nil when evidence proves
// that node computed a cell of its trace wrongly, an error with one of the
// Reason* texts when it does not, and an error wrapping
// ledger.ErrCannotJudge when the checker lacks the weights to decide.
func (c *Checker) CheckEvidence(node ledger.PubKey, evidence []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errReason(ReasonFailed)
		}
	}()
	e, err := proof.UnmarshalEvidence(evidence)
	if err != nil {
		return errReason(ReasonMalformed)
	}
	if e.Kind != proof.EvidenceCell {
		return errReason(ReasonReexec)
	}
	if !slices.Equal(e.Node(), node[:]) {
		return errReason(ReasonOtherNode)
	}
	if err := e.Validate(); err != nil {
		if errors.Is(err, proof.ErrBadReceipt) {
			return errReason(ReasonReceipts)
		}
		return errReason(ReasonInconsistent)
	}
	w, err := c.weights(e.Model, e.Finding.Layer)
	if err != nil {
		return err
	}
	_, err = proof.CheckEvidence(e, w, Tolerances)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, proof.ErrNoWeights):
		return fmt.Errorf("%w: %v", ledger.ErrCannotJudge, err)
	case errors.Is(err, proof.ErrNotProven):
		return errReason(ReasonNotProven)
	case errors.Is(err, proof.ErrBadReceipt):
		return errReason(ReasonReceipts)
	case errors.Is(err, proof.ErrMalformed):
		return errReason(ReasonMalformed)
	}
	return errReason(ReasonInconsistent)
}

// weights returns the weights of a file of model mc that holds layer.
func (c *Checker) weights(mc proof.Hash, layer int) (*proof.Weights, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.loadLocked(); err != nil {
		return nil, fmt.Errorf("%w: %v", ledger.ErrCannotJudge, err)
	}
	var ranges []string
	for _, h := range c.models {
		if h.commit.Model != mc {
			continue
		}
		if layer >= h.layers.First && layer < h.layers.Last {
			return h.weights, nil
		}
		ranges = append(ranges, h.layers.String())
	}
	if ranges == nil {
		return nil, fmt.Errorf("%w: no weights of model %s here", ledger.ErrCannotJudge, commit.Short(mc))
	}
	return nil, fmt.Errorf("%w: layer %d of model %s is not held here (held: %s)", ledger.ErrCannotJudge, layer, commit.Short(mc), strings.Join(ranges, ", "))
}
