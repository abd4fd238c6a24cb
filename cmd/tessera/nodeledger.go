package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/web"
)

// nodeLedgerOptions are a node's ledger settings (tessera node
// --ledger-url/--ledger-home, --require-payment, --stake).
type nodeLedgerOptions struct {
	Conn           *ledgerConn // nil: the node has no ledger
	RequirePayment bool        // admit only clients whose balance can pay
	Stake          uint64      // stake to hold and register with (0: leave the account as it is)
}

// registerTimeout bounds the transactions that register a node at start.
const registerTimeout = 30 * time.Second

// registerNode makes key's account a staked, registered node of the
// ledger, so that certificates naming it pay it: it stakes up to stake
// and registers with capacity (the layers it serves). On a dev-mode
// ledger the faucet grants the credits the stake lacks (DESIGN: a new
// node gets a faucet grant only in dev mode); elsewhere the account must
// be funded first. With stake 0 it only checks and warns, even when the
// ledger does not answer.
func registerNode(ctx context.Context, conn *ledgerConn, key ed25519.PrivateKey, stake, capacity uint64, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	acct := conn.account(key)
	info, err := conn.info(ctx)
	if err != nil && stake == 0 {
		// Only a check: the node still serves (and, requiring payment,
		// refuses sessions until the ledger answers).
		log.Warn("the ledger does not answer; the node cannot check its registration", "account", acct.pub.String(), "error", err)
		return nil
	}
	if err != nil {
		return err
	}
	p := info.Params
	v, err := conn.api.Account(ctx, acct.pub)
	if err != nil && stake == 0 {
		log.Warn("the ledger does not answer; the node cannot check its registration", "account", acct.pub.String(), "error", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", conn.where(), err)
	}
	if v.Node != nil && v.Node.Excluded {
		return fmt.Errorf("the node's ledger account %s was excluded for fraud at height %d: it cannot be paid", acct.pub, v.Node.ExcludedAt)
	}
	if stake == 0 {
		if v.Node == nil {
			log.Warn("this node is not registered on the ledger: certificates are settled without paying it; start it with --stake N to register",
				"account", acct.pub.String(), "min_stake", p.MinNodeStake, "ledger", conn.where())
		}
		return nil
	}
	if stake < p.MinNodeStake {
		return fmt.Errorf("--stake %d is below the ledger's minimum node stake of %d", stake, p.MinNodeStake)
	}
	if v.Stake < stake {
		need := stake - v.Stake
		if v.Balance < need {
			short := need - v.Balance
			if !p.DevMode {
				return fmt.Errorf("the node's ledger account %s has %d credits and %d staked; staking %d needs %d more: fund it first (tessera ledger transfer --to %s --amount %d)",
					acct.pub, v.Balance, v.Stake, stake, short, acct.pub, short)
			}
			if short > p.FaucetMax {
				return fmt.Errorf("staking %d needs %d credits, more than the dev faucet's grant of %d", stake, short, p.FaucetMax)
			}
			if _, err := acct.send(ctx, &ledger.Faucet{Amount: short}); err != nil {
				return err
			}
			log.Info("dev ledger: faucet grant for the node's stake", "account", acct.pub.String(), "amount", short)
		}
		if _, err := acct.send(ctx, &ledger.Stake{Amount: need}); err != nil {
			return err
		}
	}
	if v.Node == nil || v.Node.Capacity != capacity {
		if _, err := acct.send(ctx, &ledger.RegisterNode{Capacity: capacity}); err != nil {
			return err
		}
	}
	log.Info("registered on the ledger", "account", acct.pub.String(), "stake", max(stake, v.Stake), "capacity", capacity, "ledger", conn.where())
	return nil
}

// nodeLedgerPanel is the ledger panel of a node's dashboard: its own
// account.
func nodeLedgerPanel(ctx context.Context, n *runningNode) *web.Ledger {
	key, err := hostSigningKey(n.host)
	if err != nil {
		return &web.Ledger{Where: n.ledger.Conn.where(), Error: err.Error()}
	}
	return ledgerPanel(ctx, n.ledger.Conn, []namedAccount{{name: shortPeer(n.host.ID()), role: "this node", key: ledger.KeyOf(key)}})
}

// registerNodeLedgerMetrics exposes the node's admissions and its ledger
// account (read at most once per scrape interval of panelTTL).
func registerNodeLedgerMetrics(reg *prometheus.Registry, n *runningNode) {
	if p := n.payment; p != nil {
		for result, c := range map[string]func() uint64{"admitted": p.admitted.Load, "refused": p.refused.Load, "ledger_unavailable": p.unavailable.Load} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tessera_node_admissions_total",
				Help: "Sessions checked against the payer's ledger balance, by outcome.", ConstLabels: prometheus.Labels{"result": result}},
				func() float64 { return float64(c()) }))
		}
	}
	if n.ledger.Conn == nil {
		return
	}
	key, err := hostSigningKey(n.host)
	if err != nil {
		return
	}
	k := ledger.KeyOf(key)
	var cache accountCache
	read := func(f func(v ledgerAccountView) uint64) func() float64 {
		return func() float64 { return float64(f(cache.get(n.ledger.Conn, k))) }
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tessera_node_ledger_balance_credits", Help: "The node account's spendable balance on the ledger."},
			read(func(v ledgerAccountView) uint64 { return v.Balance })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tessera_node_ledger_stake_credits", Help: "The node account's stake on the ledger."},
			read(func(v ledgerAccountView) uint64 { return v.Stake })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tessera_node_ledger_earned_credits", Help: "Credits the node earned from settled certificates."},
			read(func(v ledgerAccountView) uint64 { return v.Earned })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tessera_node_ledger_work_units", Help: "Work units (layers × positions) of the node's settled certificates."},
			read(func(v ledgerAccountView) uint64 { return v.WorkUnits })),
	)
}

// ledgerAccountView is what metrics show of an account.
type ledgerAccountView struct {
	Balance, Stake, Earned, WorkUnits uint64
}

// accountCache reads an account at most once per panelTTL.
type accountCache struct {
	mu sync.Mutex
	at time.Time
	v  ledgerAccountView
}

func (c *accountCache) get(conn *ledgerConn, k ledger.PubKey) ledgerAccountView {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < panelTTL {
		return c.v
	}
	ctx, cancel := context.WithTimeout(context.Background(), panelTimeout)
	defer cancel()
	v, err := conn.api.Account(ctx, k)
	if err != nil {
		return c.v // the last known values
	}
	c.at = time.Now()
	c.v = ledgerAccountView{Balance: v.Balance, Stake: v.Stake}
	if v.Node != nil {
		c.v.Earned, c.v.WorkUnits = v.Node.Earned, v.Node.WorkUnits
	}
	return c.v
}

var errPaymentNeedsLedger = errors.New("--require-payment needs a ledger: --ledger-url URL or --ledger-home DIR")
