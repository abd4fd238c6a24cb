package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/swarm"
)

// verifyOptions are the proof flags of a client generation.
type verifyOptions struct {
	VKs         []string // verification key files (--vk)
	Certificate string   // where to write the certificate (--certificate)
	Budget      float64  // audit budget, verifier CPU / worker CPU (--audit-budget)
	Cells       int      // cells per receipt instead of the budget (--audit-cells)
}

// addVerifyFlags registers the proof flags of generate.
func addVerifyFlags(cmd *cobra.Command, o *verifyOptions) {
	addAuditFlags(cmd, o)
	cmd.Flags().StringVar(&o.Certificate, "certificate", "", "with --peers: write the signed certificate of the generation to this file")
}

// addAuditFlags registers the audit flags (generate, gateway).
func addAuditFlags(cmd *cobra.Command, o *verifyOptions) {
	f := cmd.Flags()
	f.StringArrayVar(&o.VKs, "vk", nil, "with --peers: audit the nodes with this verification key (repeatable; see tessera vk gen)")
	f.Float64Var(&o.Budget, "audit-budget", proof.DefaultBudget, "audit rate: target verifier CPU as a fraction of the nodes' CPU")
	f.IntVar(&o.Cells, "audit-cells", 0, "audit exactly this many cells of every receipt instead of following --audit-budget")
}

// verification loads the keys and returns the chain's checks: receipts
// always, audits for the layers the keys cover.
func (o *verifyOptions) verification(c commit.Commitments) (*swarm.Verification, []*proof.VerificationKey, error) {
	var vks []*proof.VerificationKey
	for _, path := range o.VKs {
		vk, err := readVK(path)
		if err != nil {
			return nil, nil, err
		}
		if vk.Commit.Model != c.Model {
			return nil, nil, fmt.Errorf("verification key %s is for model %s, not %s", path, commit.Short(vk.Commit.Model), commit.Short(c.Model))
		}
		vks = append(vks, vk)
	}
	if o.Budget <= 0 || o.Budget > 1 {
		return nil, nil, fmt.Errorf("--audit-budget %v must be in (0, 1]", o.Budget)
	}
	return &swarm.Verification{Keys: vks, Audit: proof.AuditConfig{Budget: o.Budget, Cells: o.Cells}}, vks, nil
}

func readVK(path string) (*proof.VerificationKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	vk, err := proof.UnmarshalVK(b)
	if err != nil {
		return nil, fmt.Errorf("verification key %s: %w", path, err)
	}
	return vk, nil
}

// hostSigningKey is the Ed25519 key a node signs receipts with: its libp2p
// identity, so clients know it from the peer id.
func hostSigningKey(h *p2p.Host) (ed25519.PrivateKey, error) {
	raw, err := h.PrivKey().Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("node identity is not an Ed25519 key: %v", err)
	}
	return ed25519.PrivateKey(raw), nil
}

// provenChain is what certify reads of a chain: *swarm.Chain, or a
// chain wrapped by another (e.g. one that fails over).
type provenChain interface {
	Audited() bool
	Proofs() []swarm.HopProof
}

// certify builds and signs the certificate of a generation through chain.
func certify(key ed25519.PrivateKey, model proof.Hash, prompt string, res generate.Result, chain provenChain, vks []*proof.VerificationKey) *proof.Certificate {
	c := &proof.Certificate{Model: model, PromptHash: proof.HashText(prompt), OutputHash: proof.HashText(res.Text),
		PromptTokens: len(res.PromptTokens), OutputTokens: len(res.Tokens), Audited: chain.Audited()}
	if c.Audited && len(vks) == 1 {
		c.VKID = vks[0].ID()
	} else if c.Audited {
		// Several keys: name them all by the hash of their IDs.
		var ids []byte
		for _, vk := range vks {
			id := vk.ID()
			ids = append(ids, id[:]...)
		}
		c.VKID = proof.HashText(string(ids))
	}
	for _, p := range chain.Proofs() {
		c.Hops = append(c.Hops, p.CertHop())
	}
	c.Sign(key)
	return c
}

