package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/router"
)

// newVerifyCmd is `tessera verify`: offline checks of certificates and
// fraud evidence.
func newVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check a certificate or fraud evidence offline",
	}
	cmd.AddCommand(newVerifyCertificateCmd(), newVerifyEvidenceCmd())
	return cmd
}

func newVerifyCertificateCmd() *cobra.Command {
	var (
		allowUnaudited bool
		trusted        []string
	)
	cmd := &cobra.Command{
		Use:   "certificate FILE",
		Short: "Check a generation's certificate: signatures, receipt chain, audit outcome",
		Long: `Check a certificate offline: the auditor's signature, every node's
signature on every receipt, each node's receipt chain from step 0, that
each node's inputs are the previous node's outputs, the root over all
receipts, the audit counts, and each validator's signed verdict on the
nodes it re-executed (it must be about exactly that node's receipts).
Exits 0 only if everything checks and every audit and re-execution
passed; a certificate that states neither an audit nor a re-execution of
every node exits non-zero unless --allow-unaudited. With
--trust-validator, verdicts signed by any other key are refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			c, err := proof.UnmarshalCertificate(b)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if err := proof.VerifyCertificate(c); err != nil {
				fmt.Fprintln(out, "INVALID")
				return err
			}
			describeCertificate(out, c)
			fmt.Fprintln(out, summaryLine(c))
			if len(trusted) > 0 {
				if err := trustedVerdicts(c, trusted); err != nil {
					return err
				}
			}
			switch {
			case !c.Passed:
				return errors.New("the certificate records a failed check, audit or re-execution")
			case !c.Audited && !reexecutedAll(c) && !allowUnaudited:
				return errUnaudited
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&allowUnaudited, "allow-unaudited", false, "exit 0 for a valid certificate that states no audit was done")
	cmd.Flags().StringArrayVar(&trusted, "trust-validator", nil, "accept only verdicts signed by this validator (peer id or hex Ed25519 key; repeatable)")
	return cmd
}

func newVerifyEvidenceCmd() *cobra.Command {
	var (
		modelPath string
		threads   int
	)
	cmd := &cobra.Command{
		Use:   "evidence FILE --model MODEL_OR_SLICE",
		Short: "Re-check fraud evidence with the weights of the accused node's layers",
		Long: `Re-check fraud evidence against the model's own weights (a whole model or a
slice holding the layer at fault): the node's signed receipts and their
chain, the trace openings and their Merkle paths, and the failing equation
recomputed (for matrix products, the full product against a worst-case
bound on float32 rounding, so an honest node is never convicted). Exits 0
if the evidence proves the node computed wrongly, non-zero otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			ev, err := proof.UnmarshalEvidence(b)
			if err != nil {
				return err
			}
			f, _, err := openModelFile(modelPath)
			if err != nil {
				return err
			}
			defer f.Close()
			c, err := commit.Of(f)
			if err != nil {
				return fmt.Errorf("model commitment: %w", err)
			}
			pool := kernels.NewPool(threads)
			defer pool.Close()
			w, err := proof.NewWeights(f, c, pool)
			if err != nil {
				return err
			}
			defer w.Close()
			finding, err := proof.CheckEvidence(ev, w, proof.Tolerances{})
			out := cmd.OutOrStdout()
			if err != nil {
				fmt.Fprintln(out, "NOT PROVEN")
				return err
			}
			r := ev.Receipts[len(ev.Receipts)-1]
			fmt.Fprintf(out, "PROVEN: node %x, layers %d:%d of model %s, session %x\n", ev.Node(), r.First, r.Last, commit.Short(ev.Model), r.Session[:8])
			fmt.Fprintf(out, "  %s\n", finding.Describe())
			if ev.Kind == proof.EvidenceReexec {
				fmt.Fprintf(out, "  (re-executed bit for bit on this machine, %s/%s: an honest node on another instruction set\n"+
					"  may differ in its last bits, so this proof holds for nodes of the same platform; ledgers do not judge it)\n",
					runtime.GOARCH, kernels.Level())
				return nil
			}
			fmt.Fprintf(out, "  (recomputed with the weights: %.3g against a limit of %.3g)\n", finding.Value, finding.Limit)
			return nil
		},
	}
	cmd.Flags().StringVarP(&modelPath, "model", "m", "", "GGUF model or slice holding the layers at fault (default: the embedded kjv-tiny model)")
	cmd.Flags().IntVar(&threads, "threads", 0, "compute threads (default: one per CPU)")
	return cmd
}

// trustedVerdicts fails unless every verdict in c is signed by one of the
// keys (peer ids or hex Ed25519 keys).
func trustedVerdicts(c *proof.Certificate, keys []string) error {
	var ok []ed25519.PublicKey
	for _, k := range keys {
		if b, err := hex.DecodeString(k); err == nil && len(b) == ed25519.PublicKeySize {
			ok = append(ok, b)
			continue
		}
		pk, err := router.PeerKey(k)
		if err != nil {
			return fmt.Errorf("--trust-validator %q: neither a hex Ed25519 key nor a peer id: %w", k, err)
		}
		ok = append(ok, pk)
	}
	for i, h := range c.AllHops() {
		if h.Verdict == nil {
			continue
		}
		if !slices.ContainsFunc(ok, func(k ed25519.PublicKey) bool { return proof.SameKey(k, h.Verdict.Validator) }) {
			return fmt.Errorf("hop %d was re-executed by validator %x, which is not trusted", i, []byte(h.Verdict.Validator))
		}
	}
	return nil
}
