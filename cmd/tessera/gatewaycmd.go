package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	xrate "golang.org/x/time/rate"

	"github.com/tessera-net/tessera/api"
	"github.com/tessera-net/tessera/chat"
	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/router"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/web"
	"github.com/tessera-net/tessera/wire"
)

// gatewayOptions configure `tessera gateway`.
type gatewayOptions struct {
	ModelPath     string   // client file or whole model; "" = the embedded model
	ModelName     string   // the id clients use; "" = from the file name
	Peers         []string // full multiaddrs of nodes; none = every layer here
	LocalLayers   int      // with peers: run layers [0, LocalLayers) here
	DType         wire.DType
	Timeout       time.Duration // bound on each round trip to a node
	Threads       int
	Listen        string   // host:port of the HTTP server
	APIKeys       []string // keys of the account "default"
	KeysFile      string   // key → account table (see api.ParseKeys)
	ChatTemplate  string   // "" (the model's own, else plain), "plain", "chatml" or a .jinja file
	MaxConcurrent int
	MaxQueued     int
	MaxBodyBytes  int64
	// Per-account limits (without keys, per client address); 0: none.
	RequestsPerMinute   int
	MaxConcurrentPerKey int
	MaxPromptTokens     int
	MaxCompletionTokens int
	MaxConns            int            // libp2p connections at once (0: p2p.DefaultMaxConns)
	HealthEvery         time.Duration  // how often nodes are asked what they serve (0: 2s)
	Discovery           discoveryFlags // --bootstrap/--mdns: find the nodes instead of --peers
	Logger              *slog.Logger

	Progress  io.Writer     // where loading shows a progress bar (nil: none)
	Verify    verifyOptions // --vk, --audit-budget, --audit-cells: how the nodes are audited
	Ledger    ledgerFlags   // --ledger-url/--ledger-home: the ledger generations are paid on
	LedgerKey string        // --ledger-key: the account paying for --api-key and keyless requests
}

