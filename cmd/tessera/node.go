package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/discovery"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/route"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// nodeOptions configure one serving node.
type nodeOptions struct {
	ModelPath   string // GGUF model or layer slice; "" = the embedded model
	Layers      string // "a:b"; "" = every layer the file holds; "auto" = chosen from the swarm
	Listen      []string
	DataDir     string // identity and state; "" = an ephemeral identity
	Threads     int
	MaxSessions int
	PeerLimits  swarm.PeerLimits // per remote peer: sessions, opens, forward calls, positions
	MaxConns    int              // libp2p connections at once (0: p2p.DefaultMaxConns)

	Discovery   discoveryFlags // --bootstrap, --mdns, --announce-interval
	MaxMemory   uint64         // --layers auto: bytes for weights and KV caches (0: no bound)
	KVPositions int            // --layers auto: KV positions reserved per layer
	Operator    string         // announced operator ("" : the node itself)
	Rebalance   time.Duration  // --layers auto: how often to re-check the node's place (0: never)
	Logger      *slog.Logger   // nil: discarded

	Ledger   nodeLedgerOptions // the ledger it is paid on, and whether clients must pay
	Progress io.Writer         // where loading shows a progress bar (nil: none)
}

// runningNode is a node serving its layers until Close.
type runningNode struct {
	host   *p2p.Host
	server *swarm.Server
	model  *model.Model
	file   *gguf.File
	pool   *kernels.Pool
	commit commit.Commitments

	ledger  nodeLedgerOptions
	payment *paymentPolicy     // nil unless clients must pay
	peers   *swarm.PeerLimiter // per-peer limits, shared by the node's servers

	cur       atomic.Pointer[swarm.Server] // the server new streams go to (moves with rebalancing)
	disc      *discovery.Service
	topic     *discovery.Topic
	announcer *nodeAnnouncer
	stop      context.CancelFunc
}

// current is the server serving new streams (server, unless the node has
// moved to another range since it started).
func (n *runningNode) current() *swarm.Server { return n.cur.Load() }

