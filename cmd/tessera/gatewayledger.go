package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tessera-net/tessera/api"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/router"
	"github.com/tessera-net/tessera/web"
)

// gatewayAccount is an account the gateway serves and pays for (custodial:
// the gateway holds its ledger key).
type gatewayAccount struct {
	name string
	key  ed25519.PrivateKey
	pub  ledger.PubKey
}

// gatewayBilling is the gateway's ledger side: each API account's ledger
// key, the balance check before a generation (with the credits of
// generations still running or settling held back, so concurrent requests
// cannot overspend), and the settlement of each generation's signed
// certificate after it.
type gatewayBilling struct {
	conn     *ledgerConn
	accounts map[string]*gatewayAccount // by API account name
	log      *slog.Logger

	mu       sync.Mutex
	reserved map[ledger.PubKey]uint64
	pending  sync.WaitGroup // settlements running

	settlements *prometheus.CounterVec // result
	charged     *prometheus.CounterVec // account
	earned      *prometheus.CounterVec // node (peer id)
	fees        prometheus.Counter
}

// settleTimeout bounds one settlement (a CometBFT ledger commits in
// seconds; a solo one in milliseconds).
const settleTimeout = time.Minute

// newGatewayBilling loads the ledger key of every account: the keys
// file's own (ledger key files), else fallback (--ledger-key) for the
// accounts of --api-key ("default"), of requests without keys
// (api.Anonymous) and of keys-file accounts without one. An account with
// no key at all is an error: with a ledger every generation is paid.
func newGatewayBilling(conn *ledgerConn, keys *api.Keys, fallback string, reg *prometheus.Registry, log *slog.Logger) (*gatewayBilling, error) {
	b := &gatewayBilling{conn: conn, accounts: map[string]*gatewayAccount{}, reserved: map[ledger.PubKey]uint64{}, log: log}
	names := keys.Accounts()
	if keys == nil {
		names = []string{api.Anonymous}
	}
	loaded := map[string]ed25519.PrivateKey{}
	for _, name := range names {
		file, ok := keys.LedgerKey(name)
		if !ok {
			file = fallback
		}
		if file == "" {
			return nil, fmt.Errorf("with a ledger every generation is paid, but account %q has no ledger key: give --ledger-key FILE (the gateway's paying account), or a ledger key file for it in the keys file (\"KEY %s FILE\")", name, name)
		}
		key, ok := loaded[file]
		if !ok {
			var err error
			if key, err = readLedgerKey(file); err != nil {
				return nil, fmt.Errorf("account %q: %w", name, err)
			}
			loaded[file] = key
		}
		b.accounts[name] = &gatewayAccount{name: name, key: key, pub: ledger.KeyOf(key)}
	}
	b.settlements = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tessera_gateway_settlements_total",
		Help: "Certificates submitted to the ledger, by result: settled, rejected, failed (the ledger did not answer), none (no node the ledger can pay)."}, []string{"result"})
	b.charged = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tessera_gateway_charged_credits_total",
		Help: "Credits the ledger charged the gateway's accounts for settled generations."}, []string{"account"})
	b.earned = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tessera_gateway_node_earned_credits_total",
		Help: "Credits nodes earned from the generations this gateway settled."}, []string{"node"})
	b.fees = prometheus.NewCounter(prometheus.CounterOpts{Name: "tessera_gateway_auditor_fees_credits_total",
		Help: "Auditor fees of the settled generations (the paying account audits, so it earns them back)."})
	reg.MustRegister(b.settlements, b.charged, b.earned, b.fees)
	for _, r := range []string{"settled", "rejected", "failed", "none"} {
		b.settlements.WithLabelValues(r)
	}
	return b, nil
}

// account is the ledger account of an API account (nil: none).
func (b *gatewayBilling) account(name string) *gatewayAccount {
	if b == nil {
		return nil
	}
	return b.accounts[name]
}

