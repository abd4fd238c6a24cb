package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/proof"
)

// ledgerCertificateID is the id a proof certificate is settled under:
// the SHA-256 of its file (proof.Certificate.Marshal), so anyone holding
// the certificate finds its settlement, and one certificate settles once.
func ledgerCertificateID(c *proof.Certificate) ledger.Hash { return sha256.Sum256(c.Marshal()) }

// certificateSettlement is the ledger transaction that settles a signed
// proof certificate, paid by client: the certificate's id, model, auditor
// and outcome, and each node's work — its layers times the token
// positions its receipts cover (the highest position reached, so a
// rewound step is not paid twice). Nodes failover replaced are paid for
// the positions they computed before, their replacements for the whole
// session (they replayed it). Hops the client computed itself are not
// paid. The auditor's signature is left for the auditor to add.
func certificateSettlement(c *proof.Certificate, client ledger.PubKey) (*ledger.SubmitCertificate, error) {
	if len(c.Auditor) != ed25519.PublicKeySize {
		return nil, errors.New("settle: the certificate is not signed")
	}
	tokens := uint64(c.PromptTokens) + uint64(c.OutputTokens)
	s := &ledger.SubmitCertificate{ID: ledgerCertificateID(c), Model: ledger.Hash(c.Model), Client: client,
		Tokens: tokens, Passed: c.Passed}
	copy(s.Auditor[:], c.Auditor)
	// A node that served two hops (a retired one and another, say) is paid
	// for the larger: the ledger takes one share per node.
	share := map[ledger.PubKey]int{}
	for i, h := range c.AllHops() {
		if h.Local {
			continue
		}
		if len(h.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("settle: hop %d (layers %d:%d) names no node key", i, h.First, h.Last)
		}
		var positions uint64
		for _, r := range h.Receipts {
			positions = max(positions, uint64(r.Start)+uint64(r.N))
		}
		if positions == 0 {
			continue // the node computed nothing
		}
		var node ledger.PubKey
		copy(node[:], h.Key)
		w := ledger.Work{Node: node, Layers: uint32(h.Last - h.First), Positions: min(positions, tokens)}
		if j, seen := share[node]; seen {
			old, _ := s.Work[j].Units()
			if units, _ := w.Units(); units > old {
				s.Work[j] = w
			}
			continue
		}
		share[node] = len(s.Work)
		s.Work = append(s.Work, w)
	}
	return s, nil
}

// settlement is a settled certificate and what was left out of it.
type settlement struct {
	Record  ledger.Certificate
	Receipt ledger.Receipt
	Balance uint64 // the client's balance after it
	// Unpaid are nodes the ledger cannot pay (not registered, or
	// excluded for fraud): their work is left out of the certificate.
	Unpaid []unpaidNode
}

type unpaidNode struct {
	Node   ledger.PubKey
	Units  uint64
	Reason string
}

// errNothingToSettle: no node of the certificate can be paid.
var errNothingToSettle = errors.New("no node of the certificate is registered on the ledger: nothing to settle")

// settleCertificate submits the settlement of c, paid by client's account
// and attested by auditor (the key that signed c), and returns what the
// ledger recorded. Nodes the ledger cannot pay are left out (the ledger
// refuses a certificate that names one), so the client pays only for work
// that earns something.
func settleCertificate(ctx context.Context, conn *ledgerConn, client, auditor ed25519.PrivateKey, c *proof.Certificate) (settlement, error) {
	var out settlement
	if !proof.SameKey(auditor.Public().(ed25519.PublicKey), c.Auditor) {
		return out, errors.New("settle: the auditor key did not sign this certificate")
	}
	s, err := certificateSettlement(c, ledger.KeyOf(client))
	if err != nil {
		return out, err
	}
	chainID, err := conn.chain(ctx)
	if err != nil {
		return out, err
	}
	var paid []ledger.Work
	for _, w := range s.Work {
		v, err := conn.api.Account(ctx, w.Node)
		if err != nil {
			return out, fmt.Errorf("%s: %w", conn.where(), err)
		}
		units, _ := w.Units()
		switch {
		case v.Node == nil:
			out.Unpaid = append(out.Unpaid, unpaidNode{w.Node, units, "not registered on the ledger"})
		case v.Node.Excluded:
			out.Unpaid = append(out.Unpaid, unpaidNode{w.Node, units, "excluded for fraud"})
		default:
			paid = append(paid, w)
		}
	}
	if len(paid) == 0 {
		return out, errNothingToSettle
	}
	s.Work = paid
	s.SignAuditor(chainID, auditor)
	acct := conn.account(client)
	if out.Receipt, err = acct.send(ctx, s); err != nil {
		return out, err
	}
	if out.Record, err = conn.api.Certificate(ctx, s.ID); err != nil {
		return out, fmt.Errorf("%s: reading the settled certificate: %w", conn.where(), err)
	}
	v, err := conn.api.Account(ctx, acct.pub)
	if err != nil {
		return out, fmt.Errorf("%s: %w", conn.where(), err)
	}
	out.Balance = v.Balance
	return out, nil
}