// startNode loads the layers, starts the libp2p host and serves the
// forward protocol on it.
func startNode(ctx context.Context, o nodeOptions) (*runningNode, error) {
	f, _, err := openModelFile(o.ModelPath)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*runningNode, error) {
		f.Close()
		return nil, err
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return fail(err)
	}
	auto := o.Layers == "auto"
	var r model.Range
	if !auto {
		if r, err = servedRange(f, cfg, o.Layers); err != nil {
			return fail(err)
		}
	}
	if o.Ledger.RequirePayment && o.Ledger.Conn == nil {
		return fail(errPaymentNeedsLedger)
	}
	c, err := modelCommitments(f, o.ModelPath, o.Progress)
	if err != nil {
		return fail(fmt.Errorf("model commitment: %w", err))
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pool := kernels.NewPool(o.Threads)
	h, err := p2p.New(ctx, p2p.Config{DataDir: o.DataDir, Listen: o.Listen, Limits: p2p.Limits{MaxConns: o.MaxConns}})
	if err != nil {
		pool.Close()
		return fail(err)
	}
	// One limiter for every server the node runs, so that moving to
	// another range does not hand peers fresh buckets.
	peers := swarm.NewPeerLimiter(o.PeerLimits)
	// The node signs a receipt for every forward call with its libp2p
	// identity key (clients know it from the peer id) and keeps its traces
	// for audits.
	key, err := hostSigningKey(h)
	if err != nil {
		h.Close()
		pool.Close()
		return fail(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	n := &runningNode{host: h, file: f, pool: pool, commit: c, stop: stop, ledger: o.Ledger, peers: peers}
	var admit func(context.Context, swarm.Admission) error
	var release func(swarm.Admission)
	if o.Ledger.RequirePayment {
		n.payment = newPaymentPolicy(o.Ledger.Conn)
		admit, release = n.payment.Admit, n.payment.Release
	}
	failNode := func(err error) (*runningNode, error) {
		n.Close()
		return nil, err
	}
	// Every node runs discovery: it announces its layers to whoever
	// connects (any node can be a bootstrap peer) and, with --bootstrap or
	// --mdns, joins a swarm. Without them it sends nothing until a peer
	// connects to it.
	if n.disc, err = o.Discovery.start(ctx, h, log); err != nil {
		return failNode(err)
	}
	if n.topic, err = n.disc.Join(c.Model); err != nil {
		return failNode(err)
	}
	var chooseReq route.ChooseRequest
	if auto {
		choice := autoLayerOptions{MaxMemory: o.MaxMemory, KVPositions: o.KVPositions}
		if s, ok, err := commit.ReadSlice(f); err != nil {
			return failNode(err)
		} else if ok && !s.Client {
			choice.Within = s.Layers
		}
		if o.Discovery.enabled() {
			choice.Wait = 3 * time.Second // to hear the swarm before choosing
		}
		if r, chooseReq, err = chooseNodeLayers(ctx, n.disc, n.topic, f, cfg, choice, log); err != nil {
			return failNode(err)
		}
	}
	newServer := func(r model.Range) (*swarm.Server, error) {
		m, err := model.Load(f, model.Options{Layers: r, Pool: pool})
		if err != nil {
			return nil, err
		}
		return &swarm.Server{Model: m, ModelCommit: c.Model, MaxSessions: o.MaxSessions, Key: key, Admit: admit, Release: release, Peers: peers}, nil
	}
	srv, err := newServer(r)
	if err != nil {
		return failNode(err)
	}
	n.server, n.model = srv, srv.Model
	if o.Ledger.Conn != nil {
		// The node's ledger account is its identity key, the key that
		// signs its receipts: the certificates name it by that key.
		if err := registerNode(ctx, o.Ledger.Conn, key, o.Ledger.Stake, uint64(r.Len()), log); err != nil {
			return failNode(fmt.Errorf("ledger: %w", err))
		}
	}
	n.cur.Store(srv)
	h.Handle(wire.ProtocolID, func(s network.Stream) {
		_ = n.current().ServePeer(ctx, s.Conn().RemotePeer().String(), s)
	})
	h.Handle(swarm.InfoProtocolID, func(s network.Stream) { _ = n.current().ServeInfo(s) })
	n.announcer = announceNode(runCtx, n.topic, srv, cfg.Layers, o.Operator)
	if auto && o.Rebalance > 0 {
		move := func(to model.Range) error {
			next, err := newServer(to)
			if err != nil {
				return err
			}
			// Sessions already open finish on the old server; new
			// streams go to the new range.
			n.cur.Store(next)
			n.announcer.set(runCtx, next)
			log.Info("now serving", "layers", to.String())
			return nil
		}
		go rebalance(runCtx, o.Rebalance, n.disc, n.topic, n.announcer, chooseReq, move, log)
	}
	return n, nil
}

// servedRange is the range asked for, or every layer a slice file holds.
func servedRange(f *gguf.File, cfg model.Config, layers string) (model.Range, error) {
	if layers == "" {
		if s, ok, err := commit.ReadSlice(f); err != nil {
			return model.Range{}, err
		} else if ok && !s.Client {
			return s.Layers, nil
		}
		return model.Range{First: 0, Last: cfg.Layers}, nil
	}
	r, err := model.ParseRange(layers)
	if err != nil {
		return model.Range{}, err
	}
	if r.Len() == 0 || r.Last > cfg.Layers {
		return model.Range{}, fmt.Errorf("layers %s: the model has layers 0:%d", r, cfg.Layers)
	}
	return r, nil
}

func (n *runningNode) Close() {
	if n.stop != nil {
		n.stop()
	}
	if n.disc != nil {
		n.disc.Close()
	}
	n.host.Close()
	n.pool.Close()
	n.file.Close()
}

func defaultDataDir() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "tessera", "node")
	}
	return ".tessera-node"
}