// reserve checks that a can pay for layers layers over positions
// positions beyond what its running generations hold back, and holds
// that much back until release.
func (b *gatewayBilling) reserve(ctx context.Context, a *gatewayAccount, layers, positions int) (release func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, paymentTimeout)
	defer cancel()
	info, err := b.conn.info(ctx)
	if err != nil {
		return nil, api.ErrLedgerUnavailable("the gateway cannot check the account's balance: " + err.Error())
	}
	v, err := b.conn.api.Account(ctx, a.pub)
	if err != nil {
		return nil, api.ErrLedgerUnavailable(fmt.Sprintf("the gateway cannot check the account's balance: the %s did not answer: %v", b.conn.where(), err))
	}
	price, ok := ledger.Quote(info.Params, uint64(layers), uint64(positions))
	b.mu.Lock()
	defer b.mu.Unlock()
	held := b.reserved[a.pub]
	if !ok || v.Balance < held || v.Balance-held < price {
		msg := fmt.Sprintf("You exceeded your current quota: account %s (ledger %s) has %d credits", a.name, shortKey(a.pub), v.Balance)
		if held > 0 {
			msg += fmt.Sprintf(", %d of them held for generations in progress", held)
		}
		return nil, api.ErrInsufficientCredits(msg + fmt.Sprintf("; this request may cost %d (%d layers × %d positions × %d). Ask for fewer max_tokens, or fund the account.",
			price, layers, positions, info.Params.PricePerTokenLayer))
	}
	b.reserved[a.pub] += price
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.reserved[a.pub] -= price; b.reserved[a.pub] == 0 {
				delete(b.reserved, a.pub)
			}
		})
	}, nil
}

// settle submits cert's settlement for a in the background, records the
// outcome in the gateway's certificate id and releases the reservation.
func (b *gatewayBilling) settle(srv *api.Server, id string, a *gatewayAccount, cert *proof.Certificate, release func()) {
	b.pending.Add(1)
	go func() {
		defer b.pending.Done()
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		defer cancel()
		t0 := time.Now()
		st, err := settleCertificate(ctx, b.conn, a.key, a.key, cert)
		rec := b.record(a, cert, st, err)
		srv.UpdateSettlement(id, rec)
		if err != nil {
			b.log.Warn("settlement", "certificate", id, "account", a.name, "status", rec.Status, "error", err)
			return
		}
		b.log.Info("settlement", "certificate", id, "account", a.name, "ledger_id", st.Record.ID.String(), "height", st.Record.Height,
			"charged", st.Record.Charged, "ms", time.Since(t0).Milliseconds())
	}()
}

// record is what a settlement did, for the certificate and the metrics.
func (b *gatewayBilling) record(a *gatewayAccount, cert *proof.Certificate, st settlement, err error) api.Settlement {
	rec := api.Settlement{Status: api.SettlementSettled, Ledger: b.conn.where(), ID: ledgerCertificateID(cert).String(), Payer: a.pub.String()}
	for _, u := range st.Unpaid {
		rec.Nodes = append(rec.Nodes, b.nodePayment(cert, u.Node, u.Units, 0, u.Reason))
	}
	switch {
	case errors.Is(err, errNothingToSettle):
		rec.Status, rec.Detail = api.SettlementNone, err.Error()
		b.settlements.WithLabelValues("none").Inc()
		return rec
	case ledger.CodeOf(err) != ledger.CodeOK && errors.As(err, new(*ledger.RejectError)):
		rec.Status, rec.Detail = api.SettlementFailed, err.Error()
		b.settlements.WithLabelValues("rejected").Inc()
		return rec
	case err != nil:
		rec.Status, rec.Detail = api.SettlementFailed, err.Error()
		b.settlements.WithLabelValues("failed").Inc()
		return rec
	}
	r := st.Record
	rec.Height, rec.TxHash, rec.Charged, rec.Fee = r.Height, st.Receipt.TxHash.String(), r.Charged, r.Fee
	if !r.Passed {
		rec.Detail = "the audit failed: the account paid the auditor's fee only and the nodes nothing"
	}
	paid := make([]api.NodePayment, 0, len(r.Work))
	for i, w := range r.Work {
		units, _ := w.Units()
		p := b.nodePayment(cert, w.Node, units, r.Earned[i], "")
		paid = append(paid, p)
		b.earned.WithLabelValues(p.Peer).Add(float64(r.Earned[i]))
	}
	rec.Nodes = append(paid, rec.Nodes...)
	b.settlements.WithLabelValues("settled").Inc()
	b.charged.WithLabelValues(a.name).Add(float64(r.Charged))
	b.fees.Add(float64(r.Fee))
	return rec
}

