package abci_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/abci"
	"github.com/tessera-net/tessera/ledger/ledgertest"
)

// startNetwork starts n validators in process with fast timeouts.
func startNetwork(tb testing.TB, n int) []*abci.Node {
	g := ledgertest.Genesis()
	homes, err := abci.InitTestnet(abci.TestnetOptions{Validators: n, Dir: tb.TempDir(), Genesis: &g,
		TimeoutPropose: 400 * time.Millisecond, TimeoutCommit: 20 * time.Millisecond, EmptyBlocksInterval: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	nodes := make([]*abci.Node, n)
	for i, h := range homes {
		if nodes[i], err = abci.StartNode(h, abci.NodeOptions{Evidence: ledgertest.Checker}); err != nil {
			tb.Fatal(err)
		}
	}
	return nodes
}

// BenchmarkNetworkThroughput submits transactions from 256 accounts at
// once through the 4 validators of a local network and reports committed
// transactions per second.
func BenchmarkNetworkThroughput(b *testing.B) {
	nodes := startNetwork(b, 4)
	defer func() {
		for _, n := range nodes {
			n.Stop()
		}
	}()
	const workers = 256
	per := b.N/workers + 1
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			name := fmt.Sprint("bench-", w)
			for i := 0; i < per; i++ {
				if _, err := nodes[w%4].Submit(context.Background(), ledgertest.Sign(ledgertest.ChainID, name, uint64(i), &ledger.Faucet{Amount: 1})); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	b.ReportMetric(float64(workers*per)/time.Since(start).Seconds(), "tx/s")
}

// BenchmarkNetworkCertificate is the latency of settling one certificate
// on a 4-validator network, submit to commit on the submitting node.
func BenchmarkNetworkCertificate(b *testing.B) {
	nodes := startNetwork(b, 4)
	defer func() {
		for _, n := range nodes {
			n.Stop()
		}
	}()
	ctx := context.Background()
	for _, n := range []string{"n1", "n2", "n3"} {
		if _, err := nodes[0].Submit(ctx, ledgertest.Sign(ledgertest.ChainID, n, 0, &ledger.RegisterNode{Capacity: 4})); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := &ledger.SubmitCertificate{ID: ledger.Hash{byte(i), byte(i >> 8), byte(i >> 16)},
			Client: ledgertest.Pub("alice"), Auditor: ledgertest.Pub("aud"), Tokens: 8, Passed: true}
		for _, n := range []string{"n1", "n2", "n3"} {
			c.Work = append(c.Work, ledger.Work{Node: ledgertest.Pub(n), Layers: 2, Positions: 8})
		}
		c.SignAuditor(ledgertest.ChainID, ledgertest.Key("aud"))
		if _, err := nodes[0].Submit(ctx, ledgertest.Sign(ledgertest.ChainID, "alice", uint64(i), c)); err != nil {
			b.Fatal(err)
		}
	}
}
