package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// nodeOptions configure one serving node.
type nodeOptions struct {
	ModelPath   string // GGUF model or layer slice; "" = the embedded model
	Layers      string // "a:b"; "" = every layer the file holds
	Listen      []string
	DataDir     string // identity and state; "" = an ephemeral identity
	Threads     int
	MaxSessions int
}

// runningNode is a node serving its layers until Close.
type runningNode struct {
	host   *p2p.Host
	server *swarm.Server
	model  *model.Model
	file   *gguf.File
	pool   *kernels.Pool
	commit commit.Commitments
}

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
	r, err := servedRange(f, cfg, o.Layers)
	if err != nil {
		return fail(err)
	}
	c, err := commit.Of(f)
	if err != nil {
		return fail(fmt.Errorf("model commitment: %w", err))
	}
	pool := kernels.NewPool(o.Threads)
	m, err := model.Load(f, model.Options{Layers: r, Pool: pool})
	if err != nil {
		pool.Close()
		return fail(err)
	}
	h, err := p2p.New(ctx, p2p.Config{DataDir: o.DataDir, Listen: o.Listen})
	if err != nil {
		pool.Close()
		return fail(err)
	}
	srv := &swarm.Server{Model: m, ModelCommit: c.Model, MaxSessions: o.MaxSessions}
	n := &runningNode{host: h, server: srv, model: m, file: f, pool: pool, commit: c}
	h.Handle(wire.ProtocolID, func(s network.Stream) { _ = srv.ServeStream(ctx, s) })
	h.Handle(swarm.InfoProtocolID, func(s network.Stream) { _ = srv.ServeInfo(s) })
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
		o        nodeOptions
		httpAddr string
		logs     logOptions
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Serve a range of a model's layers to the swarm",
		Long: `Serve a contiguous range of transformer layers over libp2p (TCP and QUIC,
Noise-encrypted). Clients send hidden states and get hidden states back; the
node never sees tokens, text or logits. Once ready, the node prints each of
its full dialable addresses on a line of its own.

The node also serves its dashboard (its layers, sessions and traffic) at
--http, with Prometheus metrics at /metrics; when the default address is
taken the node runs without one.`,
		Example: `  tessera node --model kjv.layers-0-2.gguf
  tessera node --model llama-3.2-1b-q4_k_m.gguf --layers 0:8 --listen /ip4/127.0.0.1/tcp/4001`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
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
	f.StringVar(&o.Layers, "layers", "", "layer range a:b to serve (default: every layer the file holds)")
	f.StringArrayVar(&o.Listen, "listen", p2p.DefaultListen, "multiaddr to listen on (repeatable)")
	f.StringVar(&o.DataDir, "data-dir", defaultDataDir(), "directory for the node's identity key")
	f.IntVar(&o.Threads, "threads", 0, "compute threads (default: one per CPU)")
	f.IntVar(&o.MaxSessions, "max-sessions", swarm.DefaultMaxSessions, "sessions served at once")
	f.StringVar(&httpAddr, "http", DefaultNodeHTTP, `host:port of the dashboard and /metrics ("" turns them off)`)
	addLogFlags(cmd, &logs)
	return cmd
}

// printNodeBanner prints the node's identity and then each full address on
// a line of its own, so scripts can take them line by line.
func printNodeBanner(w io.Writer, n *runningNode) {
	fmt.Fprintf(w, "tessera node %s serving layers %s of model %s\n", n.host.ID(), n.model.Range, commit.Short(n.commit.Model))
	for _, a := range n.host.Addrs() {
		fmt.Fprintln(w, a)
	}
}