func (b *gatewayBilling) nodePayment(cert *proof.Certificate, k ledger.PubKey, units, earned uint64, unpaid string) api.NodePayment {
	p := api.NodePayment{Key: k.String(), WorkUnits: units, Earned: earned, Unpaid: unpaid}
	for _, h := range cert.AllHops() {
		if proof.SameKey(h.Key, k[:]) {
			p.Peer, p.Layers = h.Peer, fmt.Sprintf("%d:%d", h.First, h.Last)
		}
	}
	return p
}

// wait waits for the settlements running (at most until ctx ends).
func (b *gatewayBilling) wait(ctx context.Context) {
	if b == nil {
		return
	}
	done := make(chan struct{})
	go func() { b.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// panelAccounts are the gateway's accounts, for the dashboard.
func (b *gatewayBilling) panelAccounts() []namedAccount {
	var out []namedAccount
	for _, a := range b.accounts {
		out = append(out, namedAccount{name: a.name, role: "account", key: a.pub})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// gatewayProof is the proof part of the gateway's certificate: the
// auditor's signed proof certificate (its bytes, what `tessera verify
// certificate` reads) and what it states.
type gatewayProof struct {
	Certificate []byte `json:"certificate"` // proof.Certificate.Marshal(), base64
	SHA256      string `json:"sha256"`      // of Certificate: the ledger's id for it
	Auditor     string `json:"auditor"`     // the auditor's key (hex)
	Audited     bool   `json:"audited"`
	Passed      bool   `json:"passed"`
	VKID        string `json:"vk_id,omitempty"`
	Receipts    int    `json:"receipts"`
}

// auditOf says what a signed certificate states, for the gateway's record.
func auditOf(c *proof.Certificate) (api.Audit, json.RawMessage) {
	receipts := 0
	for _, h := range c.AllHops() {
		receipts += len(h.Receipts)
	}
	p := gatewayProof{Certificate: c.Marshal(), SHA256: ledgerCertificateID(c).String(), Auditor: fmt.Sprintf("%x", []byte(c.Auditor)),
		Audited: c.Audited, Passed: c.Passed, Receipts: receipts}
	var a api.Audit
	switch {
	case !c.Passed:
		a = api.Audit{Status: api.AuditFailed, Detail: "FAILED: a node's receipt or an audited cell did not check (see the proof)"}
	case c.Audited:
		p.VKID = fmt.Sprintf("%x", c.VKID[:])
		a = api.Audit{Status: api.AuditPassed, Verified: true,
			Detail: fmt.Sprintf("passed: %d signed receipts checked and audited with verification key %x (Freivalds checks of sampled cells)", receipts, c.VKID[:8])}
	default:
		a = api.Audit{Status: api.AuditReceipts,
			Detail: fmt.Sprintf("%d signed receipts checked (signatures, chain, inputs and outputs); not audited: start the gateway with --vk to audit the nodes' computation", receipts)}
	}
	raw, _ := json.Marshal(p)
	return a, raw
}

// localAudit is the audit of a generation whose layers all ran in the
// gateway: there is no node to check.
var localAudit = api.Audit{Status: api.AuditNone, Detail: "every layer ran in this gateway: there was no node to check"}

// generation is the gateway backend's Layers: the account's balance check
// and reservation, the chain of the swarm (asking every node for signed
// receipts and auditing them), and once the generation ends the signed
// certificate and its settlement.
func (g *runningGateway) generation(ctx context.Context, job api.Job) (generate.Layers, func(generate.Result, error) api.Meta, error) {
	acct := g.billing.account(job.Account)
	release := func() {}
	if remote := g.remoteLayers(); acct != nil && remote > 0 {
		var err error
		positions := min(len(job.Prompt)+job.Request.MaxTokens, g.lm.model.Config.ContextLen)
		if release, err = g.billing.reserve(ctx, acct, remote, positions); err != nil {
			return nil, nil, err
		}
	}
	layers, done, err := g.swarm.layers(ctx, job)
	if err != nil {
		release()
		return nil, nil, err
	}
	return layers, func(res generate.Result, genErr error) api.Meta {
		meta := api.Meta{Hops: done()}
		chain, ok := layers.(provenChain)
		if !ok {
			release()
			meta.Audit = &localAudit
			return meta
		}
		signer := g.signer
		if acct != nil {
			signer = acct.key // the account audits as itself, as tessera generate does
		}
		cert := certify(signer, g.commit.Model, job.PromptText, res, chain, g.vks)
		a, p := auditOf(cert)
		meta.Audit, meta.Proof = &a, p
		switch {
		case acct == nil:
			release()
		case genErr != nil:
			release()
			meta.Settlement = &api.Settlement{Status: api.SettlementNone, Ledger: g.billing.conn.where(), Detail: "the generation failed: nothing is paid"}
		default:
			meta.Settlement = &api.Settlement{Status: api.SettlementPending, Ledger: g.billing.conn.where(), ID: ledgerCertificateID(cert).String(), Payer: acct.pub.String()}
			g.billing.settle(g.api, job.CertificateID, acct, cert, release)
		}
		return meta
	}, nil
}

// remoteLayers is the layers the nodes compute for each generation.
func (g *runningGateway) remoteLayers() int {
	if g.swarm.host == nil {
		return 0
	}
	return g.lm.model.Config.Layers - g.opts.LocalLayers
}

// notes say on the dashboard how generations are checked and paid.
func (g *runningGateway) notes() []string {
	var notes []string
	switch {
	case g.swarm.host == nil:
		notes = append(notes, "Every layer runs in this gateway: there are no nodes to check or pay.")
	case len(g.vks) == 0:
		notes = append(notes, "Every node's signed receipts are checked, but the nodes' computation is not audited: start the gateway with --vk KEY (tessera vk gen) to audit it.")
	default:
		notes = append(notes, fmt.Sprintf("Every node's signed receipts are checked and sampled cells audited with %d verification key(s); each certificate is signed.", len(g.vks)))
	}
	if g.billing == nil {
		notes = append(notes, "No ledger: generations are not paid and the nodes earn nothing (start the gateway with --ledger-url or --ledger-home).")
	}
	return notes
}

// maxPanelNodes bounds the nodes the ledger panel shows.
const maxPanelNodes = 16

// ledgerPanel is the dashboard's ledger panel: the gateway's accounts and
// the nodes it sees (each node's account is its identity key).
func (g *runningGateway) ledgerPanel(ctx context.Context, nodes []web.Node) *web.Ledger {
	if g.billing == nil {
		return nil
	}
	return g.panel.get(ctx, func(ctx context.Context) *web.Ledger {
		accounts := g.billing.panelAccounts()
		seen := map[ledger.PubKey]bool{}
		for _, n := range nodes {
			k, err := router.PeerKey(n.Peer)
			if err != nil || seen[ledger.PubKey(k)] || len(seen) == maxPanelNodes {
				continue // local hops and nodes not reached yet
			}
			seen[ledger.PubKey(k)] = true
			accounts = append(accounts, namedAccount{name: shortPeer(n.Peer) + " " + fmt.Sprintf("%d:%d", n.First, n.Last), role: "node", key: ledger.PubKey(k)})
		}
		return ledgerPanel(ctx, g.ledger, accounts)
	})
}

// paidText is a settlement in a few words, for the dashboard.
func paidText(s *api.Settlement) string {
	switch {
	case s == nil:
		return ""
	case s.Status == api.SettlementSettled:
		return commaInt(s.Charged) + " credits"
	case s.Detail != "":
		return s.Status + ": " + s.Detail
	}
	return s.Status
}
