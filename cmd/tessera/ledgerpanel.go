package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/web"
)

// namedAccount is an account a dashboard shows, with the name people know
// it by (a gateway account, a node's peer id).
type namedAccount struct {
	name, role string
	key        ledger.PubKey
}

// Limits of the dashboard's ledger panel.
const (
	panelHistoryPerAccount = 10
	panelTransactions      = 20
	panelTTL               = time.Second // dashboards poll every second; one read serves them all
	panelTimeout           = 3 * time.Second
)

// ledgerPanel reads what the dashboards show of the ledger: its height and
// app hash, the accounts and their recent transactions. A ledger that
// does not answer gives a panel saying so.
func ledgerPanel(ctx context.Context, conn *ledgerConn, accounts []namedAccount) *web.Ledger {
	ctx, cancel := context.WithTimeout(ctx, panelTimeout)
	defer cancel()
	p := &web.Ledger{Where: conn.where()}
	info, err := conn.info(ctx)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	p.ChainID, p.Height, p.AppHash, p.Price = info.ChainID, info.Height, info.AppHash.String(), info.Params.PricePerTokenLayer
	names := map[ledger.PubKey]string{}
	for _, a := range accounts {
		names[a.key] = a.name
	}
	seen := map[ledger.Hash]bool{}
	var hist []ledger.HistoryEntry
	for _, a := range accounts {
		v, err := conn.api.Account(ctx, a.key)
		if err != nil {
			p.Error = err.Error()
			return p
		}
		wa := web.Account{Name: a.name, Key: a.key.String(), Role: a.role, Balance: commaInt(v.Balance), Stake: commaInt(v.Stake)}
		if v.Node != nil {
			wa.Earned, wa.WorkUnits = commaInt(v.Node.Earned), commaInt(v.Node.WorkUnits)
			if v.Node.Excluded {
				wa.Detail = fmt.Sprintf("excluded for fraud at height %d", v.Node.ExcludedAt)
			}
		} else if a.role != "account" {
			wa.Detail = "not registered: its work is not paid"
		}
		p.Accounts = append(p.Accounts, wa)
		h, err := conn.api.History(ctx, a.key, 0, panelHistoryPerAccount)
		if err != nil {
			p.Error = err.Error()
			return p
		}
		for _, e := range h {
			// A transaction between two shown accounts is in both
			// histories; a block's own entries (released unbonds) are
			// each account's.
			if e.TxHash != nil {
				if seen[*e.TxHash] {
					continue
				}
				seen[*e.TxHash] = true
			}
			hist = append(hist, e)
		}
	}
	sort.Slice(hist, func(i, j int) bool {
		if hist[i].Height != hist[j].Height {
			return hist[i].Height > hist[j].Height
		}
		return hist[i].Index > hist[j].Index
	})
	for _, e := range hist[:min(len(hist), panelTransactions)] {
		p.Transactions = append(p.Transactions, ledgerTransaction(e, names))
	}
	return p
}

// ledgerTransaction describes a history entry for the panel: who moved
// how much to whom, from the entry's events.
func ledgerTransaction(e ledger.HistoryEntry, names map[ledger.PubKey]string) web.Transaction {
	name := func(hex string) string {
		k, err := ledger.ParsePubKey(hex)
		if err != nil {
			return hex
		}
		if n, ok := names[k]; ok {
			return n
		}
		return shortKey(k)
	}
	t := web.Transaction{Time: time.Unix(0, e.Time), Height: e.Height, Kind: e.Kind}
	if e.Sender != nil {
		t.From = name(e.Sender.String())
	}
	if e.Result.Code != ledger.CodeOK {
		t.Memo = "rejected: " + e.Result.Code.String()
		return t
	}
	var paid, payments uint64
	for _, ev := range e.Result.Events {
		a := map[string]string{}
		for _, kv := range ev.Attrs {
			a[kv.Key] = kv.Value
		}
		switch ev.Type {
		case "transfer":
			t.To, t.Amount = name(a["to"]), commaStr(a["amount"])
		case "stake", "unstake":
			t.Amount = commaStr(a["amount"])
		case "faucet":
			t.From, t.To, t.Amount = "faucet", name(a["account"]), commaStr(a["amount"])
		case "node_registered", "node_updated":
			t.Memo = "capacity " + a["capacity"]
		case "certificate":
			t.Amount = commaStr(a["charged"])
			t.Memo = "certificate " + a["id"][:min(12, len(a["id"]))] + "…, auditor fee " + a["auditor_fee"]
			if a["passed"] != "true" {
				t.Memo += ", audit FAILED"
			}
		case "payment":
			n, _ := strconv.ParseUint(a["amount"], 10, 64)
			paid += n
			payments++
			if payments == 1 {
				t.To = name(a["node"])
			} else {
				t.To = fmt.Sprintf("%d nodes", payments)
			}
		case "slash":
			t.To = name(a["node"])
			t.Amount = commaStr(a["slashed"])
			t.Memo = "fraud: stake slashed"
		case "unbonded":
			t.To, t.Amount = name(a["account"]), commaStr(a["amount"])
		}
	}
	if payments > 0 {
		t.Memo += fmt.Sprintf("; %s paid to the nodes", commaInt(paid))
	}
	return t
}

func commaStr(s string) string {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return s
	}
	return commaInt(n)
}

// panelCache builds the ledger panel at most once per panelTTL, however
// many dashboards poll.
type panelCache struct {
	mu    sync.Mutex
	at    time.Time
	panel *web.Ledger
}

func (c *panelCache) get(ctx context.Context, build func(context.Context) *web.Ledger) *web.Ledger {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.panel == nil || time.Since(c.at) >= panelTTL {
		c.panel, c.at = build(ctx), time.Now()
	}
	return c.panel
}
