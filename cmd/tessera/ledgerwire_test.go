package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/api"
	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/router"
	"github.com/tessera-net/tessera/slice"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/web/webtest"
	"github.com/tessera-net/tessera/wire"
)

// paidSwarm is three nodes serving the demo ranges that require payment:
// the first owns an embedded ledger and serves it at /v1/ledger/ on its
// HTTP address (URL); the others and the clients use that address as
// their remote ledger. Every node staked and registered at start.
type paidSwarm struct {
	client string // the client slice
	nodes  []*runningNode
	http   *nodeHTTP // the first node's
	URL    string    // the ledger, through the first node
	conn   *ledgerConn
	peers  []string
}

func startPaidSwarm(t *testing.T) *paidSwarm {
	t.Helper()
	src, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	written, err := slice.Write(src, demoRanges, dir, slice.Options{Base: "kjv"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ps := &paidSwarm{}
	for _, w := range written {
		if w.Slice.Client {
			ps.client = w.Path
			continue
		}
		var conn *ledgerConn
		if ps.URL == "" {
			conn, err = ledgerFlags{Home: filepath.Join(dir, "ledger")}.open()
		} else {
			conn, err = ledgerFlags{URL: ps.URL}.open()
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		n, err := startNode(ctx, nodeOptions{ModelPath: w.Path, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Threads: 1, Logger: quietLogger(),
			Ledger: nodeLedgerOptions{Conn: conn, RequirePayment: true, Stake: 1000}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		if ps.URL == "" {
			if ps.http, err = startNodeHTTP(n, "127.0.0.1:0", quietLogger()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ps.http.Close)
			ps.URL, ps.conn = ps.http.URL, conn
		}
		ps.nodes = append(ps.nodes, n)
		ps.peers = append(ps.peers, n.host.Addrs()[0])
	}
	return ps
}

// fundedKey writes a new ledger key to dir/name and funds it from the
// faucet with amount credits (none for 0), through the CLI.
func (ps *paidSwarm) fundedKey(t *testing.T, dir, name string, amount uint64) (string, ed25519.PrivateKey) {
	t.Helper()
	path := filepath.Join(dir, name)
	if _, err := run(t, "ledger", "key", "--new", path); err != nil {
		t.Fatal(err)
	}
	if amount > 0 {
		out, err := run(t, "ledger", "faucet", "--key", path, "--amount", itoa(int(amount)), "--url", ps.URL)
		if err != nil || !strings.Contains(out, "balance "+itoa(int(amount))) {
			t.Fatalf("faucet: %q %v", out, err)
		}
	}
	key, err := readLedgerKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, key
}

func (ps *paidSwarm) account(t *testing.T, k ledger.PubKey) ledger.Account {
	t.Helper()
	v, err := ps.conn.api.Account(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return v.Account
}

func nodeKey(t *testing.T, n *runningNode) ledger.PubKey {
	t.Helper()
	key, err := hostSigningKey(n.host)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.KeyOf(key)
}

// A swarm whose nodes require payment: a client naming no account is
// refused by the first node, a poor one is stopped before it starts (and
// refused by a node if it goes ahead), a funded one generates, and its
// certificate is settled as the certificate says: the client pays
// layers × positions for each node, each node earns its share, the
// client (the auditor) earns the fee. Every node serves the ledger's API.
func TestPaidGenerationSettles(t *testing.T) {
	ps := startPaidSwarm(t)
	dir := t.TempDir()
	ctx := context.Background()

	// Every node is registered with its identity key and the stake.
	for i, n := range ps.nodes {
		v, err := ps.conn.api.Account(ctx, nodeKey(t, n))
		if err != nil || v.Node == nil || v.Stake != 1000 || v.Node.Capacity != 2 {
			t.Fatalf("node %d on the ledger: %+v %v", i, v, err)
		}
	}

	gen := func(args ...string) (string, string, error) {
		cmd := newRootCmd()
		var out, errOut strings.Builder
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs(append([]string{"generate", "--model", ps.client, "--peers", strings.Join(ps.peers, ","), "--prompt", e2ePrompt,
			"-n", "8", "--threads", "1"}, args...))
		err := cmd.Execute()
		return out.String(), errOut.String(), err
	}

	// No account: the first node refuses the session.
	_, _, err := gen()
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeRefused || !strings.Contains(err.Error(), "name a ledger account") {
		t.Fatalf("a client without an account: %v", err)
	}

	// A poor account is stopped by the client itself …
	poorFile, poor := ps.fundedKey(t, dir, "poor.key", 10)
	if _, _, err := gen("--ledger-key", poorFile, "--ledger-url", ps.URL); err == nil || !strings.Contains(err.Error(), "has 10 credits") {
		t.Fatalf("a poor client: %v", err)
	}
	// … and refused by a node if it signs a session anyway.
	lm, err := loadClientModel(ps.client, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Close()
	c, err := modelCommitments(lm.file, ps.client, nil)
	if err != nil {
		t.Fatal(err)
	}
	chain, _, err := remoteChainOn(t, lm, c, chainOptions{Peers: ps.peers, Payer: poor, MaxPositions: 64})
	if err != nil {
		t.Fatal(err)
	}
	err = chain.Forward(ctx, 0, make([]float32, lm.model.Config.Dim), 1)
	chain.Close()
	if !errors.As(err, &we) || we.Code != wire.CodeRefused || !strings.Contains(err.Error(), "has 10 credits") {
		t.Fatalf("a poor payer's session: %v", err)
	}

	// A funded account generates (audited with a verification key) and
	// settles.
	richFile, rich := ps.fundedKey(t, dir, "rich.key", 100_000)
	vkFile := filepath.Join(dir, "kjv.vk")
	if _, err := run(t, "vk", "gen", "--out", vkFile); err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "gen.cert")
	out, log, err := gen("--ledger-key", richFile, "--ledger-url", ps.URL, "--vk", vkFile, "--certificate", certFile)
	if err != nil {
		t.Fatalf("a funded client: %v\n%s", err, log)
	}
	if !strings.HasPrefix(out, e2ePrompt) || !strings.Contains(log, "settled at height") || !strings.Contains(log, "audit passed") {
		t.Fatalf("generate printed %q\n%s", out, log)
	}
	t.Logf("generate:\n%s%s", out, log)
	raw, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := proof.UnmarshalCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Audited || !cert.Passed || !proof.SameKey(cert.Auditor, rich.Public().(ed25519.PublicKey)) {
		t.Fatalf("certificate: audited %v passed %v auditor %x", cert.Audited, cert.Passed, []byte(cert.Auditor))
	}
	rec, err := ps.conn.api.Certificate(ctx, sha256.Sum256(raw))
	if err != nil {
		t.Fatalf("the certificate file's hash is not on the ledger: %v", err)
	}
	tokens := uint64(cert.PromptTokens + cert.OutputTokens)
	if rec.Client != ledger.KeyOf(rich) || rec.Auditor != ledger.KeyOf(rich) || !rec.Passed || rec.Tokens != tokens || len(rec.Work) != 3 {
		t.Fatalf("ledger record %+v", rec)
	}
	var units uint64
	for i, w := range rec.Work {
		h := cert.Hops[i]
		var positions uint64
		for _, r := range h.Receipts {
			positions = max(positions, uint64(r.Start+r.N))
		}
		if w.Node != nodeKey(t, ps.nodes[i]) || w.Layers != 2 || w.Positions != positions || positions == 0 || positions >= tokens {
			t.Errorf("work %d: %+v, want node %s, 2 layers, %d positions (tokens %d)", i, w, nodeKey(t, ps.nodes[i]), positions, tokens)
		}
		units += uint64(w.Layers) * w.Positions
	}
	info, _ := ps.conn.info(ctx)
	p := info.Params
	wantCharge := units * p.PricePerTokenLayer
	wantFee := wantCharge * uint64(p.AuditorFeeBps) / 10000
	if rec.Charged != wantCharge || rec.Fee != wantFee {
		t.Errorf("charged %d fee %d, want %d and %d", rec.Charged, rec.Fee, wantCharge, wantFee)
	}
	// Balances moved as the record says: the client paid the charge and
	// earned the fee as its own auditor; each node earned its share.
	if got := ps.account(t, ledger.KeyOf(rich)).Balance; got != 100_000-rec.Charged+rec.Fee {
		t.Errorf("client balance %d, want %d", got, 100_000-rec.Charged+rec.Fee)
	}
	var earned uint64
	for i, n := range ps.nodes {
		a := ps.account(t, nodeKey(t, n))
		if a.Balance != rec.Earned[i] || rec.Earned[i] == 0 {
			t.Errorf("node %d balance %d, earned %d", i, a.Balance, rec.Earned[i])
		}
		earned += rec.Earned[i]
	}
	if earned+rec.Fee != rec.Charged {
		t.Errorf("earnings %d + fee %d != charge %d", earned, rec.Fee, rec.Charged)
	}
	if !strings.Contains(log, "client paid "+itoa(int(rec.Charged))+" credits") {
		t.Errorf("generate did not print the charge %d:\n%s", rec.Charged, log)
	}

	// The first node's dashboard and metrics show its ledger account and
	// its admissions: the client without an account and the poor one
	// were refused there, the funded one admitted.
	st, err := (&nodeStatus{n: ps.nodes[0]}).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l := st.Ledger; l == nil || l.Error != "" || len(l.Accounts) != 1 || l.Accounts[0].Role != "this node" ||
		l.Accounts[0].Earned != commaInt(rec.Earned[0]) || l.Accounts[0].Stake != "1,000" || len(l.Transactions) == 0 || l.Transactions[0].Kind != "certificate" {
		t.Errorf("node ledger panel %+v", st.Ledger)
	}
	resp, err := http.Get(ps.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{`tessera_node_admissions_total{result="refused"} 2`, `tessera_node_admissions_total{result="admitted"} 1`,
		`tessera_node_ledger_earned_credits ` + itoa(int(rec.Earned[0])), `tessera_node_ledger_stake_credits 1000`} {
		if !strings.Contains(string(metrics), w) {
			t.Errorf("node metrics lack %s", w)
		}
	}

	// The ledger API on each node: the first serves its own store, the
	// others forward to it.
	for i, n := range ps.nodes {
		base := ps.URL
		if i > 0 {
			h, err := startNodeHTTP(n, "127.0.0.1:0", quietLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			base = h.URL
		}
		var got ledger.Info
		getJSON(t, base+"/v1/ledger/info", &got)
		if got.AppHash != info.AppHash || got.Height != info.Height {
			t.Errorf("node %d's /v1/ledger/info %+v, want %+v", i, got, info)
		}
		var c ledger.Certificate
		getJSON(t, base+"/v1/ledger/certificates/"+rec.ID.String(), &c)
		if c.Charged != rec.Charged {
			t.Errorf("node %d's certificate %+v", i, c)
		}
	}
}

// remoteChainOn connects a fresh client host to the nodes.
func remoteChainOn(t *testing.T, lm *localModel, c commit.Commitments, o chainOptions) (*swarm.Chain, *router.Router, error) {
	t.Helper()
	h, err := p2p.New(context.Background(), p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return remoteChain(context.Background(), h, lm, c, o)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// A gateway whose API keys map to ledger accounts, over nodes that
// require payment: a funded account's generation is audited, signed and
// settled (the account pays each node its work units and earns the
// auditor's fee), a poor account is answered 429 insufficient_quota, the
// gateway serves the ledger's API, its metrics count the audit and the
// earnings, and its dashboard (in Chromium) shows the ledger.
func TestGatewayPaysNodes(t *testing.T) {
	ps := startPaidSwarm(t)
	dir := t.TempDir()
	ctx := context.Background()
	_, rich := ps.fundedKey(t, dir, "rich.key", 100_000)
	ps.fundedKey(t, dir, "poor.key", 20)
	keysFile := filepath.Join(dir, "keys.txt")
	if err := os.WriteFile(keysFile, []byte("sk-rich-0001 rich rich.key\nsk-poor-0001 poor poor.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vkFile := filepath.Join(dir, "kjv.vk")
	if _, err := run(t, "vk", "gen", "--out", vkFile); err != nil {
		t.Fatal(err)
	}
	g := startTestGateway(t, gatewayOptions{ModelPath: ps.client, Peers: ps.peers, KeysFile: keysFile,
		Ledger: ledgerFlags{URL: ps.URL}, Verify: verifyOptions{VKs: []string{vkFile}}})
	want := generateText(t, e2ePrompt, 12)

	chat := map[string]any{"model": "kjv", "temperature": 0, "max_tokens": 12,
		"messages": []map[string]string{{"role": "user", "content": e2ePrompt}}}
	status, hdr, body := apiCall(t, g, "/v1/chat/completions", "sk-rich-0001", chat)
	if status != 200 {
		t.Fatalf("rich account: %d %s", status, body)
	}
	var cc api.ChatCompletion
	if err := json.Unmarshal(body, &cc); err != nil || cc.Choices[0].Message.Content != want {
		t.Fatalf("through the paying gateway %s, want %q", body, want)
	}

	// The certificate: audited, signed by the account's key, settled.
	id := hdr.Get("X-Tessera-Certificate")
	var c api.Certificate
	deadline := time.Now().Add(30 * time.Second)
	for {
		getJSONAuth(t, g.URL+"/v1/certificates/"+id, "sk-rich-0001", &c)
		if c.Settlement != nil && c.Settlement.Status != api.SettlementPending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %+v", c.Settlement)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c.Audit.Status != api.AuditPassed || !c.Audit.Verified {
		t.Errorf("audit %+v", c.Audit)
	}
	var p gatewayProof
	if err := json.Unmarshal(c.Proof, &p); err != nil {
		t.Fatal(err)
	}
	cert, err := proof.UnmarshalCertificate(p.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyCertificate(cert); err != nil || !cert.Audited || !cert.Passed || !proof.SameKey(cert.Auditor, rich.Public().(ed25519.PublicKey)) {
		t.Fatalf("proof certificate: %v audited %v passed %v", err, cert.Audited, cert.Passed)
	}
	if cert.PromptHash != proof.HashText(e2ePrompt) || c.PromptSHA256 != fmt.Sprintf("%x", cert.PromptHash) {
		t.Errorf("the proof and the gateway's record hash different prompts")
	}
	s := c.Settlement
	if s.Status != api.SettlementSettled || s.ID != fmt.Sprintf("%x", sha256.Sum256(p.Certificate)) || s.ID != p.SHA256 || s.Payer != ledger.KeyOf(rich).String() {
		t.Fatalf("settlement %+v", s)
	}
	rec, err := ps.conn.api.Certificate(ctx, ledger.Hash(sha256.Sum256(p.Certificate)))
	if err != nil || rec.Charged != s.Charged || rec.Fee != s.Fee || len(rec.Work) != 3 || len(s.Nodes) != 3 {
		t.Fatalf("ledger record %+v %v, gateway's %+v", rec, err, s)
	}
	var earned uint64
	for i, n := range s.Nodes {
		if n.Key != nodeKey(t, ps.nodes[i]).String() || n.Peer != ps.nodes[i].host.ID() || n.Layers != demoRanges[i].String() ||
			n.Earned != rec.Earned[i] || n.WorkUnits != uint64(rec.Work[i].Layers)*rec.Work[i].Positions {
			t.Errorf("node %d payment %+v, ledger %+v earned %d", i, n, rec.Work[i], rec.Earned[i])
		}
		if got := ps.account(t, nodeKey(t, ps.nodes[i])).Balance; got != rec.Earned[i] {
			t.Errorf("node %d balance %d, earned %d", i, got, rec.Earned[i])
		}
		earned += n.Earned
	}
	if earned+s.Fee != s.Charged || s.Charged == 0 {
		t.Errorf("charged %d, fee %d, earned %d", s.Charged, s.Fee, earned)
	}
	if got := ps.account(t, ledger.KeyOf(rich)).Balance; got != 100_000-s.Charged+s.Fee {
		t.Errorf("rich balance %d, want %d", got, 100_000-s.Charged+s.Fee)
	}

	// A poor account cannot pay for max_tokens: 429 insufficient_quota,
	// not to be retried, and nothing is generated or charged.
	status, hdr, body = apiCall(t, g, "/v1/chat/completions", "sk-poor-0001", chat)
	if status != 429 || hdr.Get("X-Should-Retry") != "false" || hdr.Get("X-Tessera-Certificate") != "" {
		t.Fatalf("poor account: %d %v %s", status, hdr, body)
	}
	var eb struct {
		Error struct {
			Message, Type string
			Code          *string
			Param         *string
		}
	}
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Type != "insufficient_quota" || eb.Error.Code == nil || *eb.Error.Code != "insufficient_quota" ||
		eb.Error.Param != nil || !strings.Contains(eb.Error.Message, "has 20 credits") {
		t.Errorf("insufficient quota body %s", body)
	}

	// The gateway serves the ledger's API.
	var info ledger.Info
	getJSON(t, g.URL+"/v1/ledger/info", &info)
	if info.Height != rec.Height {
		t.Errorf("gateway /v1/ledger/info %+v, want height %d", info, rec.Height)
	}

	// Metrics count the audit and the earnings.
	resp, err := http.Get(g.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{
		`tessera_gateway_audits_total{result="passed"} 1`,
		`tessera_gateway_settlements_total{result="settled"} 1`,
		`tessera_gateway_charged_credits_total{account="rich"} ` + itoa(int(s.Charged)),
		`tessera_gateway_node_earned_credits_total{node="` + ps.nodes[1].host.ID() + `"} ` + itoa(int(rec.Earned[1])),
		`tessera_gateway_errors_total{code="insufficient_quota"} 1`,
	} {
		if !strings.Contains(string(metrics), w) {
			t.Errorf("gateway metrics lack %s", w)
		}
	}

	// The dashboard's ledger panel: the accounts, the nodes' earnings,
	// the settlement.
	st, err := gatewayStatus{g}.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := st.Ledger
	if l == nil || l.Error != "" || l.Height != rec.Height || l.AppHash != info.AppHash.String() || len(l.Accounts) != 5 {
		t.Fatalf("ledger panel %+v", l)
	}
	if len(l.Transactions) == 0 || l.Transactions[0].Kind != "certificate" || l.Transactions[0].From != "rich" || l.Transactions[0].Amount != commaInt(s.Charged) {
		t.Errorf("latest transaction %+v", l.Transactions)
	}
	webtest.Chromium(t)
	dom := webtest.DumpDOM(t, g.URL+"/", webtest.Options{})
	for _, w := range []string{">rich<", ">poor<", ">" + commaInt(100_000-s.Charged+s.Fee) + "<", "height " + commaInt(rec.Height),
		shortPeer(ps.nodes[2].host.ID()) + " 4:6", ">" + commaInt(rec.Earned[2]) + "<", ">certificate<", "verified", ">" + commaInt(s.Charged) + " credits<"} {
		if !strings.Contains(dom, w) {
			t.Errorf("the dashboard lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
	webtest.Screenshot(t, g.URL+"/", "dashboard-gateway-ledger.png", webtest.Options{Width: 1280, Height: 2000})
}

func getJSONAuth(t *testing.T, url, key string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// The node's ledger flags refuse what cannot work, before or as the node
// starts.
func TestNodeLedgerFlagErrors(t *testing.T) {
	dir := t.TempDir()
	base := []string{"node", "--http", "", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir", filepath.Join(dir, "node"), "--threads", "1"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--require-payment"}, "--require-payment needs a ledger"},
		{[]string{"--stake", "1000"}, "--stake needs a ledger"},
		{[]string{"--ledger-url", "http://127.0.0.1:1", "--ledger-home", dir}, "not both"},
		{[]string{"--ledger-url", "127.0.0.1:7070"}, "want http://HOST:PORT"},
		{[]string{"--ledger-home", filepath.Join(dir, "l"), "--stake", "10"}, "below the ledger's minimum node stake"},
		{[]string{"--ledger-url", "http://127.0.0.1:1", "--stake", "1000"}, "ledger http://127.0.0.1:1"},
	} {
		_, err := run(t, append(base, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error mentioning %q", c.args, err, c.want)
		}
	}
}

// A node that requires payment starts while its ledger is down (it only
// checks its registration) and refuses every session, saying why, until
// the ledger answers.
func TestPaymentFailsClosed(t *testing.T) {
	conn, err := ledgerFlags{URL: "http://127.0.0.1:1"}.open() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := startNode(ctx, nodeOptions{Layers: "0:6", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Threads: 1, Logger: quietLogger(),
		Ledger: nodeLedgerOptions{Conn: conn, RequirePayment: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	lm, err := loadClientModel("", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Close()
	c, err := modelCommitments(lm.file, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	chain, _, err := remoteChainOn(t, lm, c, chainOptions{Peers: []string{n.host.Addrs()[0]}, Payer: seededLedgerKey(1), MaxPositions: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	err = chain.Forward(ctx, 0, make([]float32, lm.model.Config.Dim), 1)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeRefused || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("with the ledger down: %v", err)
	}
	if n.payment.unavailable.Load() != 1 {
		t.Errorf("unavailable count %d", n.payment.unavailable.Load())
	}
}
