package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tessera-net/tessera/api"
	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/web"
)

// nodeHTTP serves a node's dashboard, /metrics and /healthz.
type nodeHTTP struct {
	srv  *http.Server
	URL  string
	done chan struct{}
}

// DefaultNodeHTTP is where a node serves its dashboard and metrics unless
// --http says otherwise.
const DefaultNodeHTTP = "127.0.0.1:7070"

// startNodeDashboard is what `tessera node` calls: it serves the dashboard
// on addr ("" turns it off). When addr is the default and is taken (a
// second node on the machine), it logs a warning and runs without one;
// an address asked for explicitly must work.
func startNodeDashboard(n *runningNode, addr string, explicit bool, logger *slog.Logger) (*nodeHTTP, error) {
	if addr == "" {
		return nil, nil
	}
	h, err := startNodeHTTP(n, addr, logger)
	if err != nil && !explicit {
		if logger == nil {
			logger = slog.Default()
		}
		logger.Warn("no dashboard: the default address is taken; choose one with --http", "address", addr, "error", err)
		return nil, nil
	}
	return h, err
}

// startNodeHTTP serves n's dashboard and metrics on addr (host:port).
func startNodeHTTP(n *runningNode, addr string, logger *slog.Logger) (*nodeHTTP, error) {
	if logger == nil {
		logger = slog.Default()
	}
	reg := api.NewRegistry()
	registerNodeMetrics(reg, n)
	registerPeerLimitMetrics(reg, n)
	registerNodeLedgerMetrics(reg, n)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node dashboard: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	if n.ledger.Conn != nil {
		mux.Handle("/v1/ledger/", n.ledger.Conn.handler())
	}
	mux.Handle("/", web.Handler(&nodeStatus{n: n, started: time.Now()}))
	h := &nodeHTTP{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)},
		URL:  "http://" + ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("node dashboard stopped", "error", err)
		}
	}()
	return h, nil
}

// Close stops the server; a nil *nodeHTTP is a no-op.
func (h *nodeHTTP) Close() {
	if h == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
	<-h.done
}

// registerNodeMetrics exposes the swarm server's counters.
func registerNodeMetrics(reg *prometheus.Registry, n *runningNode) {
	stat := func(f func(swarm.ServerStats) float64) func() float64 {
		return func() float64 { return f(n.server.Stats()) }
	}
	labels := prometheus.Labels{"model": commit.Short(n.commit.Model), "layers": n.model.Range.String()}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tessera_node_info", Help: "The model and layers this node serves (value 1).", ConstLabels: labels},
			func() float64 { return 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tessera_node_sessions_open", Help: "Sessions open now."},
			stat(func(s swarm.ServerStats) float64 { return float64(s.SessionsOpen) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tessera_node_sessions_total", Help: "Sessions opened."},
			stat(func(s swarm.ServerStats) float64 { return float64(s.SessionsTotal) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tessera_node_forwards_total", Help: "Forward messages computed."},
			stat(func(s swarm.ServerStats) float64 { return float64(s.Forwards) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tessera_node_positions_total", Help: "Positions computed (tokens through this node's layers)."},
			stat(func(s swarm.ServerStats) float64 { return float64(s.Positions) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tessera_node_received_bytes_total", Help: "Bytes read from clients."},
			stat(func(s swarm.ServerStats) float64 { return float64(s.BytesIn) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tessera_node_sent_bytes_total", Help: "Bytes written to clients."},
			stat(func(s swarm.ServerStats) float64 { return float64(s.BytesOut) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tessera_node_errors_total", Help: "Error answers sent to clients."},
			stat(func(s swarm.ServerStats) float64 { return float64(s.Errors) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tessera_node_expired_total", Help: "Streams closed by the idle timeout."},
			stat(func(s swarm.ServerStats) float64 { return float64(s.Expired) })),
	)
}

// nodeStatus feeds a node's dashboard: the node itself.
type nodeStatus struct {
	n       *runningNode
	started time.Time
	ledger  panelCache
}

// Status implements web.Source.
func (ns *nodeStatus) Status(ctx context.Context) (web.Status, error) {
	n := ns.n
	srv := n.current() // the node may have moved to another range
	st := srv.Stats()
	info, err := srv.Info()
	if err != nil {
		return web.Status{}, err
	}
	now := time.Now()
	addr := ""
	if a := n.host.Addrs(); len(a) > 0 {
		addr = a[0]
	}
	health, detail := web.HealthOK, ""
	if info.FreeSessions == 0 {
		health, detail = web.HealthDegraded, "no free sessions"
	}
	cfg := srv.Model.Config
	self := web.Node{
		Peer: n.host.ID(), Addr: addr, First: srv.Model.Range.First, Last: srv.Model.Range.Last,
		Health: health, Detail: detail, FreeSessions: info.FreeSessions, Sessions: st.SessionsTotal,
		Positions: st.Positions, BytesIn: st.BytesIn, BytesOut: st.BytesOut, LastSeen: now, Self: true,
	}
	if up := now.Sub(ns.started).Seconds(); up > 0 {
		self.TokensPerSecond = float64(st.Positions) / up
	}
	return web.Status{
		Role: "node", Name: n.host.ID(), Now: now, Started: ns.started,
		TokensServed:    st.Positions,
		ThroughputLabel: "positions computed per second",
		HideGenerations: true,
		Stats: []web.Stat{
			{Label: "Layers", Value: srv.Model.Range.String(), Hint: fmt.Sprintf("of %d", cfg.Layers)},
			{Label: "Sessions open", Value: fmt.Sprint(st.SessionsOpen), Hint: fmt.Sprintf("%d free", info.FreeSessions)},
			{Label: "Sessions served", Value: commaInt(st.SessionsTotal)},
			{Label: "Positions computed", Value: commaInt(st.Positions)},
			{Label: "Traffic", Value: humanBytes(st.BytesIn + st.BytesOut), Hint: humanBytes(st.BytesIn) + " in, " + humanBytes(st.BytesOut) + " out"},
			{Label: "Errors sent", Value: commaInt(st.Errors), Hint: commaInt(st.Expired) + " idle timeouts"},
			{Label: "Uptime", Value: uptime(now.Sub(ns.started))},
		},
		Models: []web.ModelCoverage{{
			Model: commit.Short(n.commit.Model), Commitment: commit.Hex(n.commit.Model), Layers: cfg.Layers,
			Nodes:   []web.Node{self},
			Partial: true,
			Detail:  fmt.Sprintf("%s, dim %d; this page shows this node only — a gateway's dashboard shows the whole chain", cfg.Arch, cfg.Dim),
		}},
		Notes:  ns.notes(),
		Ledger: ns.ledgerPanel(ctx),
	}, nil
}

// notes say how the node's work is checked and paid.
func (ns *nodeStatus) notes() []string {
	notes := []string{"This node signs a receipt for every forward call with its identity key; clients check them and audit cells of its traces."}
	switch l := ns.n.ledger; {
	case l.Conn == nil:
		notes = append(notes, "No ledger: this node's work is not paid (start it with --ledger-url or --ledger-home, and --stake).")
	case l.RequirePayment:
		notes = append(notes, "Sessions are admitted only for clients whose ledger balance can pay for them.")
	}
	return notes
}

func (ns *nodeStatus) ledgerPanel(ctx context.Context) *web.Ledger {
	if ns.n.ledger.Conn == nil {
		return nil
	}
	return ns.ledger.get(ctx, func(ctx context.Context) *web.Ledger { return nodeLedgerPanel(ctx, ns.n) })
}
