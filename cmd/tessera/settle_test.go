package main

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/proof"
)

// certificateSettlement takes each node's work from the certificate: its
// layers times the highest position its receipts reached.
func TestCertificateSettlement(t *testing.T) {
	auditor := seededLedgerKey(9)
	n1, n2 := seededLedgerKey(1), seededLedgerKey(2)
	calls := func(spans ...[2]int) []*proof.Receipt {
		var rs []*proof.Receipt
		for _, s := range spans {
			rs = append(rs, &proof.Receipt{Start: s[0], N: s[1]})
		}
		return rs
	}
	hop := func(k ed25519.PrivateKey, first, last int, rs []*proof.Receipt) proof.CertHop {
		return proof.CertHop{Key: k.Public().(ed25519.PublicKey), First: first, Last: last, Receipts: rs, Peer: "p"}
	}
	cases := []struct {
		name string
		hops []proof.CertHop
		want []ledger.Work // nodes n1 then n2
		err  string
	}{
		{"prefill then decode", []proof.CertHop{hop(n1, 0, 2, calls([2]int{0, 9}, [2]int{9, 1}, [2]int{10, 1})), hop(n2, 2, 6, calls([2]int{0, 9}, [2]int{9, 1}, [2]int{10, 1}))},
			[]ledger.Work{{Layers: 2, Positions: 11}, {Layers: 4, Positions: 11}}, ""},
		{"a local hop is not paid", []proof.CertHop{{Local: true, First: 0, Last: 3}, hop(n2, 3, 6, calls([2]int{0, 5}))},
			[]ledger.Work{{Layers: 3, Positions: 5}}, ""},
		{"a rewound step is not paid twice", []proof.CertHop{hop(n1, 0, 6, calls([2]int{0, 5}, [2]int{5, 1}, [2]int{5, 1}, [2]int{6, 1}))},
			[]ledger.Work{{Layers: 6, Positions: 7}}, ""},
		{"positions never exceed the tokens", []proof.CertHop{hop(n1, 0, 6, calls([2]int{0, 40}))},
			[]ledger.Work{{Layers: 6, Positions: 20}}, ""},
		{"a node that computed nothing is left out", []proof.CertHop{hop(n1, 0, 2, nil), hop(n2, 2, 6, calls([2]int{0, 3}))},
			[]ledger.Work{{Layers: 4, Positions: 3}}, ""},
		{"a remote hop without a key", []proof.CertHop{{First: 0, Last: 6, Receipts: calls([2]int{0, 1})}}, nil, "names no node key"},
	}
	for _, c := range cases {
		cert := &proof.Certificate{Model: proof.Hash{7}, PromptTokens: 12, OutputTokens: 8, Hops: c.hops}
		cert.Sign(auditor)
		s, err := certificateSettlement(cert, ledger.KeyOf(n1))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if s.ID != ledgerCertificateID(cert) || s.Tokens != 20 || s.Auditor != ledger.KeyOf(auditor) || s.Client != ledger.KeyOf(n1) ||
			s.Model != (ledger.Hash{7}) || s.Passed != cert.Passed || len(s.Work) != len(c.want) {
			t.Errorf("%s: settlement %+v", c.name, s)
			continue
		}
		for i, w := range s.Work {
			if w.Layers != c.want[i].Layers || w.Positions != c.want[i].Positions {
				t.Errorf("%s: work %d is %d layers × %d positions, want %d × %d", c.name, i, w.Layers, w.Positions, c.want[i].Layers, c.want[i].Positions)
			}
		}
	}
	if _, err := certificateSettlement(&proof.Certificate{}, ledger.KeyOf(n1)); err == nil {
		t.Error("an unsigned certificate was settled")
	}
}

// Nodes the ledger cannot pay are left out of the settlement (the ledger
// would refuse the whole certificate), and said so; a certificate with no
// payable node settles nothing.
func TestSettleLeavesOutUnregisteredNodes(t *testing.T) {
	l, err := openSoloLedger(filepath.Join(t.TempDir(), "ledger.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn := localLedger(l)
	defer conn.Close()
	ctx := context.Background()
	client, registered, stranger := seededLedgerKey(1), seededLedgerKey(2), seededLedgerKey(3)
	if _, err := conn.account(client).send(ctx, &ledger.Faucet{Amount: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := registerNode(ctx, conn, registered, 1000, 2, quietLogger()); err != nil {
		t.Fatal(err)
	}
	rs := []*proof.Receipt{{Start: 0, N: 10}}
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	cert := &proof.Certificate{PromptTokens: 8, OutputTokens: 4, Hops: []proof.CertHop{
		{Peer: "a", Key: pub(stranger), First: 0, Last: 3, Receipts: rs, Audit: proof.HopAudit{Receipts: 1}},
		{Peer: "b", Key: pub(registered), First: 3, Last: 6, Receipts: rs, Audit: proof.HopAudit{Receipts: 1}},
	}}
	cert.Sign(client)
	if !cert.Passed {
		t.Fatal("the test certificate does not pass")
	}
	if _, err := settleCertificate(ctx, conn, client, seededLedgerKey(4), cert); err == nil {
		t.Error("settled with a key that did not sign the certificate")
	}
	s, err := settleCertificate(ctx, conn, client, client, cert)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Record.Work) != 1 || s.Record.Work[0].Node != ledger.KeyOf(registered) || s.Record.Charged != 30 ||
		len(s.Unpaid) != 1 || s.Unpaid[0].Node != ledger.KeyOf(stranger) || s.Unpaid[0].Units != 30 {
		t.Fatalf("settlement %+v", s)
	}
	if s.Balance != 1000-30+s.Record.Fee {
		t.Errorf("client balance %d", s.Balance)
	}
	var out strings.Builder
	printSettlement(&out, s, cert)
	for _, want := range []string{"client paid 30 credits", "node b (layers 3:6) earned", "node a (layers 0:3) not paid for 30 work units: not registered"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// Settled once: the same certificate again is a duplicate.
	if _, err := settleCertificate(ctx, conn, client, client, cert); ledger.CodeOf(err) != ledger.CodeDuplicate {
		t.Errorf("second settlement: %v", err)
	}
	alone := &proof.Certificate{PromptTokens: 8, Hops: cert.Hops[:1]}
	alone.Sign(client)
	if _, err := settleCertificate(ctx, conn, client, client, alone); err != errNothingToSettle {
		t.Errorf("a certificate of unregistered nodes only: %v", err)
	}
}
