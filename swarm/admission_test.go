package swarm_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

func seededKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = b
	return ed25519.NewKeyFromSeed(seed)
}

// TestAdmission drives a node whose policy admits only a funded account
// with clients naming no account, a poor account, a rich one, and a rich
// one whose signature was made for another node.
func TestAdmission(t *testing.T) {
	rich, poor, nodeKey, otherNode := seededKey(1), seededKey(2), seededKey(3), seededKey(4)
	balances := map[string]int{string(rich.Public().(ed25519.PublicKey)): 1000, string(poor.Public().(ed25519.PublicKey)): 3}
	var seen []swarm.Admission
	srv := server(t, 0, testConfig.Layers)
	srv.Key = nodeKey
	srv.Admit = func(_ context.Context, a swarm.Admission) error {
		seen = append(seen, a)
		if a.Payer == nil {
			return swarm.ErrNoPayer
		}
		if need := a.Range.Len() * a.MaxPositions; balances[string(a.Payer)] < need {
			return fmt.Errorf("balance %d cannot pay %d", balances[string(a.Payer)], need)
		}
		return nil
	}
	var released sync.WaitGroup
	var releases atomic.Int32
	srv.Release = func(a swarm.Admission) {
		releases.Add(1)
		released.Done()
	}
	n := newNode(t, srv)
	cases := []struct {
		name    string
		payer   ed25519.PrivateKey
		known   ed25519.PublicKey // the node key the client signs for
		refused string            // substring of the refusal; "" admits
	}{
		{"no payer", nil, nodeKey.Public().(ed25519.PublicKey), "name a ledger account"},
		{"poor payer", poor, nodeKey.Public().(ed25519.PublicKey), "cannot pay"},
		{"rich payer", rich, nodeKey.Public().(ed25519.PublicKey), ""},
		{"signed for another node", rich, otherNode.Public().(ed25519.PublicKey), "signature does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			cfg := chainConfig()
			cfg.MaxPositions = 16
			cfg.Payer = tc.payer
			hop := swarm.RemoteHop("node", model.Range{First: 0, Last: testConfig.Layers}, n.pipeOpener())
			hop.PubKey = tc.known
			c, err := swarm.NewChain(cfg, []swarm.Hop{hop})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			hidden := make([]float32, testConfig.Dim)
			hidden[0] = 1
			err = c.Forward(context.Background(), 0, hidden, 1)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("admitted client failed: %v", err)
				}
				if len(seen) != 1 || !seen[0].Payer.Equal(tc.payer.Public()) || seen[0].MaxPositions != 16 {
					t.Fatalf("policy saw %+v", seen)
				}
				// The policy hears once that the admitted session ended.
				released.Add(1)
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				done := make(chan struct{})
				go func() { released.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("the admitted session's end was not released")
				}
				if r := releases.Load(); r != 1 {
					t.Fatalf("%d releases for one session", r)
				}
				return
			}
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != wire.CodeRefused || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("got %v, want a refusal containing %q", err, tc.refused)
			}
		})
	}
}
