package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/slice"
	"github.com/tessera-net/tessera/swarm"
)

var demoPrompts = []string{
	"In the beginning God created",
	"And Jesus said unto them",
	"The LORD is my shepherd",
}

// demoRanges split the embedded model's six layers over three nodes.
var demoRanges = []model.Range{{First: 0, Last: 2}, {First: 2, Last: 4}, {First: 4, Last: 6}}

// demoOptions configure `tessera demo`.
type demoOptions struct {
	Prompts   []string
	MaxTokens int
	Threads   int
	// KillNode starts a standby node for the middle range and stops the
	// node serving it in the middle of the first prompt.
	KillNode bool
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a local three-node swarm on the embedded model",
		Long: `Slice the embedded kjv-tiny model (trained on the King James Bible) into a
client file and three layer slices, start three nodes on 127.0.0.1 in this
process, and generate through the chain: the client embeds and samples, the
nodes see only hidden states. Prints each node's layers, bytes moved and
speed. Temporary files and nodes are cleaned up on exit and on Ctrl-C.

With --kill-node a fourth node stands by for layers 2:4, and the node
serving them is stopped in the middle of the first prompt: the client
replays the layers' history on the standby, prints the failover, and the
text is the same as without it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	cmd.Flags().IntVarP(&o.MaxTokens, "max-tokens", "n", 48, "tokens to generate per prompt")
	cmd.Flags().IntVar(&o.Threads, "threads", 1, "compute threads per node (the nodes share this machine)")
	cmd.Flags().StringArrayVarP(&o.Prompts, "prompt", "p", demoPrompts, "prompt (repeatable)")
	cmd.Flags().BoolVar(&o.KillNode, "kill-node", false, "stop the node serving layers 2:4 mid-generation; a standby takes over")
	return cmd
}

// demoVictim is the range whose node --kill-node stops.
var demoVictim = model.Range{First: 2, Last: 4}

// stopAfter runs layers and calls stop once, before forward call k.
type stopAfter struct {
	inner generate.Layers
	k     int
	calls int
	stop  func()
}

func (s *stopAfter) Forward(ctx context.Context, start int, hidden []float32, n int) error {
	if s.calls == s.k && s.stop != nil {
		s.stop()
		s.stop = nil
	}
	s.calls++
	return s.inner.Forward(ctx, start, hidden, n)
}

func runDemo(ctx context.Context, out, log io.Writer, o demoOptions) error {
	prompts, maxTokens, threads := o.Prompts, o.MaxTokens, o.Threads
	dir, err := os.MkdirTemp("", "tessera-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	src, err := models.Default()
	if err != nil {
		return err
	}
	written, err := slice.Write(src, demoRanges, dir, slice.Options{Base: "kjv-tiny"})
	if err != nil {
		return fmt.Errorf("slice the demo model: %w", err)
	}
	fmt.Fprintf(out, "Tessera demo: %s sliced into a client file and %d layer slices.\n", models.DefaultName, len(demoRanges))
	// The client audits the nodes with a verification key of its own.
	vk, err := demoVK(src)
	if err != nil {
		return err
	}

	// The nodes, by ledger name: one per slice, and the standby.
	type demoNode struct {
		name  string
		path  string
		r     model.Range
		bytes int64
	}
	var nodes []demoNode
	var clientPath string
	for _, w := range written {
		if w.Slice.Client {
			clientPath = w.Path
			continue
		}
		nodes = append(nodes, demoNode{name: w.Slice.Layers.String(), path: w.Path, r: w.Slice.Layers, bytes: w.Bytes})
	}
	if o.KillNode {
		for _, n := range nodes {
			if n.r == demoVictim {
				nodes = append(nodes, demoNode{name: n.name + " spare", path: n.path, r: n.r, bytes: n.bytes})
				break
			}
		}
	}
	dl, err := openDemoLedger(ctx, dir)
	if err != nil {
		return err
	}
	defer dl.Close()
	fmt.Fprintln(out, "  embedded dev ledger: each node stakes and registers its identity key and serves only paying clients; the client, funded from the faucet, audits the nodes (one cell of every receipt) and settles each signed certificate")

	var peers []string
	running := map[string]*runningNode{} // by peer id
	for _, dn := range nodes {
		n, err := startNode(ctx, nodeOptions{ModelPath: dn.path, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Threads: threads, Ledger: dl.nodeOptions()})
		if err != nil {
			return fmt.Errorf("start node for layers %s: %w", dn.r, err)
		}
		defer n.Close()
		fmt.Fprintf(out, "  node %s  layers %s  %s  %s\n", shortPeer(n.host.ID()), n.model.Range, humanBytes(uint64(dn.bytes)), n.host.Addrs()[0])
		peers = append(peers, n.host.Addrs()[0])
		running[n.host.ID()] = n
	}
	if o.KillNode {
		fmt.Fprintf(out, "  two nodes serve layers %s: the one the first prompt goes through is stopped after %d tokens\n", demoVictim, max(1, maxTokens/2))
	}

	lm, err := loadClientModel(clientPath, threads)
	if err != nil {
		return err
	}
	defer lm.Close()
	c, err := commit.Of(lm.file)
	if err != nil {
		return err
	}
	h, err := p2p.New(ctx, p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		return err
	}
	defer h.Close()
	fmt.Fprintf(out, "  client holds the tokenizer, embedding and head; model commitment %s\n", commit.Short(c.Model))

	client := generate.Client{Model: lm.model, Tokenizer: lm.tok}
	for i, p := range prompts {
		v := &swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: proof.AuditConfig{Cells: 1}}
		var failovers []swarm.Failover
		positions := min(lm.model.Config.ContextLen, len(client.PromptTokens(p))+maxTokens)
		opts := chainOptions{Peers: peers, Timeout: 30 * time.Second, Verify: v, Payer: dl.client, MaxPositions: positions,
			OnFailover: func(f swarm.Failover) { failovers = append(failovers, f) }}
		chain, _, err := remoteChain(ctx, h, lm, c, opts)
		if err != nil {
			return err
		}
		var layers generate.Layers = chain
		if o.KillNode && i == 0 {
			// Stop the node computing the victim's layers halfway through
			// the first prompt's tokens.
			for _, st := range chain.Stats() {
				if n := running[st.Peer]; n != nil && st.Range == demoVictim {
					layers = &stopAfter{inner: chain, k: max(1, maxTokens/2), stop: n.Close}
				}
			}
		}
		fmt.Fprintln(out)
		fmt.Fprint(out, p)
		start := time.Now()
		res, err := client.Run(ctx, layers, generate.Request{Prompt: p, MaxTokens: maxTokens}, func(s string) error {
			_, err := fmt.Fprint(out, s)
			return err
		})
		fmt.Fprintln(out)
		for _, f := range failovers {
			printFailover(out, f)
		}
		elapsed := time.Since(start)
		stats := chain.Stats()
		chain.Close()
		if err != nil {
			reportProofs(out, chain, "")
			return err
		}
		fmt.Fprintf(out, "[%d prompt + %d generated tokens in %.2fs, %.1f tok/s through %d nodes]\n",
			len(res.PromptTokens), len(res.Tokens), elapsed.Seconds(), float64(len(res.Tokens))/elapsed.Seconds(), remoteHops(stats))
		printHopStats(out, stats)
		reportProofs(out, chain, "")
		// The client audits as itself: its ledger key signs the
		// certificate, and settling it pays each node its work.
		audit := certify(dl.client, c.Model, p, res, chain, []*proof.VerificationKey{vk})
		if err := proof.VerifyCertificate(audit); err != nil {
			return err
		}
		fmt.Fprintf(out, "  audit certificate (%s): %s\n", humanBytes(uint64(len(audit.Marshal()))), summaryLine(audit))
		st, err := settleCertificate(ctx, dl.conn, dl.client, dl.client, audit)
		if err != nil {
			return fmt.Errorf("demo ledger: %w", err)
		}
		printSettlement(out, st, audit)
	}
	return nil
}
