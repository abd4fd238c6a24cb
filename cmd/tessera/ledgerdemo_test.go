package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/ledger"
)

func TestDemoLedger(t *testing.T) {
	ctx := context.Background()
	d, err := openDemoLedger(ctx, t.TempDir(), []string{"0:2", "2:4", "4:6"}, []uint32{2, 2, 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var model [32]byte
	model[0] = 7
	all := func(p uint64) map[string]uint64 { return map[string]uint64{"0:2": p, "2:4": p, "4:6": p} }
	c, err := d.settle(ctx, model, all(20), true)
	if err != nil {
		t.Fatal(err)
	}
	// 3 nodes × 2 layers × 20 positions = 120 units at 1 credit; 5% fee.
	if c.Charged != 120 || c.Fee != 6 || c.Earned[0]+c.Earned[1]+c.Earned[2] != 114 {
		t.Fatalf("certificate %+v", c)
	}
	if _, err := d.settle(ctx, model, all(10), true); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	d.report(&out, c)
	for _, want := range []string{"client paid 120 credits", "node 2:4 earned 38 for 40 work units (total 57 earned, 60 units)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// A node missing from the session is not in the certificate.
	c3, err := d.settle(ctx, model, map[string]uint64{"0:2": 5, "4:6": 3}, true)
	if err != nil || len(c3.Work) != 2 || c3.Tokens != 5 || c3.Charged != 16 {
		t.Fatalf("partial certificate %+v %v", c3, err)
	}
	// A failed audit pays the nodes nothing.
	before := d.l.Account(ledger.KeyOf(d.nodes[0].key)).Balance
	c4, err := d.settle(ctx, model, all(4), false)
	if err != nil || c4.Passed {
		t.Fatalf("failed-audit certificate %+v %v", c4, err)
	}
	if after := d.l.Account(ledger.KeyOf(d.nodes[0].key)).Balance; after != before {
		t.Fatalf("a node earned %d on a failed audit", after-before)
	}
	if _, err := d.l.Verify(nil); err != nil {
		t.Fatal(err)
	}
}