func newNodeCmd() *cobra.Command {
	var (
		o         nodeOptions
		peerRates peerRateFlags
		maxMemory string
		httpAddr  string
		logs      logOptions
		ledgerF   ledgerFlags
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Serve a range of a model's layers to the swarm",
		Long: `Serve a contiguous range of transformer layers over libp2p (TCP and QUIC,
Noise-encrypted); a client's session may use the whole range or any part of
it. Clients send hidden states and get hidden states back; the node never
sees tokens, text or logits. Once ready, the node prints each of
its full dialable addresses on a line of its own.

The node also serves its dashboard (its layers, sessions and traffic) at
--http, with Prometheus metrics at /metrics; when the default address is
taken the node runs without one.

Limits: each remote peer may hold --max-sessions-per-peer sessions at once
and open sessions and compute positions at the rates of --peer-session-rate
and --peer-position-rate; beyond them it is refused with the limit's name
and when to retry, and clients fail over to another node. libp2p bounds
connections (--max-conns) and each peer's streams.

Ledger: with --ledger-url (a ledger's query API) or --ledger-home (an
embedded ledger this node owns, also served to others at /v1/ledger/ on
--http) the node is paid for its work: its ledger account is its identity
key (the key that signs its receipts), registered with --stake N.
--require-payment admits only clients whose ledger balance can pay for
the session; a client that names no account, or cannot pay, is refused
with the reason, and so is every client while the ledger does not answer.`,
		Example: `  tessera node --model kjv.layers-0-2.gguf
  tessera node --model llama-3.2-1b-q4_k_m.gguf --layers 0:8 --listen /ip4/127.0.0.1/tcp/4001
  tessera node --model llama-3.2-1b-q4_k_m.gguf --layers auto --max-memory 2GiB --bootstrap /ip4/10.0.0.2/tcp/4001/p2p/12D3KooW…
  tessera node --model kjv.layers-0-2.gguf --ledger-url http://10.0.0.5:26658 --stake 1000 --require-payment`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if maxMemory != "" {
				if o.MaxMemory, err = parseMemorySize(maxMemory); err != nil {
					return fmt.Errorf("--max-memory: %w", err)
				}
			}
			if err := peerRates.apply(&o.PeerLimits); err != nil {
				return err
			}
			o.Logger = logger
			o.Progress = terminal(cmd.ErrOrStderr())
			if o.Ledger.Conn, err = ledgerF.open(); err != nil {
				return err
			}
			defer o.Ledger.Conn.Close()
			if o.Ledger.Stake > 0 && o.Ledger.Conn == nil {
				return errors.New("--stake needs a ledger: --ledger-url URL or --ledger-home DIR")
			}
			n, err := startNode(ctx, o)
			if err != nil {
				return err
			}
			defer n.Close()
			dash, err := startNodeDashboard(n, httpAddr, cmd.Flags().Changed("http"), logger)
			if err != nil {
				return err
			}
			defer dash.Close()
			printNodeBanner(cmd.OutOrStdout(), n)
			if dash != nil {
				logger.Info("node dashboard", "url", dash.URL+"/", "metrics", dash.URL+"/metrics")
			}
			<-ctx.Done()
			st := n.server.Stats()
			fmt.Fprintf(cmd.ErrOrStderr(), "node stopping: served %d sessions, %d positions, %s in, %s out\n",
				st.SessionsTotal, st.Positions, humanBytes(st.BytesIn), humanBytes(st.BytesOut))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.ModelPath, "model", "m", "", "GGUF model or layer slice (default: the embedded kjv-tiny model)")
	f.StringVar(&o.Layers, "layers", "", "layer range a:b to serve, or auto: the range the swarm serves worst that fits --max-memory (default: every layer the file holds)")
	f.StringArrayVar(&o.Listen, "listen", p2p.DefaultListen, "multiaddr to listen on (repeatable)")
	f.StringVar(&o.DataDir, "data-dir", defaultDataDir(), "directory for the node's identity key")
	f.IntVar(&o.Threads, "threads", 0, "compute threads (default: one per CPU)")
	f.IntVar(&o.MaxSessions, "max-sessions", swarm.DefaultMaxSessions, "sessions served at once")
	peerRates.add(f, &o.PeerLimits)
	f.IntVar(&o.MaxConns, "max-conns", p2p.DefaultMaxConns, "libp2p connections at once; more are refused")
	addDiscoveryFlags(f, &o.Discovery, false)
	f.StringVar(&maxMemory, "max-memory", "", "with --layers auto: memory for the layers' weights and KV caches, e.g. 6GiB (default: no bound)")
	f.IntVar(&o.KVPositions, "kv-positions", 4096, "with --layers auto: KV-cache positions reserved per layer within --max-memory")
	f.StringVar(&o.Operator, "operator", "", "operator name announced, so clients spread sessions over operators (default: the node's peer id)")
	f.DurationVar(&o.Rebalance, "rebalance-interval", 5*time.Minute, "with --layers auto: how often to re-check whether to move to a worse-served range (0: never)")
	f.StringVar(&httpAddr, "http", DefaultNodeHTTP, `host:port of the dashboard, /metrics and, with a ledger, /v1/ledger/ ("" turns them off)`)
	ledgerF.add(f)
	f.BoolVar(&o.Ledger.RequirePayment, "require-payment", false, "admit only clients whose ledger balance can pay for the session (needs a ledger)")
	f.Uint64Var(&o.Ledger.Stake, "stake", 0, "stake this much on the ledger and register the node, so certificates pay it (on a dev ledger the faucet funds it)")
	addLogFlags(cmd, &logs)
	return cmd
}

