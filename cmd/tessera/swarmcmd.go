package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/discovery"
	"github.com/tessera-net/tessera/p2p"
)

// newSwarmCmd is `tessera swarm`, with `tessera swarm status`.
func newSwarmCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "swarm",
		Short: "Look at the swarm: who serves which layers of which model",
	}
	cmd.AddCommand(newSwarmStatusCmd())
	return cmd
}

// swarmStatusOptions configure `tessera swarm status`.
type swarmStatusOptions struct {
	Bootstrap string // comma-separated full addresses
	ModelPath string // model whose topic to follow; "" = every model the bootstrap peers know
	Commit    string // hex model commitment, instead of ModelPath
	Wait      time.Duration
	Timeout   time.Duration
	MDNS      bool
	Listen    []string
}

func newSwarmStatusCmd() *cobra.Command {
	var o swarmStatusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show which layers are covered by whom, the gaps, and the throughput per range",
		Long: `Join the swarm through --bootstrap, ask the peers for the announcements
they hold (signed by the nodes themselves, so a peer cannot forge them) and
print, per model: the layer segments with the nodes serving each and their
summed throughput, the gaps no node covers, and every node with its range,
throughput, free session slots, operator, expiry and address.

With --model or --commit the command also follows that model's
announcement topic for --wait and shows what arrived meanwhile, with
measured round-trip times.`,
		Example: `  tessera swarm status --bootstrap /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…
  tessera swarm status --bootstrap /ip4/10.0.0.2/tcp/4001/p2p/12D3KooW… --model kjv.client.gguf --wait 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return runSwarmStatus(ctx, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Bootstrap, "bootstrap", "", "comma-separated full addresses (…/p2p/<id>) of peers to ask")
	f.StringVarP(&o.ModelPath, "model", "m", "", "only this model (a client file, slice or whole GGUF); follow its topic for --wait")
	f.StringVar(&o.Commit, "commit", "", "only the model with this commitment (hex); follow its topic for --wait")
	f.DurationVar(&o.Wait, "wait", 2*time.Second, "with --model or --commit: how long to follow the topic")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Second, "bound on reaching the bootstrap peers")
	f.BoolVar(&o.MDNS, "mdns", false, "also find peers on the local network by multicast DNS")
	f.StringArrayVar(&o.Listen, "listen", p2p.DefaultListen, "multiaddr to listen on (repeatable)")
	return cmd
}

func runSwarmStatus(ctx context.Context, out io.Writer, o swarmStatusOptions) error {
	boot, err := discovery.ParseBootstrap(o.Bootstrap)
	if err != nil {
		return err
	}
	if len(boot) == 0 && !o.MDNS {
		return errors.New("swarm status needs --bootstrap (or --mdns) to find the swarm")
	}
	var only *[32]byte
	switch {
	case o.ModelPath != "" && o.Commit != "":
		return errors.New("give --model or --commit, not both")
	case o.Commit != "":
		c, err := commit.ParseHex(o.Commit)
		if err != nil {
			return fmt.Errorf("--commit: %w", err)
		}
		only = &c
	case o.ModelPath != "":
		f, _, err := openModelFile(o.ModelPath)
		if err != nil {
			return err
		}
		c, err := commit.Of(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("model commitment: %w", err)
		}
		only = &c.Model
	}

	h, err := p2p.New(ctx, p2p.Config{Listen: o.Listen})
	if err != nil {
		return err
	}
	defer h.Close()
	svc, err := discovery.New(ctx, discovery.Config{Host: h, Bootstrap: boot, MDNS: o.MDNS})
	if err != nil {
		return err
	}
	defer svc.Close()
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	err = svc.WaitPeers(wctx, 1)
	cancel()
	if err != nil {
		return fmt.Errorf("reaching the swarm through %s: %w", o.Bootstrap, err)
	}

	var anns []discovery.Announcement
	rtt := map[peer.ID]time.Duration{}
	if only != nil {
		topic, err := svc.Join(*only)
		if err != nil {
			return err
		}
		topic.Sync(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(o.Wait):
		}
		for _, e := range topic.Live() {
			anns = append(anns, e.Announcement)
			if e.RTT > 0 {
				rtt[e.Peer] = e.RTT
			}
		}
	} else {
		for _, id := range h.Libp2p().Network().Peers() {
			got, _, err := svc.Snapshot(ctx, id)
			if err != nil {
				fmt.Fprintf(os.Stderr, "asking %s: %v\n", id, err)
				continue
			}
			anns = append(anns, got...)
		}
	}
	now := svc.Now()
	sts := discovery.Summarize(anns, now, discovery.Policy{})
	if len(sts) == 0 {
		what := "any model"
		if only != nil {
			what = "model " + commit.Short(*only)
		}
		fmt.Fprintf(out, "no live announcements for %s (peers connected: %d)\n", what, len(h.Libp2p().Network().Peers()))
		return nil
	}
	for i, st := range sts {
		if i > 0 {
			fmt.Fprintln(out)
		}
		if err := st.Write(out, now, rtt); err != nil {
			return err
		}
	}
	return nil
}
