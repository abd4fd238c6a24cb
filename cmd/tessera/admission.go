package main

import (
	"context"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/query"
	"github.com/tessera-net/tessera/swarm"
)

// paymentPolicy is a node's admission policy (swarm.Server.Admit) when it
// requires payment: it opens a session only for a client that names a
// ledger account (and proves it holds its key) whose balance can pay for
// the session at the ledger's price: layers × positions granted ×
// PricePerTokenLayer (ledger.Quote).
//
// A remote ledger's answers are cached for a short while, so a busy node
// does not ask the ledger for every session, and each question is bounded
// by a timeout. When the ledger does not answer the node refuses the
// session (fail closed) with a message saying so: a node that requires
// payment serves nobody it cannot check. What the sessions a payer has
// open on this node may cost is held back from its balance until they end
// (Release), so one client cannot open several sessions here that
// together cost more than it holds; across nodes each node holds back
// only its own sessions.
type paymentPolicy struct {
	api     query.API
	where   string        // the ledger, for messages
	ttl     time.Duration // how long a balance is reused (0: always ask)
	timeout time.Duration // bound on one question to the ledger
	now     func() time.Time

	mu       sync.Mutex
	params   ledger.Params
	paramsAt time.Time // zero: not fetched yet
	cache    map[ledger.PubKey]cachedBalance
	held     map[ledger.PubKey]uint64 // work units (layers × positions) of the sessions open, by payer

	admitted, refused, unavailable atomic.Uint64
}

type cachedBalance struct {
	balance uint64
	at      time.Time
}

// Policy defaults for a remote ledger.
const (
	paymentCacheTTL   = 2 * time.Second
	paymentTimeout    = 3 * time.Second
	paymentParamsTTL  = time.Minute
	maxCachedBalances = 4096
)

// newPaymentPolicy is the policy over conn: answers of a remote ledger are
// cached for paymentCacheTTL, an embedded one is read every time.
func newPaymentPolicy(conn *ledgerConn) *paymentPolicy {
	p := &paymentPolicy{api: conn.api, where: conn.where(), timeout: paymentTimeout, now: time.Now, cache: map[ledger.PubKey]cachedBalance{}, held: map[ledger.PubKey]uint64{}}
	if conn.solo == nil {
		p.ttl = paymentCacheTTL
	}
	return p
}

// Admit implements swarm.Server.Admit.
func (p *paymentPolicy) Admit(ctx context.Context, a swarm.Admission) error {
	if a.Payer == nil {
		p.refused.Add(1)
		return fmt.Errorf("%w (a client pays with: tessera generate --ledger-key FILE --ledger-url URL)", swarm.ErrNoPayer)
	}
	var payer ledger.PubKey
	copy(payer[:], a.Payer)
	params, balance, err := p.lookup(ctx, payer)
	if err != nil {
		p.unavailable.Add(1)
		return fmt.Errorf("the node cannot check the payer's balance: the %s did not answer (%v); it refuses sessions it cannot check, try again later", p.where, err)
	}
	units, ok0 := sessionUnits(a)
	p.mu.Lock()
	defer p.mu.Unlock()
	// Held back as work units (layers × positions), priced now, so that
	// a change of price between open and close cannot unbalance it.
	held := p.held[payer]
	price, ok1 := ledger.Quote(params, 1, units)
	heldPrice, ok2 := ledger.Quote(params, 1, held)
	if !ok0 || !ok1 || !ok2 || balance < heldPrice || balance-heldPrice < price {
		p.refused.Add(1)
		if held > 0 {
			return fmt.Errorf("account %s has %d credits, %d of them held for the sessions it has open here; a session of layers %s over %d positions may cost %d more (%d per layer and position)",
				shortKey(payer), balance, heldPrice, a.Range, a.MaxPositions, price, params.PricePerTokenLayer)
		}
		return fmt.Errorf("account %s has %d credits; a session of layers %s over %d positions may cost %d (%d per layer and position)",
			shortKey(payer), balance, a.Range, a.MaxPositions, price, params.PricePerTokenLayer)
	}
	p.held[payer] = held + units
	p.admitted.Add(1)
	return nil
}

// sessionUnits is a session's work units, layers × positions; ok is false
// if that overflows.
func sessionUnits(a swarm.Admission) (uint64, bool) {
	hi, lo := bits.Mul64(uint64(max(0, a.Range.Len())), uint64(max(0, a.MaxPositions)))
	return lo, hi == 0
}

// Release implements swarm.Server.Release: the session's possible cost
// is no longer held back.
func (p *paymentPolicy) Release(a swarm.Admission) {
	if a.Payer == nil {
		return
	}
	var payer ledger.PubKey
	copy(payer[:], a.Payer)
	units, _ := sessionUnits(a)
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.held[payer]; h > units {
		p.held[payer] = h - units
	} else {
		delete(p.held, payer)
	}
}

// lookup returns the ledger's parameters and payer's balance, from the
// cache when fresh enough.
func (p *paymentPolicy) lookup(ctx context.Context, payer ledger.PubKey) (ledger.Params, uint64, error) {
	now := p.now()
	p.mu.Lock()
	params, haveParams := p.params, !p.paramsAt.IsZero() && now.Sub(p.paramsAt) < paymentParamsTTL
	c, haveBalance := p.cache[payer]
	haveBalance = haveBalance && p.ttl > 0 && now.Sub(c.at) < p.ttl
	p.mu.Unlock()
	if haveParams && haveBalance {
		return params, c.balance, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if !haveParams {
		info, err := p.api.Info(ctx)
		if err != nil {
			return ledger.Params{}, 0, err
		}
		params = info.Params
	}
	acct, err := p.api.Account(ctx, payer)
	if err != nil {
		return ledger.Params{}, 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !haveParams {
		p.params, p.paramsAt = params, now
	}
	if p.ttl > 0 {
		if len(p.cache) >= maxCachedBalances {
			for k, v := range p.cache {
				if now.Sub(v.at) >= p.ttl {
					delete(p.cache, k)
				}
			}
			if len(p.cache) >= maxCachedBalances {
				clear(p.cache)
			}
		}
		p.cache[payer] = cachedBalance{balance: acct.Balance, at: now}
	}
	return params, acct.Balance, nil
}