func newGatewayCmd() *cobra.Command {
	var (
		o         gatewayOptions
		peers     string
		dtype     string
		rateLimit string
		logs      logOptions
	)
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Serve an OpenAI-compatible API and the dashboard over a swarm",
		Long: `Serve the OpenAI API (GET /v1/models, POST /v1/completions,
POST /v1/chat/completions with stream: true as server-sent events) for one
model, generating through the nodes at --peers (or with every layer in this
process when there are none). The gateway holds the tokenizer, embedding and
head; the nodes see only hidden states.

Every answer carries a certificate id (the certificate_id field and the
X-Tessera-Certificate header); GET /v1/certificates/{id} returns the
certificate: what ran where, and the auditor's signed proof certificate.
Every node's signed receipts are checked; with --vk the gateway also audits
the nodes' computation (Freivalds checks of sampled cells).

Ledger (--ledger-url, or --ledger-home for an embedded one, served at
/v1/ledger/): each API account pays from a ledger account whose key the
gateway holds, named in the keys file ("KEY ACCOUNT LEDGER_KEY_FILE") or
--ledger-key for --api-key and keyless requests. Before a generation the
account's balance must cover max_tokens (else 429 insufficient_quota);
after it the signed certificate is settled: the account pays each node for
its work and, as the auditor, earns the fee.

The same address serves the dashboard at /, Prometheus metrics at /metrics,
/healthz and, with a ledger, the ledger's API at /v1/ledger/ (these need no
key). With --api-key or --keys-file every other /v1/ request needs
"Authorization: Bearer KEY"; the environment variable TESSERA_API_KEY is
used when --api-key is not given.

Limits: each account (without keys, each client address) may send
--rate-limit generation requests and run --max-concurrent-per-key at once;
beyond them requests are answered 429 rate_limit_exceeded with Retry-After
(the official clients wait and retry). --max-prompt-tokens and
--max-completion-tokens bound a request's tokens (400 beyond them).

Chat templates: the model's own (GGUF tokenizer.chat_template, rendered as
Jinja), or for models without one "plain" (the messages' texts joined by
newlines). --chat-template chooses plain, chatml or a Jinja file instead.`,
		Example: `  tessera gateway --model kjv.client.gguf --peers /ip4/10.0.0.2/tcp/4001/p2p/12D3KooW…,/ip4/10.0.0.3/tcp/4001/p2p/12D3KooW…
  tessera gateway --listen 127.0.0.1:8080 --api-key sk-local-secret
  curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"kjv-tiny-q8_0","messages":[{"role":"user","content":"In the beginning"}],"max_tokens":24}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			o.Logger = logger
			o.Progress = terminal(cmd.ErrOrStderr())
			if peers != "" && o.Discovery.enabled() {
				return errors.New("give --peers (fixed nodes) or --bootstrap/--mdns (nodes found by discovery), not both")
			}
			if peers != "" {
				if o.Peers, err = p2p.ParsePeerAddrs(peers); err != nil {
					return err
				}
			}
			if o.DType, err = wire.ParseDType(dtype); err != nil {
				return err
			}
			if o.RequestsPerMinute, err = requestsPerMinute(rateLimit); err != nil {
				return fmt.Errorf("--rate-limit: %w", err)
			}
			if len(o.APIKeys) == 0 && o.KeysFile == "" {
				if k := os.Getenv("TESSERA_API_KEY"); k != "" {
					o.APIKeys = []string{k}
				}
			}
			g, err := startGateway(ctx, o)
			if err != nil {
				return err
			}
			defer g.Close()
			g.printBanner(cmd.OutOrStdout())
			select {
			case <-ctx.Done():
			case <-g.done:
				return g.serveErr
			}
			logger.Info("gateway stopping", "generations", g.api.Totals().Generations)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.ModelPath, "model", "m", "", "client file (from tessera model slice) or whole GGUF model (default: the embedded kjv-tiny model)")
	f.StringVar(&o.ModelName, "model-name", "", "model id clients use (default: the file name without .gguf)")
	f.StringVar(&peers, "peers", "", "comma-separated multiaddrs of nodes serving the layers (default: run every layer here)")
	f.IntVar(&o.LocalLayers, "local-layers", 0, "with --peers or --bootstrap: run the first K layers in this process too")
	addDiscoveryFlags(f, &o.Discovery, true)
	f.StringVar(&dtype, "dtype", "f32", "hidden-state encoding on the wire: f32 (exact) or f16 (half the bytes)")
	f.DurationVar(&o.Timeout, "timeout", 30*time.Second, "bound on each round trip to a node")
	f.IntVar(&o.Threads, "threads", 0, "compute threads (default: one per CPU)")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8080", "host:port of the HTTP server")
	f.StringArrayVar(&o.APIKeys, "api-key", nil, "API key clients must send (repeatable; account \"default\")")
	f.StringVar(&o.KeysFile, "keys-file", "", `file of API keys: lines "KEY ACCOUNT", or a JSON object {"KEY": "ACCOUNT"}`)
	f.StringVar(&o.ChatTemplate, "chat-template", "", "chat template: plain, chatml or a Jinja file (default: the model's own, else plain)")
	f.IntVar(&o.MaxConcurrent, "max-concurrent", 4, "generations running at once; more requests wait")
	f.IntVar(&o.MaxQueued, "max-queued", 64, "requests waiting for a generation; more are answered 429")
	f.Int64Var(&o.MaxBodyBytes, "max-body-bytes", 1<<20, "largest request body accepted")
	f.StringVar(&rateLimit, "rate-limit", "120/min", "generation requests each API key's account (without keys: each client address) may send, N/min or N/s; more are answered 429 with Retry-After (0: no limit)")
	f.IntVar(&o.MaxConcurrentPerKey, "max-concurrent-per-key", 2, "generations one account (without keys: one client address) runs at once; more are answered 429 (0: no bound but --max-concurrent)")
	f.IntVar(&o.MaxPromptTokens, "max-prompt-tokens", 0, "longest prompt accepted, in tokens; longer ones are answered 400 (0: the model's context)")
	f.IntVar(&o.MaxCompletionTokens, "max-completion-tokens", 0, "largest max_tokens accepted; larger ones are answered 400, and requests without one generate at most this many (0: the model's context)")
	f.IntVar(&o.MaxConns, "max-conns", p2p.DefaultMaxConns, "libp2p connections at once to nodes; more are refused")
	f.DurationVar(&o.HealthEvery, "health-interval", 2*time.Second, "how often nodes are asked what they serve")
	addAuditFlags(cmd, &o.Verify)
	o.Ledger.add(f)
	f.StringVar(&o.LedgerKey, "ledger-key", "", "with a ledger: key file of the account that pays for --api-key requests (and requests without keys, and keys-file accounts without their own key)")
	addLogFlags(cmd, &logs)
	return cmd
}

// runningGateway is a gateway serving HTTP until Close.
type runningGateway struct {
	opts     gatewayOptions
	api      *api.Server
	model    *api.Model
	swarm    *gatewaySwarm
	lm       *localModel
	srv      *http.Server
	URL      string // http://host:port
	started  time.Time
	cancel   context.CancelFunc
	done     chan struct{} // closed when the HTTP server stops
	serveErr error

	commit  commit.Commitments
	vks     []*proof.VerificationKey
	signer  ed25519.PrivateKey // signs certificates of accounts without a ledger key: the gateway's host key
	ledger  *ledgerConn        // nil without a ledger
	billing *gatewayBilling    // nil without a ledger
	panel   panelCache
}

// startGateway loads the model's client parts, connects to the peers and
// serves HTTP on o.Listen.
func startGateway(ctx context.Context, o gatewayOptions) (g *runningGateway, err error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HealthEvery <= 0 {
		o.HealthEvery = 2 * time.Second
	}
	if o.Verify.Budget == 0 {
		o.Verify.Budget = proof.DefaultBudget
	}
	remote := len(o.Peers) > 0 || o.Discovery.enabled()
	if o.LocalLayers > 0 && !remote {
		return nil, errors.New("--local-layers needs --peers or --bootstrap")
	}
	keys, err := gatewayKeys(o)
	if err != nil {
		return nil, err
	}
	var lm *localModel
	if !remote {
		lm, err = loadLocalModel(o.ModelPath, o.Threads)
	} else {
		lm, err = loadClientModel(o.ModelPath, o.Threads)
	}
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	g = &runningGateway{opts: o, lm: lm, cancel: cancel, done: make(chan struct{}), started: time.Now()}
	defer func() {
		if err != nil {
			g.Close()
			g = nil
		}
	}()
	c, err := modelCommitments(lm.file, o.ModelPath, o.Progress)
	if err != nil {
		return g, fmt.Errorf("model commitment: %w", err)
	}
	g.commit = c
	tmpl, err := gatewayTemplate(lm, o.ChatTemplate)
	if err != nil {
		return g, err
	}
	g.model = &api.Model{
		ID:         gatewayModelName(o),
		Created:    g.started.Unix(),
		OwnedBy:    "tessera",
		Tokenizer:  lm.tok,
		Chat:       tmpl,
		ContextLen: lm.model.Config.ContextLen,
		Commitment: commit.Hex(c.Model),
	}
	reg := api.NewRegistry()
	if g.ledger, err = o.Ledger.open(); err != nil {
		return g, err
	}
	if g.ledger != nil {
		if g.billing, err = newGatewayBilling(g.ledger, keys, o.LedgerKey, reg, o.Logger); err != nil {
			return g, err
		}
	} else if o.LedgerKey != "" {
		return g, errors.New("--ledger-key needs a ledger: --ledger-url URL or --ledger-home DIR")
	}
	g.swarm, err = newGatewaySwarm(ctx, o, lm, c, reg)
	if err != nil {
		return g, err
	}
	if g.swarm.host != nil {
		// Every node's receipts are checked; the --vk keys audit them.
		if g.swarm.verify, g.vks, err = o.Verify.verification(c); err != nil {
			return g, err
		}
		if g.signer, err = hostSigningKey(g.swarm.host); err != nil {
			return g, err
		}
		g.swarm.payer = func(account string) ed25519.PrivateKey {
			if a := g.billing.account(account); a != nil {
				return a.key
			}
			return nil
		}
	} else if len(o.Verify.VKs) > 0 {
		return g, errors.New("--vk needs --peers or --bootstrap (without nodes there is nothing to audit)")
	}
	backend := &api.ClientBackend{
		Model:  g.model,
		Client: generate.Client{Model: lm.model, Tokenizer: lm.tok},
		Layers: g.generation,
		Wrap:   g.swarm.wrapError,
	}
	g.api, err = api.New(api.Config{
		Backend: backend, Keys: keys, Logger: o.Logger, Registry: reg,
		MaxBodyBytes: o.MaxBodyBytes, MaxConcurrent: o.MaxConcurrent, MaxQueued: o.MaxQueued,
		RequestsPerMinute: o.RequestsPerMinute, MaxConcurrentPerKey: o.MaxConcurrentPerKey,
		MaxPromptTokens: o.MaxPromptTokens, MaxCompletionTokens: o.MaxCompletionTokens,
	})
	if err != nil {
		return g, err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return g, fmt.Errorf("gateway: listen on %s: %w", o.Listen, err)
	}
	g.URL = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/v1/", g.api)
	if g.ledger != nil {
		mux.Handle("/v1/ledger/", g.ledger.handler())
	}
	mux.Handle("/metrics", g.api)
	mux.Handle("/healthz", g.api)
	mux.Handle("/", web.Handler(gatewayStatus{g}))
	g.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute, // the whole request; streamed answers are not bounded
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	go g.swarm.run(runCtx)
	go func() {
		defer close(g.done)
		if err := g.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.serveErr = err
			o.Logger.Error("gateway HTTP server stopped", "error", err)
		}
	}()
	o.Logger.Info("gateway ready", "url", g.URL, "model", g.model.ID, "commitment", commit.Short(c.Model),
		"peers", len(o.Peers), "chat_template", tmpl.Name(), "api_keys", keys.Len(), "verification_keys", len(g.vks), "ledger", g.ledgerName())
	return g, nil
}

// Close stops the HTTP server (letting running requests finish for up to
// five seconds), the health checks, the host and the model.
func (g *runningGateway) Close() {
	if g.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = g.srv.Shutdown(ctx)
		cancel()
		<-g.done
	}
	g.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	g.billing.wait(ctx) // settlements of the last generations
	cancel()
	if g.swarm != nil {
		g.swarm.close()
	}
	_ = g.ledger.Close()
	if g.lm != nil {
		g.lm.Close()
	}
}

func (g *runningGateway) printBanner(w interface{ Write([]byte) (int, error) }) {
	where := "every layer in this process"
	if n := len(g.opts.Peers); n > 0 || g.opts.Discovery.enabled() {
		where = fmt.Sprintf("layers on %d node(s)", n)
		if n == 0 {
			where = "layers on the nodes found through discovery"
		}
		if g.opts.LocalLayers > 0 {
			where += fmt.Sprintf(", layers 0:%d here", g.opts.LocalLayers)
		}
	}
	fmt.Fprintf(w, "tessera gateway: model %s (commitment %s), %s\n", g.model.ID, g.model.Commitment[:12], where)
	fmt.Fprintf(w, "  API        %s/v1\n", g.URL)
	fmt.Fprintf(w, "  dashboard  %s/\n", g.URL)
	fmt.Fprintf(w, "  metrics    %s/metrics\n", g.URL)
	if g.ledger != nil {
		fmt.Fprintf(w, "  ledger     %s/v1/ledger/info (%s)\n", g.URL, g.ledger.where())
	}
}

// ledgerName is where the gateway's ledger is, for logs.
func (g *runningGateway) ledgerName() string {
	if g.ledger == nil {
		return "none"
	}
	return g.ledger.where()
}

// gatewayKeys builds the key table: the keys file's accounts, and the
// --api-key keys for the account "default". Nil means no keys.
func gatewayKeys(o gatewayOptions) (*api.Keys, error) {
	if len(o.APIKeys) == 0 && o.KeysFile == "" {
		return nil, nil
	}
	k, err := api.NewKeys(nil)
	if o.KeysFile != "" {
		k, err = api.LoadKeysFile(o.KeysFile)
	}
	if err != nil {
		return nil, err
	}
	for _, key := range o.APIKeys {
		if err := k.Add(key, "default"); err != nil {
			return nil, fmt.Errorf("--api-key: %w", err)
		}
	}
	return k, nil
}

// gatewayModelName is the id clients pass as "model".
func gatewayModelName(o gatewayOptions) string {
	if o.ModelName != "" {
		return o.ModelName
	}
	if o.ModelPath == "" {
		return models.DefaultName
	}
	name := strings.TrimSuffix(filepath.Base(o.ModelPath), ".gguf")
	return strings.TrimSuffix(name, ".client")
}

// gatewayTemplate chooses the chat template.
func gatewayTemplate(lm *localModel, choice string) (*chat.Template, error) {
	switch choice {
	case "":
		t, err := chat.ForModel(lm.file, lm.tok)
		if err != nil {
			return nil, fmt.Errorf("%w\n(the gateway cannot render this model's chat template; start it with --chat-template plain, chatml or a Jinja file)", err)
		}
		return t, nil
	case chat.Plain, chat.ChatML:
		return chat.Builtin(choice)
	}
	src, err := os.ReadFile(choice)
	if err != nil {
		return nil, fmt.Errorf("--chat-template: %w (want plain, chatml or a Jinja file)", err)
	}
	return chat.New(filepath.Base(choice), string(src), lm.tok.TokenText(lm.tok.BOS()), lm.tok.TokenText(lm.tok.EOS()))
}

// gatewaySwarm builds a chain for each generation from the nodes it
// watches, and keeps what the dashboard shows about them.
type gatewaySwarm struct {
	o      gatewayOptions
	lm     *localModel
	commit commit.Commitments
	host   *p2p.Host         // nil without peers
	router *router.Router    // plans chains and their failovers; nil without peers
	disc   *gatewayDiscovery // nodes found by discovery; nil with --peers
	local  *model.Model      // layers run here: all without peers, else [0, LocalLayers) or nil
	log    *slog.Logger

	nodeUp *prometheus.GaugeVec

	verify *swarm.Verification                     // checks every node's receipts (audits with keys)
	payer  func(account string) ed25519.PrivateKey // the ledger key a job's sessions are signed with

	pollMu sync.Mutex // one poll at a time
	mu     sync.Mutex
	peers  []*peerState
	polled bool
	// usage of the local hop
	localUse hopUsage
}

// peerState is what the gateway knows about one node.
type peerState struct {
	addr     string
	id       string
	info     swarm.NodeInfo
	known    bool // info was read at least once
	health   string
	detail   string
	latency  time.Duration
	lastSeen time.Time
	failedAt time.Time // last generation this node failed
	failure  string
	use      hopUsage
}

// hopUsage adds up a hop's work in this gateway's generations.
type hopUsage struct {
	sessions, positions, sent, received uint64
	time                                time.Duration
}

func (u *hopUsage) add(s swarm.HopStats) {
	u.sessions += s.Sessions
	u.positions += s.Positions
	u.sent += s.BytesSent
	u.received += s.BytesReceived
	u.time += s.Time
}

// failureMemory is how long a node that failed a generation is shown
// degraded and tried last.
const failureMemory = 30 * time.Second

func newGatewaySwarm(ctx context.Context, o gatewayOptions, lm *localModel, c commit.Commitments, reg *prometheus.Registry) (*gatewaySwarm, error) {
	s := &gatewaySwarm{o: o, lm: lm, commit: c, log: o.Logger}
	s.nodeUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tessera_gateway_node_up", Help: "1 when the node answered the last health check with this model's layers, else 0.",
	}, []string{"peer", "layers"})
	reg.MustRegister(s.nodeUp)
	cfg := lm.model.Config
	remote := len(o.Peers) > 0 || o.Discovery.enabled()
	switch {
	case !remote:
		s.local = lm.model
	case o.LocalLayers > 0:
		if o.LocalLayers >= cfg.Layers {
			return nil, fmt.Errorf("--local-layers %d: the model has %d layers", o.LocalLayers, cfg.Layers)
		}
		m, err := model.Load(lm.file, model.Options{Layers: model.Range{First: 0, Last: o.LocalLayers}, Pool: lm.pool})
		if err != nil {
			return nil, fmt.Errorf("--local-layers needs layers 0:%d in %s: %w", o.LocalLayers, lm.name, err)
		}
		s.local = m
	}
	if !remote {
		return s, nil
	}
	h, err := p2p.New(ctx, p2p.Config{Limits: p2p.Limits{MaxConns: o.MaxConns}})
	if err != nil {
		return nil, err
	}
	s.host = h
	rc := router.Config{Host: h, ModelCommit: c.Model, Layers: cfg.Layers, Peers: o.Peers, Wait: o.Discovery.Wait,
		FailureMemory: failureMemory, RequireKeys: true, Logger: o.Logger}
	if len(o.Peers) == 0 {
		if s.disc, err = startGatewayDiscovery(ctx, h, o.Discovery, c.Model, o.Logger); err != nil {
			h.Close()
			return nil, err
		}
		rc.Topic = s.disc.topic
	}
	if s.router, err = router.New(rc); err != nil {
		s.close()
		return nil, err
	}
	if s.disc != nil {
		s.disc.router = s.router
	}
	for _, a := range o.Peers {
		s.peers = append(s.peers, &peerState{addr: a, health: web.HealthUnknown, detail: "not checked yet"})
	}
	return s, nil
}

// chainConfig is the configuration of each generation's chain (the one
// place where the gateway sets the chain's options).
func (s *gatewaySwarm) chainConfig(positions int, account string) swarm.ChainConfig {
	cfg := s.lm.model.Config
	c := swarm.ChainConfig{Model: cfg, ModelCommit: s.commit.Model, DType: s.o.DType, Timeout: s.o.Timeout,
		MaxPositions: min(positions, cfg.ContextLen), Verify: s.verify, OnFailover: s.failedOver}
	if s.payer != nil {
		c.Payer = s.payer(account)
	}
	return c
}

func (s *gatewaySwarm) close() {
	if s.disc != nil {
		s.disc.close()
	}
	if s.host != nil {
		_ = s.host.Close()
	}
}

// run checks the nodes every HealthEvery until ctx ends.
func (s *gatewaySwarm) run(ctx context.Context) {
	if s.host == nil {
		return
	}
	t := time.NewTicker(s.o.HealthEvery)
	defer t.Stop()
	for {
		s.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll asks every node what it serves (through the router, which plans
// with the answers) and updates what the dashboard shows.
func (s *gatewaySwarm) poll(ctx context.Context) {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, min(5*time.Second, max(time.Second, 2*s.o.HealthEvery)))
	s.router.Poll(pctx)
	cancel()
	known := s.router.Peers()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.peers {
		k := known[i]
		s.update(p, k.ID, k.Info, k.Latency, k.Err)
	}
	s.polled = true
}

// update records a health check's outcome; s.mu is held.
func (s *gatewaySwarm) update(p *peerState, id string, info swarm.NodeInfo, latency time.Duration, err error) {
	if id != "" {
		p.id = id
	}
	p.latency = latency
	layers := "?"
	switch {
	case err != nil:
		p.health, p.detail = web.HealthUnreachable, shortError(err)
	case info.ModelCommit != s.commit.Model:
		p.known, p.info = true, info
		p.health, p.detail = web.HealthUnreachable, "serves model "+commit.Short(info.ModelCommit)+", not this one"
		p.lastSeen = time.Now()
	default:
		p.known, p.info, p.lastSeen = true, info, time.Now()
		p.health, p.detail = web.HealthOK, ""
		switch {
		case time.Since(p.failedAt) < failureMemory:
			p.health, p.detail = web.HealthDegraded, "failed a generation "+time.Since(p.failedAt).Round(time.Second).String()+" ago: "+p.failure
		case info.FreeSessions == 0:
			p.health, p.detail = web.HealthDegraded, "no free sessions"
		}
	}
	if p.known {
		layers = p.info.Range.String()
	}
	name := p.id
	if name == "" {
		name = p.addr
	}
	up := 0.0
	if p.health == web.HealthOK || p.health == web.HealthDegraded {
		up = 1
	}
	s.nodeUp.WithLabelValues(name, layers).Set(up)
}

func shortError(err error) string {
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:157] + "…"
	}
	return msg
}

// layers builds the layers of one generation (api.ClientBackend.Layers).
func (s *gatewaySwarm) layers(ctx context.Context, job api.Job) (generate.Layers, func() []api.Hop, error) {
	positions := max(1, len(job.Prompt)+job.Request.MaxTokens)
	if s.host == nil {
		l, err := generate.NewLocalLayers(s.local, positions)
		if err != nil {
			return nil, nil, err
		}
		t0 := time.Now()
		return l, func() []api.Hop {
			el := time.Since(t0)
			n := uint64(l.Session.Len())
			s.mu.Lock()
			s.localUse.add(swarm.HopStats{Sessions: 1, Positions: n, Time: el})
			s.mu.Unlock()
			return []api.Hop{{Peer: "local", Layers: s.local.Range.String(), Local: true, Positions: n, Calls: 0, Millis: msOf(el)}}
		}, nil
	}
	if s.disc == nil {
		s.mu.Lock()
		polled := s.polled
		s.mu.Unlock()
		if !polled {
			s.poll(ctx)
		}
	}
	chain, err := s.router.Chain(ctx, s.chainConfig(positions, job.Account), s.local)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, err
		}
		return nil, nil, api.ErrMissingCoverage(err.Error())
	}
	return chain, func() []api.Hop {
		stats := chain.Stats()
		_ = chain.Close()
		out := make([]api.Hop, len(stats))
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, st := range stats {
			out[i] = api.Hop{Peer: st.Peer, Layers: st.Range.String(), Local: st.Local, Positions: st.Positions, Calls: st.Calls,
				BytesSent: st.BytesSent, BytesReceived: st.BytesReceived, Millis: msOf(st.Time)}
			if st.Local {
				s.localUse.add(st)
				continue
			}
			if s.disc != nil {
				s.disc.record(st)
				continue
			}
			for _, p := range s.peers {
				if p.id == st.Peer {
					p.use.add(st)
					break
				}
			}
		}
		return out
	}, nil
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// describe lists what the nodes serve, for errors; s.mu is held.
func (s *gatewaySwarm) describe() string {
	var parts []string
	for _, p := range s.peers {
		switch {
		case p.known && p.health != web.HealthUnreachable:
			parts = append(parts, p.info.Range.String())
		case p.known:
			parts = append(parts, p.info.Range.String()+" ("+p.detail+")")
		default:
			parts = append(parts, shortPeer(p.addr)+" unreachable")
		}
	}
	if len(parts) == 0 {
		return "no nodes"
	}
	sort.Strings(parts)
	return "nodes serve " + strings.Join(parts, ", ")
}

// wrapError turns a failure during a generation into the answer, marking
// the nodes at fault (api.ClientBackend.Wrap): the failed hop's, and every
// replacement its failover tried.
func (s *gatewaySwarm) wrapError(err error) error {
	var he *swarm.HopError
	if !errors.As(err, &he) || s.host == nil {
		return err
	}
	s.router.Observe(err)
	router.Failed(err, s.markFailed)
	return api.ErrNodeFailed(he.Error())
}

// failedOver marks the node a generation's chain replaced (the chain's
// OnFailover; the router remembers it too).
func (s *gatewaySwarm) failedOver(f swarm.Failover) { router.FailedIn(f, s.markFailed) }

// markFailed shows a static peer degraded after it failed a generation.
func (s *gatewaySwarm) markFailed(peer string, why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		if p.id == peer {
			p.failedAt, p.failure = time.Now(), shortError(why)
			p.health, p.detail = web.HealthDegraded, "failed a generation: "+p.failure
		}
	}
}

// gatewayStatus feeds the dashboard.
type gatewayStatus struct{ g *runningGateway }

// Certificate implements web.CertificateSource.
func (gs gatewayStatus) Certificate(id string) (any, bool) {
	c, ok := gs.g.api.Certificates().Get(id)
	return c, ok
}

// Status implements web.Source.
func (gs gatewayStatus) Status(ctx context.Context) (web.Status, error) {
	g := gs.g
	tot := g.api.Totals()
	now := time.Now()
	st := web.Status{
		Role: "gateway", Name: g.URL, Now: now, Started: g.started,
		Throughput:   g.api.Throughput(),
		TokensServed: tot.CompletionTokens,
		Notes:        g.notes(),
	}
	s := g.swarm
	cfg := g.lm.model.Config
	cov := web.ModelCoverage{
		Model: g.model.ID, Commitment: g.model.Commitment, Layers: cfg.Layers,
		Detail: fmt.Sprintf("%s; context %d; %s", cfg.Arch, cfg.ContextLen, g.model.Chat.Describe()),
	}
	healthy := 0
	s.mu.Lock()
	if s.local != nil {
		u := s.localUse
		cov.Nodes = append(cov.Nodes, web.Node{Peer: "local", Addr: "this gateway", First: s.local.Range.First, Last: s.local.Range.Last,
			Health: web.HealthOK, Sessions: u.sessions, Positions: u.positions, TokensPerSecond: rate(u), LastSeen: now, Self: true})
	}
	for _, p := range s.peers {
		n := web.Node{Peer: p.id, Addr: p.addr, Health: p.health, Detail: p.detail, LatencyMs: msOf(p.latency),
			Sessions: p.use.sessions, Positions: p.use.positions, TokensPerSecond: rate(p.use),
			BytesIn: p.use.received, BytesOut: p.use.sent, LastSeen: p.lastSeen}
		if n.Peer == "" {
			n.Peer = shortPeer(p.addr)
		}
		if p.known {
			n.First, n.Last, n.FreeSessions = p.info.Range.First, p.info.Range.Last, p.info.FreeSessions
		}
		if p.health == web.HealthOK {
			healthy++
		}
		cov.Nodes = append(cov.Nodes, n)
	}
	s.mu.Unlock()
	nodes := len(s.peers)
	if s.disc != nil {
		found := s.disc.nodes()
		for _, n := range found {
			if n.Health == web.HealthOK {
				healthy++
			}
		}
		cov.Nodes = append(cov.Nodes, found...)
		nodes = len(found)
	}
	st.Models = []web.ModelCoverage{cov}
	st.Ledger = g.ledgerPanel(ctx, cov.Nodes)
	nodesHint := fmt.Sprintf("%d healthy", healthy)
	if nodes == 0 && s.host == nil {
		nodesHint = "every layer runs here"
	}
	st.Stats = []web.Stat{
		{Label: "Requests", Value: commaInt(tot.Requests)},
		{Label: "Generations", Value: commaInt(tot.Generations), Hint: commaInt(tot.Failed) + " failed"},
		{Label: "Tokens generated", Value: commaInt(tot.CompletionTokens), Hint: commaInt(tot.PromptTokens) + " prompt tokens"},
		{Label: "In flight", Value: fmt.Sprint(tot.InFlight), Hint: fmt.Sprintf("%d queued", tot.Queued)},
		{Label: "Nodes", Value: fmt.Sprint(nodes), Hint: nodesHint},
		{Label: "Certificates", Value: commaInt(uint64(tot.Certificates)), Hint: "held in memory"},
		{Label: "Uptime", Value: uptime(now.Sub(g.started))},
	}
	for _, r := range g.api.Recent() {
		wg := web.Generation{Time: r.Time, RequestID: r.RequestID, Model: r.Model, Endpoint: r.Endpoint, Account: r.Account,
			PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, Millis: r.Millis, TTFTMillis: r.TTFTMillis,
			TokensPerSecond: r.TokensPerSecond, FinishReason: r.FinishReason, Certificate: r.Certificate,
			Audit: web.Audit{Status: r.Audit.Status, Verified: r.Audit.Verified, Detail: r.Audit.Detail}, Error: r.Error}
		if c, ok := g.api.Certificates().Peek(r.Certificate); ok && r.Error == "" {
			// An audit may have finished since the answer.
			wg.Audit = web.Audit{Status: c.Audit.Status, Verified: c.Audit.Verified, Detail: c.Audit.Detail}
			wg.Paid = paidText(c.Settlement)
		}
		for _, h := range r.Hops {
			wg.Hops = append(wg.Hops, web.Hop{Peer: h.Peer, Layers: h.Layers, Millis: h.Millis})
		}
		st.Generations = append(st.Generations, wg)
	}
	return st, nil
}

// rate is positions per second of time spent in a hop.
func rate(u hopUsage) float64 {
	if u.time <= 0 {
		return 0
	}
	return float64(u.positions) / u.time.Seconds()
}

// commaInt formats n with thousands separators.
func commaInt(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func uptime(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// requestsPerMinute parses --rate-limit (N/min, N/s or N/h; 0 for none).
func requestsPerMinute(s string) (int, error) {
	r, err := swarm.ParseRate(s)
	if err != nil {
		return 0, err
	}
	if r.Limit == xrate.Inf {
		return 0, nil
	}
	rpm := int(math.Round(float64(r.Limit) * 60))
	if rpm < 1 {
		return 0, fmt.Errorf("%s is less than one request a minute", s)
	}
	return rpm, nil
}
