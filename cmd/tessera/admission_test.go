package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/query"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/swarm"
)

// fakeLedger answers Info and Account from a table, counts the questions
// and can be made unreachable.
type fakeLedger struct {
	query.API // other methods are not called
	params    ledger.Params
	balances  map[ledger.PubKey]uint64
	down      bool
	asked     int
}

func (f *fakeLedger) Info(context.Context) (ledger.Info, error) {
	f.asked++
	if f.down {
		return ledger.Info{}, errors.New("connection refused")
	}
	return ledger.Info{ChainID: "fake", Params: f.params}, nil
}

func (f *fakeLedger) Account(_ context.Context, k ledger.PubKey) (query.AccountView, error) {
	f.asked++
	if f.down {
		return query.AccountView{}, errors.New("connection refused")
	}
	return query.AccountView{Key: k, Account: ledger.Account{Balance: f.balances[k]}}, nil
}

func TestPaymentPolicy(t *testing.T) {
	rich, poor := seededLedgerKey(1), seededLedgerKey(2)
	f := &fakeLedger{params: ledger.DefaultParams(true), balances: map[ledger.PubKey]uint64{ledger.KeyOf(rich): 1000, ledger.KeyOf(poor): 99}}
	f.params.PricePerTokenLayer = 2
	now := time.Unix(1000, 0)
	p := &paymentPolicy{api: f, where: "ledger http://test", ttl: paymentCacheTTL, timeout: time.Second, now: func() time.Time { return now },
		cache: map[ledger.PubKey]cachedBalance{}, held: map[ledger.PubKey]uint64{}}
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	r := model.Range{First: 2, Last: 4}
	cases := []struct {
		name    string
		payer   ed25519.PublicKey
		pos     int
		advance time.Duration
		down    bool
		refused string // "" admits
		asks    int    // questions to the ledger
	}{
		{"no payer", nil, 10, 0, false, "name a ledger account", 0},
		{"rich, 2 layers × 250 × 2 = 1000", pub(rich), 250, 0, false, "", 2},
		{"rich, cached", pub(rich), 250, time.Second, false, "", 0},
		{"rich, one position too many", pub(rich), 251, 0, false, "may cost 1004", 0},
		{"poor", pub(poor), 25, 0, false, "has 99 credits", 1},
		{"the ledger is down, cached balance still used", pub(poor), 24, time.Second, true, "", 0},
		{"the ledger is down, cache expired", pub(rich), 1, 2 * time.Second, true, "did not answer", 1},
		{"back up", pub(rich), 1, 0, false, "", 1},
		{"a huge session (overflows on 64-bit)", pub(rich), math.MaxInt, 0, false, "may cost", 0},
	}
	for _, c := range cases {
		now = now.Add(c.advance)
		f.down, f.asked = c.down, 0
		err := p.Admit(context.Background(), swarm.Admission{Payer: c.payer, Range: r, MaxPositions: c.pos})
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)):
			t.Errorf("%s: %v, want a refusal mentioning %q", c.name, err, c.refused)
		}
		if f.asked != c.asks {
			t.Errorf("%s: %d questions to the ledger, want %d", c.name, f.asked, c.asks)
		}
		if err == nil {
			// One session at a time here; TestPaymentPolicyHolds
			// opens several.
			p.Release(swarm.Admission{Payer: c.payer, Range: r, MaxPositions: c.pos})
		}
	}
	if a, r, u := p.admitted.Load(), p.refused.Load(), p.unavailable.Load(); a != 4 || r != 4 || u != 1 {
		t.Errorf("counters admitted %d refused %d unavailable %d", a, r, u)
	}
	// An embedded ledger is read every time (no cache).
	p.ttl, f.asked = 0, 0
	for range 3 {
		a := swarm.Admission{Payer: pub(rich), Range: r, MaxPositions: 1}
		if err := p.Admit(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		p.Release(a)
	}
	if f.asked != 3 {
		t.Errorf("uncached policy asked %d times for 3 sessions", f.asked)
	}
}

// TestPaymentPolicyHolds: what a payer's open sessions may cost is held
// back from its balance until they end, so sessions opened together
// cannot promise more than it holds; a released session frees its share.
func TestPaymentPolicyHolds(t *testing.T) {
	payer := seededLedgerKey(3)
	f := &fakeLedger{params: ledger.DefaultParams(true), balances: map[ledger.PubKey]uint64{ledger.KeyOf(payer): 1000}}
	f.params.PricePerTokenLayer = 1
	p := &paymentPolicy{api: f, where: "ledger http://test", timeout: time.Second, now: time.Now,
		cache: map[ledger.PubKey]cachedBalance{}, held: map[ledger.PubKey]uint64{}}
	pub := payer.Public().(ed25519.PublicKey)
	// Each session: 2 layers × 200 positions = 400 credits at most.
	a := swarm.Admission{Payer: pub, Range: model.Range{First: 0, Last: 2}, MaxPositions: 200}
	for i := range 2 {
		if err := p.Admit(context.Background(), a); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	if err := p.Admit(context.Background(), a); err == nil || !strings.Contains(err.Error(), "800 of them held") {
		t.Fatalf("a third session of 400 on a balance of 1000 with 800 held: %v", err)
	}
	// Another payer is not affected.
	other := seededLedgerKey(4)
	f.balances[ledger.KeyOf(other)] = 400
	if err := p.Admit(context.Background(), swarm.Admission{Payer: other.Public().(ed25519.PublicKey), Range: a.Range, MaxPositions: 200}); err != nil {
		t.Fatalf("another payer: %v", err)
	}
	p.Release(a)
	if err := p.Admit(context.Background(), a); err != nil {
		t.Fatalf("after one session ended: %v", err)
	}
	p.Release(a)
	p.Release(a)
	if len(p.held) != 1 {
		t.Fatalf("held %v after every session of the payer ended (only the other payer's should remain)", p.held)
	}
}

func seededLedgerKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = b
	return ed25519.NewKeyFromSeed(seed)
}
