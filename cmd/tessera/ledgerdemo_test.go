package main

import (
	"context"
	"testing"

	"github.com/tessera-net/tessera/ledger"
)

// The demo's ledger funds a fresh client, and its nodes' settings stake
// the ledger's minimum and require payment.
func TestDemoLedger(t *testing.T) {
	ctx := context.Background()
	d, err := openDemoLedger(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.conn.solo.Account(ledger.KeyOf(d.client)).Balance; got != demoClientGrant {
		t.Fatalf("client balance %d, want %d", got, demoClientGrant)
	}
	o := d.nodeOptions()
	if o.Conn != d.conn || !o.RequirePayment || o.Stake != d.conn.solo.Info().Params.MinNodeStake {
		t.Fatalf("node options %+v", o)
	}
	node := seededLedgerKey(5)
	if err := registerNode(ctx, o.Conn, node, o.Stake, 2, quietLogger()); err != nil {
		t.Fatal(err)
	}
	if n, ok := d.conn.solo.Node(ledger.KeyOf(node)); !ok || n.Capacity != 2 {
		t.Fatalf("node record %+v %v", n, ok)
	}
	// A second demo gets another client: the keys are not fixed.
	d2, err := openDemoLedger(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if ledger.KeyOf(d2.client) == ledger.KeyOf(d.client) {
		t.Error("two demos share a client key")
	}
}