// printSettlement says what a settlement moved; nodes are named by the
// hops of c.
func printSettlement(w io.Writer, s settlement, c *proof.Certificate) {
	r := s.Record
	verdict := "audit passed"
	switch {
	case !r.Passed:
		verdict = "FAILED audit: the nodes are not paid"
	case !c.Audited:
		verdict = "receipts checked, not audited"
	}
	fmt.Fprintf(w, "  ledger: certificate %s… settled at height %d (%s): client paid %d credits (balance %d), auditor fee %d\n",
		r.ID.String()[:12], r.Height, verdict, r.Charged, s.Balance, r.Fee)
	for i, wk := range r.Work {
		fmt.Fprintf(w, "          node %s earned %d for %d work units (%d layers × %d positions)\n",
			nodeName(c, wk.Node), r.Earned[i], uint64(wk.Layers)*wk.Positions, wk.Layers, wk.Positions)
	}
	for _, u := range s.Unpaid {
		fmt.Fprintf(w, "          node %s not paid for %d work units: %s\n", nodeName(c, u.Node), u.Units, u.Reason)
	}
}

// nodeName names a node of c by its peer id and layers.
func nodeName(c *proof.Certificate, k ledger.PubKey) string {
	for _, h := range c.AllHops() {
		if proof.SameKey(h.Key, k[:]) {
			return fmt.Sprintf("%s (layers %d:%d)", shortPeer(h.Peer), h.First, h.Last)
		}
	}
	return shortKey(k)
}

// clientLedger is a client's ledger account: the key it pays with and
// the ledger it pays on (tessera generate --ledger-key, --ledger-url).
type clientLedger struct {
	flags   ledgerFlags
	keyFile string

	conn *ledgerConn
	key  ed25519.PrivateKey
}

// addFlags registers the client's ledger flags.
func (l *clientLedger) addFlags(cmd *cobra.Command) {
	l.flags.add(cmd.Flags())
	cmd.Flags().StringVar(&l.keyFile, "ledger-key", "", "pay the nodes from the ledger account of this key file (tessera ledger key --new FILE): sessions are signed by it and the certificate is settled on the ledger")
}

// enabled reports whether the client pays.
func (l *clientLedger) enabled() bool { return l.keyFile != "" }

// open loads the key and connects to the ledger.
func (l *clientLedger) open() error {
	switch {
	case !l.enabled() && l.flags.enabled():
		return errors.New("--ledger-url/--ledger-home need --ledger-key: the account that pays")
	case !l.enabled():
		return nil
	case !l.flags.enabled():
		return errors.New("--ledger-key needs the ledger: --ledger-url URL (or --ledger-home DIR)")
	}
	key, err := readLedgerKey(l.keyFile)
	if err != nil {
		return err
	}
	conn, err := l.flags.open()
	if err != nil {
		return err
	}
	l.key, l.conn = key, conn
	return nil
}

// Close closes the ledger connection.
func (l *clientLedger) Close() { _ = l.conn.Close() }

// canPay checks, before generating, that the account can pay for layers
// layers over positions positions.
func (l *clientLedger) canPay(ctx context.Context, layers, positions int) error {
	info, err := l.conn.info(ctx)
	if err != nil {
		return err
	}
	k := ledger.KeyOf(l.key)
	v, err := l.conn.api.Account(ctx, k)
	if err != nil {
		return fmt.Errorf("%s: %w", l.conn.where(), err)
	}
	price, ok := ledger.Quote(info.Params, uint64(layers), uint64(positions))
	if !ok || v.Balance < price {
		return fmt.Errorf("ledger account %s has %d credits; this generation may cost up to %d (%d layers × %d positions × %d): fund it first (tessera ledger transfer --to %s, or on a dev ledger tessera ledger faucet)",
			k, v.Balance, price, layers, positions, info.Params.PricePerTokenLayer, k)
	}
	return nil
}
