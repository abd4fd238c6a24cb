package main

import (
	"context"
	"fmt"
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
// payment serves nobody it cannot check. Sessions are checked one by one,
// so a client may open several sessions that together cost more than its
// balance; the ledger then refuses the certificate that overdraws it.
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
	p := &paymentPolicy{api: conn.api, where: conn.where(), timeout: paymentTimeout, now: time.Now, cache: map[ledger.PubKey]cachedBalance{}}
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
	price, ok := ledger.Quote(params, uint64(a.Range.Len()), uint64(a.MaxPositions))
	if !ok || balance < price {
		p.refused.Add(1)
		return fmt.Errorf("account %s has %d credits; a session of layers %s over %d positions may cost %d (%d per layer and position)",
			shortKey(payer), balance, a.Range, a.MaxPositions, price, params.PricePerTokenLayer)
	}
	p.admitted.Add(1)
	return nil
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
