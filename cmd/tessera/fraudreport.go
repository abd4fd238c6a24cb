package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/proof"
)

// fraudReport is what the ledger did with fraud evidence.
type fraudReport struct {
	Node     ledger.PubKey
	Height   uint64
	Stake    uint64 // the node's stake after the slash
	Excluded bool
	Balance  uint64 // the reporter's balance after its reward
}

// readEvidence reads a fraud evidence file (tessera generate and the
// validator write them), bounded by what a ledger transaction can carry.
func readEvidence(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, ledger.MaxEvidence+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > ledger.MaxEvidence {
		return nil, fmt.Errorf("%s: more than the %d bytes of evidence a ledger transaction carries", path, ledger.MaxEvidence)
	}
	return b, nil
}

// reportFraud submits evidence against the node whose receipts it holds,
// signed by reporter. The ledger re-checks it: valid evidence slashes the
// node's stake, rewards the reporter and excludes the node; evidence that
// proves nothing is refused with the checker's reason.
func reportFraud(ctx context.Context, conn *ledgerConn, reporter ed25519.PrivateKey, evidence []byte) (fraudReport, error) {
	var out fraudReport
	ev, err := proof.UnmarshalEvidence(evidence)
	if err != nil {
		return out, fmt.Errorf("fraud evidence: %w", err)
	}
	if len(ev.Node()) != ed25519.PublicKeySize {
		return out, errors.New("fraud evidence names no node (it holds no receipt)")
	}
	copy(out.Node[:], ev.Node())
	rc, err := conn.account(reporter).send(ctx, &ledger.SubmitEvidence{Node: out.Node, Evidence: evidence})
	if err != nil {
		return out, err
	}
	out.Height = rc.Height
	node, err := conn.api.Account(ctx, out.Node)
	if err != nil {
		return out, fmt.Errorf("%s: %w", conn.where(), err)
	}
	out.Stake = node.Stake
	out.Excluded = node.Node != nil && node.Node.Excluded
	me, err := conn.api.Account(ctx, ledger.KeyOf(reporter))
	if err != nil {
		return out, fmt.Errorf("%s: %w", conn.where(), err)
	}
	out.Balance = me.Balance
	return out, nil
}

func (r fraudReport) String() string {
	state := "still serving"
	if r.Excluded {
		state = "excluded for fraud"
	}
	return fmt.Sprintf("evidence against node %s accepted at height %d: its stake is now %d (%s); reporter balance %d",
		shortKey(r.Node), r.Height, r.Stake, state, r.Balance)
}

func newLedgerReportCmd() *cobra.Command {
	cmd := ledgerTxCmd("report EVIDENCE_FILE", "Submit fraud evidence against a node: valid evidence slashes it and rewards you",
		`Submit a fraud evidence file (written by tessera generate when an audit
fails, or by a validator whose re-execution differed) to the ledger. The
ledger re-checks the evidence with the weights of the models it judges
(--evidence-models of its validators or of the embedded store): valid
evidence burns part of the accused node's stake, pays the reporter a share
and excludes the node from further certificates; evidence that proves
nothing is refused with the reason. The accused node is the key that
signed the evidence's receipts.`,
		func(cmd *cobra.Command, conn *ledgerConn, key ed25519.PrivateKey) error {
			ev, err := readEvidence(cmd.Flags().Arg(0))
			if err != nil {
				return err
			}
			r, err := reportFraud(cmd.Context(), conn, key, ev)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), r)
			return nil
		})
	cmd.Args = cobra.ExactArgs(1)
	cmd.Example = `  tessera ledger report run.cert.evidence-1 --key alice.key --url http://127.0.0.1:7070`
	return cmd
}
