package main

import (
	"context"
	"crypto/ed25519"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/query"
	"github.com/tessera-net/tessera/proof"
)

// BenchmarkSettle is the ledger side of a paid generation once its
// certificate is signed: settleCertificate (look up the nodes, sign the
// auditor statement, submit, wait for the commit, read the record and the
// balance) for a 3-node certificate of 64 receipts per node, on an
// embedded ledger, over HTTP to the ledger's API, and through a node's
// /v1/ledger/ proxy to it (what generate --ledger-url NODE does).
func BenchmarkSettle(b *testing.B) {
	l, err := openSoloLedger(filepath.Join(b.TempDir(), "ledger.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	local := localLedger(l)
	defer local.Close()
	ctx := context.Background()
	client := seededLedgerKey(1)
	if _, err := local.account(client).send(ctx, &ledger.Faucet{Amount: 1_000_000}); err != nil {
		b.Fatal(err)
	}
	var hops []proof.CertHop
	for i := range 3 {
		k := seededLedgerKey(byte(10 + i))
		if err := registerNode(ctx, local, k, 1000, 2, quietLogger()); err != nil {
			b.Fatal(err)
		}
		var rs []*proof.Receipt
		for s := range 64 {
			rs = append(rs, &proof.Receipt{Start: s, N: 1, Key: k.Public().(ed25519.PublicKey), Sig: make([]byte, ed25519.SignatureSize)})
		}
		hops = append(hops, proof.CertHop{Peer: "p", Key: k.Public().(ed25519.PublicKey), First: 2 * i, Last: 2*i + 2, Receipts: rs, Audit: proof.HopAudit{Receipts: 64}})
	}
	api := httptest.NewServer(query.Handler(l, nil))
	defer api.Close()
	direct, err := remoteLedger(api.URL)
	if err != nil {
		b.Fatal(err)
	}
	node := httptest.NewServer(direct.handler())
	defer node.Close()
	proxied, err := remoteLedger(node.URL)
	if err != nil {
		b.Fatal(err)
	}
	seq := 0
	for _, c := range []struct {
		name string
		conn *ledgerConn
	}{{"embedded", local}, {"http", direct}, {"node-proxy", proxied}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				seq++
				cert := &proof.Certificate{PromptTokens: 60, OutputTokens: 4 + seq, Hops: hops}
				cert.Sign(client)
				if _, err := settleCertificate(ctx, c.conn, client, client, cert); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
