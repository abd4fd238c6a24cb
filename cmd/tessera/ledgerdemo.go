package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/solo"
)

// demoLedger is the embedded ledger `tessera demo` settles its sessions
// on: a dev-mode solo store in the demo's directory, a client funded by
// the faucet, an auditor, and one staked, registered account per node.
// (The demo's keys are made from fixed seeds: it is a demonstration, not
// an identity.)
type demoLedger struct {
	l       *solo.Ledger
	client  ed25519.PrivateKey
	auditor ed25519.PrivateKey
	nodes   []demoLedgerNode
	certs   int
}

type demoLedgerNode struct {
	name   string // shown in the report, e.g. the layer range
	key    ed25519.PrivateKey
	layers uint32
}

// demoClientGrant is what the faucet gives the demo's client.
const demoClientGrant = 1_000_000

func demoKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("tessera-demo-ledger/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// openDemoLedger creates the ledger in dir and sets up its accounts: the
// client gets a faucet grant, each node (named by names, running the
// matching number of layers) stakes the minimum and registers.
func openDemoLedger(ctx context.Context, dir string, names []string, layers []uint32) (*demoLedger, error) {
	l, err := openSoloLedger(filepath.Join(dir, "ledger.db"))
	if err != nil {
		return nil, fmt.Errorf("demo ledger: %w", err)
	}
	d := &demoLedger{l: l, client: demoKey("client"), auditor: demoKey("auditor")}
	p := l.Info().Params
	if err := d.send(ctx, d.client, &ledger.Faucet{Amount: min(demoClientGrant, p.FaucetMax)}); err != nil {
		l.Close()
		return nil, err
	}
	for i, name := range names {
		n := demoLedgerNode{name: name, key: demoKey("node/" + name), layers: layers[i]}
		for _, body := range []ledger.Body{
			&ledger.Faucet{Amount: p.MinNodeStake},
			&ledger.Stake{Amount: p.MinNodeStake},
			&ledger.RegisterNode{Capacity: uint64(n.layers)},
		} {
			if err := d.send(ctx, n.key, body); err != nil {
				l.Close()
				return nil, err
			}
		}
		d.nodes = append(d.nodes, n)
	}
	return d, nil
}

func (d *demoLedger) send(ctx context.Context, key ed25519.PrivateKey, body ledger.Body) error {
	tx := &ledger.Tx{ChainID: d.l.Info().ChainID, Nonce: d.l.Account(ledger.KeyOf(key)).Nonce, Body: body}
	tx.Sign(key)
	if _, err := d.l.SubmitTx(ctx, tx); err != nil {
		return fmt.Errorf("demo ledger: %s: %w", body.Kind(), err)
	}
	return nil
}

// settle submits the certificate of one generation: positions gives, by
// node name, the token positions the node computed (its work is its layers
// times that); passed is the audit's outcome (a failed audit pays the nodes
// nothing).
func (d *demoLedger) settle(ctx context.Context, model [32]byte, positions map[string]uint64, passed bool) (ledger.Certificate, error) {
	d.certs++
	c := &ledger.SubmitCertificate{
		ID:      sha256.Sum256(fmt.Appendf(nil, "tessera-demo/%x/%d", model, d.certs)),
		Model:   model,
		Client:  ledger.KeyOf(d.client),
		Auditor: ledger.KeyOf(d.auditor),
		Passed:  passed,
	}
	for _, n := range d.nodes {
		if p := positions[n.name]; p > 0 {
			c.Work = append(c.Work, ledger.Work{Node: ledger.KeyOf(n.key), Layers: n.layers, Positions: p})
			c.Tokens = max(c.Tokens, p)
		}
	}
	c.SignAuditor(d.l.Info().ChainID, d.auditor)
	if err := d.send(ctx, d.client, c); err != nil {
		return ledger.Certificate{}, err
	}
	rec, _ := d.l.Certificate(c.ID)
	return rec, nil
}

// report prints what a settled certificate moved, and the balances.
func (d *demoLedger) report(w io.Writer, c ledger.Certificate) {
	client := d.l.Account(c.Client)
	fmt.Fprintf(w, "  ledger: certificate %s… at height %d: client paid %d credits (balance %d), auditor fee %d\n",
		c.ID.String()[:12], c.Height, c.Charged, client.Balance, c.Fee)
	for i, wk := range c.Work {
		rec, _ := d.l.Node(wk.Node)
		name := wk.Node.String()[:8]
		for _, n := range d.nodes {
			if ledger.KeyOf(n.key) == wk.Node {
				name = n.name
			}
		}
		fmt.Fprintf(w, "          node %s earned %d for %d work units (total %d earned, %d units)\n",
			name, c.Earned[i], uint64(wk.Layers)*wk.Positions, rec.Earned, rec.WorkUnits)
	}
}

func (d *demoLedger) Close() error { return d.l.Close() }
