package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/proof"
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
	var allowUnaudited bool
	cmd := &cobra.Command{
		Use:   "certificate FILE",
		Short: "Check a generation's certificate: signatures, receipt chain, audit outcome",
		Long: `Check a certificate offline: the auditor's signature, every node's
signature on every receipt, each node's receipt chain from step 0, that
each node's inputs are the previous node's outputs, the root over all
receipts, and the audit counts. Exits 0 only if everything checks and
every audit passed; a certificate that states no audit was done exits
non-zero unless --allow-unaudited.`,
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
			switch {
			case !c.Passed:
				return errors.New("the certificate records a failed check or audit")
			case !c.Audited && !allowUnaudited:
				return errUnaudited
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&allowUnaudited, "allow-unaudited", false, "exit 0 for a valid certificate that states no audit was done")
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
			fmt.Fprintf(out, "  (recomputed with the weights: %.3g against a limit of %.3g)\n", finding.Value, finding.Limit)
			return nil
		},
	}
	cmd.Flags().StringVarP(&modelPath, "model", "m", "", "GGUF model or slice holding the layers at fault (default: the embedded kjv-tiny model)")
	cmd.Flags().IntVar(&threads, "threads", 0, "compute threads (default: one per CPU)")
	return cmd
}
