package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"

	"github.com/tessera-net/tessera/ledger"
)

// demoLedger is the embedded ledger `tessera demo` runs on: a dev-mode
// solo store in the demo's directory and a client account funded by the
// faucet. The nodes register their own identity keys on it at start
// (nodeLedgerOptions), require payment, and are paid by the settlement of
// each generation's signed certificate, as on the real path.
type demoLedger struct {
	conn   *ledgerConn
	client ed25519.PrivateKey // pays, and signs the certificates as their auditor
}

// demoClientGrant is what the faucet gives the demo's client.
const demoClientGrant = 1_000_000

// openDemoLedger creates the ledger in dir and funds a new client account.
func openDemoLedger(ctx context.Context, dir string) (*demoLedger, error) {
	l, err := openSoloLedger(filepath.Join(dir, "ledger.db"), nil)
	if err != nil {
		return nil, fmt.Errorf("demo ledger: %w", err)
	}
	d := &demoLedger{conn: localLedger(l)}
	if _, d.client, err = ed25519.GenerateKey(rand.Reader); err != nil {
		d.Close()
		return nil, err
	}
	grant := min(demoClientGrant, l.Info().Params.FaucetMax)
	if _, err := d.conn.account(d.client).send(ctx, &ledger.Faucet{Amount: grant}); err != nil {
		d.Close()
		return nil, fmt.Errorf("demo ledger: %w", err)
	}
	return d, nil
}

// nodeOptions are the ledger settings of the demo's nodes: paid on this
// ledger, staked with the minimum, serving only paying clients.
func (d *demoLedger) nodeOptions() nodeLedgerOptions {
	return nodeLedgerOptions{Conn: d.conn, RequirePayment: true, Stake: d.conn.solo.Info().Params.MinNodeStake}
}

func (d *demoLedger) Close() error { return d.conn.Close() }