// writeFile writes b to path atomically with the given mode.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// reportProofs prints what the chain verified and writes the evidence of
// any fraud next to base (base.evidence-<hop>); it returns the evidence
// files written.
func reportProofs(w io.Writer, chain *swarm.Chain, base string) []string {
	var files []string
	// Replaced nodes too: a node distrusted mid-generation was replaced,
	// and its evidence is what matters most.
	for i, p := range append(chain.Proofs(), chain.Retired()...) {
		if p.Local {
			continue
		}
		a := p.Audit
		status := "receipts checked"
		if p.Audited {
			status = fmt.Sprintf("%d receipts audited, %d cells, %d key/value openings, %s opened",
				a.Audited, a.Cells, a.KVOpenings, humanBytes(uint64(a.Bytes)))
		} else {
			status += ", no audit (no verification key covers these layers)"
		}
		fmt.Fprintf(w, "  node %-12s layers %-6s %d receipts: %s\n", shortPeer(p.Peer), p.Range, len(p.Receipts), status)
		if p.Fault != nil {
			fmt.Fprintf(w, "    FAILED: %v\n", p.Fault)
		}
		if p.Retired && p.Fault == nil {
			fmt.Fprintf(w, "    replaced by failover: %v\n", p.Failure)
		}
		for k, f := range p.Frauds {
			fmt.Fprintf(w, "    fraud: %s\n", f.Finding.Describe())
			if base == "" {
				continue
			}
			name := fmt.Sprintf("%s.evidence-%d", base, i)
			if k > 0 {
				name += fmt.Sprintf("-%d", k)
			}
			if err := writeFileAtomic(name, f.Evidence.Marshal(), 0o644); err != nil {
				fmt.Fprintf(w, "    writing evidence: %v\n", err)
				continue
			}
			fmt.Fprintf(w, "    evidence written to %s (check: tessera verify evidence %s --model <slice>)\n", name, name)
			files = append(files, name)
		}
	}
	return files
}

// describeCertificate prints a certificate for people.
func describeCertificate(w io.Writer, c *proof.Certificate) {
	fmt.Fprintf(w, "model       %s\n", commit.Hex(c.Model))
	fmt.Fprintf(w, "prompt      sha256 %x (%d tokens)\n", c.PromptHash, c.PromptTokens)
	fmt.Fprintf(w, "output      sha256 %x (%d tokens)\n", c.OutputHash, c.OutputTokens)
	fmt.Fprintf(w, "auditor     %x\n", []byte(c.Auditor))
	fmt.Fprintf(w, "receipts    root %x\n", c.ReceiptsRoot)
	if c.Audited {
		fmt.Fprintf(w, "audit       with verification key %x\n", c.VKID[:8])
	} else {
		fmt.Fprintln(w, "audit       NONE: no verification key was used; only signatures and the receipt chain were checked")
	}
	for i, h := range c.Hops {
		if h.Local {
			fmt.Fprintf(w, "hop %d       layers %d:%d computed by the client itself\n", i, h.First, h.Last)
			continue
		}
		a := h.Audit
		fmt.Fprintf(w, "hop %d       layers %d:%d node %s key %x: %d receipts, %d audited, %d cells, %d failed, %d refused",
			i, h.First, h.Last, shortPeer(h.Peer), []byte(h.Key)[:8], len(h.Receipts), a.Audited, a.Cells, a.Failed, a.Refused)
		if a.ReexecSteps > 0 {
			fmt.Fprintf(w, ", %d steps re-executed (%d differed)", a.ReexecSteps, a.ReexecFailed)
		}
		fmt.Fprintln(w)
	}
}

var errUnaudited = errors.New("the certificate is authentic but states that no audit was done")

// summaryLine is the verdict of a checked certificate.
func summaryLine(c *proof.Certificate) string {
	var b strings.Builder
	switch {
	case !c.Passed:
		b.WriteString("FAILED: a check or an audit failed")
	case !c.Audited:
		b.WriteString("NOT AUDITED: signatures and receipt chain valid, no audit done")
	default:
		b.WriteString("PASSED: signatures, receipt chain and every audit")
	}
	return b.String()
}

// demoVK makes a fresh verification key over every layer of a whole model
// (the demo's auditor key).
func demoVK(f *gguf.File) (*proof.VerificationKey, error) {
	c, err := commit.Of(f)
	if err != nil {
		return nil, err
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	return proof.GenerateVK(f, c, model.Range{First: 0, Last: cfg.Layers}, seed, proof.VKOptions{Workers: 2})
}