// printNodeBanner prints the node's identity and then each full address on
// a line of its own, so scripts can take them line by line.
func printNodeBanner(w io.Writer, n *runningNode) {
	fmt.Fprintf(w, "tessera node %s serving layers %s of model %s\n", n.host.ID(), n.current().Model.Range, commit.Short(n.commit.Model))
	for _, a := range n.host.Addrs() {
		fmt.Fprintln(w, a)
	}
}

// peerRateFlags are the per-peer limit flags of nodes.
type peerRateFlags struct {
	sessions, positions string
}

func (p *peerRateFlags) add(f *pflag.FlagSet, l *swarm.PeerLimits) {
	f.IntVar(&l.Sessions, "max-sessions-per-peer", swarm.DefaultMaxSessionsPerPeer, "sessions one remote peer may hold at once (0: no per-peer bound)")
	f.StringVar(&p.sessions, "peer-session-rate", "", "session opens allowed per remote peer, N/s or N/min (default: "+swarm.DefaultOpenRate.String()+"; 0: no limit)")
	f.StringVar(&p.positions, "peer-position-rate", "", "positions computed per remote peer, N/s or N/min (default: "+swarm.DefaultPositionRate.String()+"; 0: no limit)")
}

// apply parses the rates into l.
func (p *peerRateFlags) apply(l *swarm.PeerLimits) error {
	if l.Sessions == 0 {
		l.Sessions = -1
	} else if l.Sessions < 0 {
		return fmt.Errorf("--max-sessions-per-peer %d: want 0 (no bound) or more", l.Sessions)
	}
	for _, r := range []struct {
		flag, v string
		to      *swarm.Rate
	}{{"--peer-session-rate", p.sessions, &l.Opens}, {"--peer-position-rate", p.positions, &l.Positions}} {
		if r.v == "" {
			continue
		}
		rate, err := swarm.ParseRate(r.v)
		if err != nil {
			return fmt.Errorf("%s: %w", r.flag, err)
		}
		*r.to = rate
	}
	return nil
}

// registerPeerLimitMetrics counts the node's per-peer refusals by limit.
func registerPeerLimitMetrics(reg *prometheus.Registry, n *runningNode) {
	for _, limit := range []string{"sessions", "opens", "forward calls", "positions", "openings"} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tessera_node_refused_total",
			Help:        "Requests refused by a per-peer limit (tessera node --max-sessions-per-peer, --peer-*-rate).",
			ConstLabels: prometheus.Labels{"limit": limit}},
			func() float64 { return float64(n.peers.Stats().Refused[limit]) }))
	}
}
