package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/router"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// verifyOptions are the proof flags of a client generation.
type verifyOptions struct {
	VKs         []string // verification key files (--vk)
	Certificate string   // where to write the certificate (--certificate)
	Budget      float64  // audit budget, verifier CPU / worker CPU (--audit-budget)
	Cells       int      // cells per receipt instead of the budget (--audit-cells)
	Validator   string   // multiaddr of a validator to delegate re-execution to (--validator)
	ReexecRate  float64  // probability that a node's session is re-executed (--reexec-rate)
	// ValidatorTimeout bounds the wait for the validator's verdicts
	// (--validator-timeout; 0: validatorTimeout).
	ValidatorTimeout time.Duration
}

// addVerifyFlags registers the proof flags of generate.
func addVerifyFlags(cmd *cobra.Command, o *verifyOptions) {
	addAuditFlags(cmd, o)
	f := cmd.Flags()
	f.StringVar(&o.Certificate, "certificate", "", "with --peers: write the signed certificate of the generation to this file")
	// Re-execution is delegated by generate only: the gateway answers
	// before a validator could, and its certificates carry no verdicts.
	f.StringVar(&o.Validator, "validator", "", "with --peers: have this validator (full multiaddr, see tessera validator) re-execute sampled nodes' sessions")
	f.Float64Var(&o.ReexecRate, "reexec-rate", 0.1, "with --validator: probability that each node's session is re-executed")
	f.DurationVar(&o.ValidatorTimeout, "validator-timeout", validatorTimeout, "with --validator: how long to wait for its verdicts after the generation; a node it has not answered by then is not re-executed")
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
	if o.ReexecRate < 0 || o.ReexecRate > 1 {
		return nil, nil, fmt.Errorf("--reexec-rate %v must be in [0, 1]", o.ReexecRate)
	}
	if o.Validator != "" {
		if _, err := p2p.ParsePeerAddrs(o.Validator); err != nil {
			return nil, nil, fmt.Errorf("--validator: %w", err)
		}
	}
	// Re-execution needs every call's input and output, kept per hop.
	return &swarm.Verification{Keys: vks, Audit: proof.AuditConfig{Budget: o.Budget, Cells: o.Cells}, KeepInputs: o.Validator != ""}, vks, nil
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
	Retired() []swarm.HopProof
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
	for _, p := range chain.Retired() {
		if len(p.Receipts) > 0 {
			c.Retired = append(c.Retired, p.CertHop())
		}
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
			b := f.Evidence.Marshal()
			// Next to the certificate, or in the working directory.
			name := fmt.Sprintf("tessera-%x.evidence", sha256.Sum256(b))
			if base != "" {
				name = fmt.Sprintf("%s.evidence-%d", base, i)
				if k > 0 {
					name += fmt.Sprintf("-%d", k)
				}
			}
			if err := writeFileAtomic(name, b, 0o644); err != nil {
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
		describeHop(w, fmt.Sprintf("hop %d", i), h)
	}
	for i, h := range c.Retired {
		describeHop(w, fmt.Sprintf("retired %d", i), h)
	}
	if len(c.Retired) > 0 {
		fmt.Fprintln(w, "            (retired: replaced by failover; its receipts cover the session's first calls, which its replacement replayed)")
	}
}

// describeHop prints one hop of a certificate, named name.
func describeHop(w io.Writer, name string, h proof.CertHop) {
	if h.Local {
		fmt.Fprintf(w, "%-11s layers %d:%d computed by the client itself\n", name, h.First, h.Last)
		return
	}
	a := h.Audit
	fmt.Fprintf(w, "%-11s layers %d:%d node %s key %x: %d receipts, %d audited, %d cells, %d failed, %d refused",
		name, h.First, h.Last, shortPeer(h.Peer), []byte(h.Key)[:8], len(h.Receipts), a.Audited, a.Cells, a.Failed, a.Refused)
	if a.ReexecSteps > 0 {
		fmt.Fprintf(w, ", %d steps re-executed (%d differed)", a.ReexecSteps, a.ReexecFailed)
	}
	fmt.Fprintln(w)
	if v := h.Verdict; v != nil {
		fmt.Fprintf(w, "            re-executed by validator %x: %s\n", []byte(v.Validator)[:8], v.Describe())
	} else {
		fmt.Fprintln(w, "            re-execution NONE: no validator's verdict on this node's session")
	}
}

// reexecutedAll reports whether every remote hop carries a validator's
// verdict that matched (a full spot re-execution of the generation).
func reexecutedAll(c *proof.Certificate) bool {
	remote := 0
	for _, h := range c.Hops {
		if h.Local {
			continue
		}
		remote++
		if h.Verdict == nil || !h.Verdict.Matched() {
			return false
		}
	}
	return remote > 0
}

var errUnaudited = errors.New("the certificate is authentic but states that no audit was done")

// summaryLine is the verdict of a checked certificate.
func summaryLine(c *proof.Certificate) string {
	var b strings.Builder
	verdicts := 0
	for _, h := range c.AllHops() {
		if h.Verdict != nil {
			verdicts++
		}
	}
	switch {
	case !c.Passed:
		b.WriteString("FAILED: a check, an audit or a re-execution failed")
	case c.Audited:
		b.WriteString("PASSED: signatures, receipt chain and every audit")
		if verdicts > 0 {
			fmt.Fprintf(&b, ", and %d node(s) re-executed by a validator", verdicts)
		}
	case reexecutedAll(c):
		b.WriteString("PASSED: signatures, receipt chain, and every node re-executed by a validator (no audit)")
	default:
		b.WriteString("NOT AUDITED: signatures and receipt chain valid, no audit done")
		if verdicts > 0 {
			fmt.Fprintf(&b, " (%d node(s) re-executed by a validator)", verdicts)
		}
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

// validatorTimeout is the default bound on a generation's delegated
// re-executions, answers included: a validator that dies or stops
// answering mid-job costs the client at most this.
const validatorTimeout = 5 * time.Minute

// sampled draws whether to re-execute at the given rate, from crypto/rand:
// the node must not be able to predict which sessions are checked.
func sampled(rate float64) (bool, error) {
	if rate >= 1 {
		return true, nil
	}
	if rate <= 0 {
		return false, nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return false, err
	}
	return float64(binary.LittleEndian.Uint64(b[:])>>11)/(1<<53) < rate, nil
}

// delegateReexec has the validator at o.Validator re-execute the session of
// each trusted remote hop of chain, each sampled with probability
// o.ReexecRate. Each verdict is checked (signed by the validator's peer
// key, about exactly the hop's receipts, with the evidence it names) and
// recorded in the chain, so the certificate carries it and a difference
// distrusts the node with its evidence (which reportProofs writes). A
// validator that cannot be reached or refuses is reported, not fatal, and
// so is one that dies mid-job (its connection resets) or stops answering
// (o.ValidatorTimeout bounds the wait): the certificate then states no
// re-execution for the hop.
func delegateReexec(ctx context.Context, log io.Writer, h *p2p.Host, chain *swarm.Chain, o verifyOptions) {
	if o.Validator == "" {
		return
	}
	timeout := o.ValidatorTimeout
	if timeout <= 0 {
		timeout = validatorTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	late := func(err error) error {
		// (The stream's deadline, the same, may fire before ctx's.)
		if dl, _ := ctx.Deadline(); err != nil && !time.Now().Before(dl) {
			return fmt.Errorf("no verdict within --validator-timeout %v: %w", timeout, err)
		}
		return err
	}
	var id string
	var key ed25519.PublicKey
	for i, p := range chain.Proofs() {
		if p.Local || p.Fault != nil || len(p.Receipts) == 0 {
			continue
		}
		pick, err := sampled(o.ReexecRate)
		if err != nil {
			fmt.Fprintf(log, "  re-execution: drawing the sample: %v\n", err)
			return
		}
		if !pick {
			fmt.Fprintf(log, "  node %-12s layers %-6s not sampled for re-execution (rate %g)\n", shortPeer(p.Peer), p.Range, o.ReexecRate)
			continue
		}
		if id == "" {
			if id, err = h.Connect(ctx, o.Validator); err != nil {
				fmt.Fprintf(log, "  re-execution: cannot reach the validator %s: %v\n", o.Validator, late(err))
				return
			}
			if key, err = router.PeerKey(id); err != nil {
				fmt.Fprintf(log, "  re-execution: validator %s: %v\n", o.Validator, err)
				return
			}
		}
		v, ev, err := reexecuteOn(ctx, h, id, key, chain, i, p)
		if err != nil {
			fmt.Fprintf(log, "  node %-12s layers %-6s NOT re-executed: %v\n", shortPeer(p.Peer), p.Range, late(err))
			continue
		}
		if err := chain.RecordVerdict(i, v, ev); err != nil {
			fmt.Fprintf(log, "  node %-12s layers %-6s: %v\n", shortPeer(p.Peer), p.Range, err)
			continue
		}
		status := "match"
		if !v.Matched() {
			status = "DIFFERENCE"
		}
		fmt.Fprintf(log, "  node %-12s layers %-6s re-executed by validator %s: %s: %s\n", shortPeer(p.Peer), p.Range, shortPeer(id), status, v.Describe())
	}
}

// reexecuteOn sends hop i's session to the validator (peer id, key) and
// returns its checked verdict and, on a difference, the evidence.
func reexecuteOn(ctx context.Context, h *p2p.Host, id string, key ed25519.PublicKey, chain *swarm.Chain, i int, p swarm.HopProof) (*proof.Verdict, *proof.Evidence, error) {
	job, err := chain.ReexecJob(i)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.OpenStream(ctx, id, wire.ValidateProtocolID)
	if err != nil {
		return nil, nil, fmt.Errorf("opening a stream to the validator: %w", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	b := job.Marshal()
	r := bufio.NewReader(s)
	if err := wire.WriteMessage(s, &wire.ValidateJob{Job: b}); err != nil {
		// A validator that refuses a job (too large, busy) answers before
		// it has read it all, and closes the stream.
		_ = s.SetReadDeadline(time.Now().Add(2 * time.Second))
		if msg, rerr := wire.ReadValidateMessage(r, wire.MaxVerdict); rerr == nil {
			if we, ok := msg.(*wire.Error); ok {
				return nil, nil, fmt.Errorf("the validator refused the job (%s): %w", humanBytes(uint64(len(b))), we)
			}
		}
		return nil, nil, fmt.Errorf("sending the job (%s): %w", humanBytes(uint64(len(b))), err)
	}
	// The answer holds at most the verdict and evidence as large as the job.
	msg, err := wire.ReadValidateMessage(r, 2*len(b)+wire.MaxVerdict+(1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the verdict: %w", err)
	}
	var m *wire.ValidateVerdict
	switch x := msg.(type) {
	case *wire.Error:
		return nil, nil, fmt.Errorf("the validator refused: %w", x)
	case *wire.ValidateVerdict:
		m = x
	default:
		return nil, nil, errors.New("the validator answered something other than a verdict")
	}
	v, err := proof.UnmarshalVerdict(m.Verdict)
	if err != nil {
		return nil, nil, err
	}
	if err := v.Verify(); err != nil {
		return nil, nil, err
	}
	if !proof.SameKey(v.Validator, key) {
		return nil, nil, fmt.Errorf("the verdict is signed by %x, not by the validator's key", []byte(v.Validator))
	}
	if err := v.About(p.Key, p.Receipts); err != nil {
		return nil, nil, err
	}
	if v.Matched() {
		return v, nil, nil
	}
	ev, err := v.OpenEvidence(m.Evidence, p.Receipts)
	if err != nil {
		return nil, nil, err
	}
	return v, ev, nil
}
