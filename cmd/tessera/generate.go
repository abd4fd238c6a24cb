package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/discovery"
	"github.com/tessera-net/tessera/swarm"

	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/sample"
	"github.com/tessera-net/tessera/wire"
)

// samplingFlags registers the sampling options shared by generate and demo.
func samplingFlags(cmd *cobra.Command, p *sample.Params) {
	cmd.Flags().Float64Var(&p.Temperature, "temp", 0, "sampling temperature; 0 is greedy")
	cmd.Flags().IntVar(&p.TopK, "top-k", 40, "sample among the K most likely tokens (0 = all)")
	cmd.Flags().Float64Var(&p.TopP, "top-p", 0.95, "nucleus sampling mass (1 = off)")
	cmd.Flags().Float64Var(&p.MinP, "min-p", 0.05, "drop tokens below this fraction of the top probability")
	cmd.Flags().Float64Var(&p.RepeatPenalty, "repeat-penalty", 1, "penalty for recently generated tokens (1 = off)")
	cmd.Flags().Uint64Var(&p.Seed, "seed", 0, "random seed for sampling (same seed, same text)")
}

func newGenerateCmd() *cobra.Command {
	var (
		modelPath string
		prompt    string
		maxTokens int
		threads   int
		stops     []string
		params    sample.Params
		peers     string
		chainOpts chainOptions
		dtype     string
		disc      discoveryFlags
		verify    verifyOptions
		pay       clientLedger
	)
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate text from a prompt and stream it to stdout",
		Example: `  tessera generate --prompt "In the beginning God created" -n 48
  tessera generate --model llama-3.2-1b-q4_k_m.gguf --prompt "Hello" --temp 0.8 --seed 7`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			req := generate.Request{Prompt: prompt, MaxTokens: maxTokens, Stop: stops, Sample: params}
			if peers != "" && disc.enabled() {
				return errors.New("give --peers (fixed nodes) or --bootstrap/--mdns (nodes found by discovery), not both")
			}
			if peers == "" && !disc.enabled() {
				if chainOpts.LocalLayers > 0 {
					return fmt.Errorf("--local-layers needs --peers or --bootstrap")
				}
				if len(verify.VKs) > 0 || verify.Certificate != "" || verify.Validator != "" {
					return fmt.Errorf("--vk, --certificate and --validator need --peers or --bootstrap (a local generation has no nodes to audit)")
				}
				if pay.enabled() {
					return fmt.Errorf("--ledger-key needs --peers or --bootstrap (a local generation has no nodes to pay)")
				}
				lm, err := loadLocalModel(modelPath, threads)
				if err != nil {
					return err
				}
				defer lm.Close()
				return runLocal(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), lm, req)
			}
			var err error
			if chainOpts.Peers, err = p2p.ParsePeerAddrs(peers); err != nil {
				return err
			}
			if chainOpts.DType, err = wire.ParseDType(dtype); err != nil {
				return err
			}
			if err := pay.open(); err != nil {
				return err
			}
			defer pay.Close()
			return runRemote(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), modelPath, threads, chainOpts, disc, verify, &pay, req)
		},
	}
	cmd.Flags().StringVarP(&modelPath, "model", "m", "", "GGUF model or client slice (default: the embedded kjv-tiny model)")
	cmd.Flags().StringVar(&peers, "peers", "", "comma-separated multiaddrs of nodes serving the layers (default: run every layer here)")
	cmd.Flags().IntVar(&chainOpts.LocalLayers, "local-layers", 0, "with --peers or --bootstrap: run the first K layers in this process too")
	addDiscoveryFlags(cmd.Flags(), &disc, true)
	cmd.Flags().StringVar(&dtype, "dtype", "f32", "hidden-state encoding on the wire: f32 (exact) or f16 (half the bytes)")
	cmd.Flags().DurationVar(&chainOpts.Timeout, "timeout", 30*time.Second, "bound on each round trip to a node: a node silent this long is replaced")
	cmd.Flags().StringVarP(&prompt, "prompt", "p", "", "prompt text")
	cmd.Flags().IntVarP(&maxTokens, "max-tokens", "n", 64, "tokens to generate at most")
	cmd.Flags().IntVar(&threads, "threads", 0, "compute threads (default: one per CPU)")
	cmd.Flags().StringArrayVar(&stops, "stop", nil, "stop before this text (repeatable)")
	samplingFlags(cmd, &params)
	addVerifyFlags(cmd, &verify)
	pay.addFlags(cmd)
	_ = cmd.MarkFlagRequired("prompt")
	return cmd
}

// runLocal generates with every layer in this process, streaming the prompt
// and its continuation to out and a short timing line to log.
func runLocal(ctx context.Context, out, log io.Writer, lm *localModel, req generate.Request) error {
	cfg := lm.model.Config
	layers, err := generate.NewLocalLayers(lm.model, cfg.ContextLen)
	if err != nil {
		return err
	}
	client := generate.Client{Model: lm.model, Tokenizer: lm.tok}
	fmt.Fprint(out, req.Prompt)
	start := time.Now()
	res, err := client.Run(ctx, layers, req, func(s string) error {
		_, err := fmt.Fprint(out, s)
		return err
	})
	fmt.Fprintln(out)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(log, "[%d prompt + %d generated tokens in %.2fs, %.1f tok/s, finish: %s]\n",
		len(res.PromptTokens), len(res.Tokens), elapsed.Seconds(),
		float64(len(res.Tokens))/elapsed.Seconds(), res.FinishReason)
	return nil
}

// runRemote generates with the layers computed by the nodes at
// o.Peers (and the first o.LocalLayers here): tokens, text and logits stay
// in this process. With pay enabled the sessions name the client's ledger
// account and the certificate is settled on the ledger.
func runRemote(ctx context.Context, out, log io.Writer, modelPath string, threads int, o chainOptions, disc discoveryFlags, verify verifyOptions, pay *clientLedger, req generate.Request) error {
	lm, err := loadClientModel(modelPath, threads)
	if err != nil {
		return err
	}
	defer lm.Close()
	c, err := modelCommitments(lm.file, modelPath, terminal(log))
	if err != nil {
		return fmt.Errorf("model commitment: %w", err)
	}
	if pay.enabled() {
		// Nodes that require payment check the balance against the
		// session length asked, so ask for what this generation needs.
		cfg := lm.model.Config
		o.MaxPositions = min(cfg.ContextLen, len(generate.Client{Model: lm.model, Tokenizer: lm.tok}.PromptTokens(req.Prompt))+req.MaxTokens)
		if err := pay.canPay(ctx, cfg.Layers-o.LocalLayers, o.MaxPositions); err != nil {
			return err
		}
		o.Payer = pay.key
	}
	v, vks, err := verify.verification(c)
	if err != nil {
		return err
	}
	o.Verify = v
	h, err := p2p.New(ctx, p2p.Config{})
	if err != nil {
		return err
	}
	defer h.Close()
	var svc *discovery.Service
	if len(o.Peers) == 0 {
		if svc, err = disc.start(ctx, h, nil); err != nil {
			return err
		}
		defer svc.Close()
	}
	// Each node replaced mid-generation is reported as it happens; the
	// output is what it would have been without the failure.
	o.OnFailover = func(f swarm.Failover) { printFailover(log, f) }
	chain, _, err := remoteChainFor(ctx, h, svc, lm, c, o, disc.Wait)
	if err != nil {
		return err
	}
	defer chain.Close()
	printRoute(log, chain.Stats())
	client := generate.Client{Model: lm.model, Tokenizer: lm.tok}
	fmt.Fprint(out, req.Prompt)
	start := time.Now()
	res, err := client.Run(ctx, chain, req, func(s string) error {
		_, err := fmt.Fprint(out, s)
		return err
	})
	fmt.Fprintln(out)
	// Receipts, audits and the certificate are reported even when a node
	// failed its checks (that is when they matter most).
	delegateReexec(ctx, log, h, chain, verify)
	evidence := reportProofs(log, chain, verify.Certificate)
	if pay.enabled() {
		// A paying client reports the fraud it caught: the ledger
		// re-checks it, slashes the node and rewards the client.
		for _, path := range evidence {
			ev, rerr := readEvidence(path)
			if rerr == nil {
				var r fraudReport
				if r, rerr = reportFraud(ctx, pay.conn, pay.key, ev); rerr == nil {
					fmt.Fprintf(log, "  ledger: %s\n", r)
				}
			}
			if rerr != nil {
				fmt.Fprintf(log, "  ledger: evidence %s not accepted: %v\n", path, rerr)
			}
		}
	}
	var cert *proof.Certificate
	if verify.Certificate != "" || pay.enabled() {
		// A paying client audits as itself: the certificate is signed
		// with its ledger key, which earns the auditor's fee.
		key := pay.key
		if key == nil {
			var kerr error
			if key, kerr = hostSigningKey(h); kerr != nil {
				return kerr
			}
		}
		cert = certify(key, c.Model, req.Prompt, res, chain, vks)
	}
	if verify.Certificate != "" {
		if werr := writeFileAtomic(verify.Certificate, cert.Marshal(), 0o644); werr != nil {
			return fmt.Errorf("writing the certificate: %w", werr)
		}
		fmt.Fprintf(log, "certificate written to %s: %s\n", verify.Certificate, summaryLine(cert))
	}
	if err != nil {
		return err
	}
	if pay.enabled() {
		st, serr := settleCertificate(ctx, pay.conn, pay.key, pay.key, cert)
		if serr != nil {
			return fmt.Errorf("settling the certificate on the %s: %w", pay.conn.where(), serr)
		}
		printSettlement(log, st, cert)
	}
	elapsed := time.Since(start)
	stats := chain.Stats()
	fmt.Fprintf(log, "[%d prompt + %d generated tokens in %.2fs, %.1f tok/s through %d nodes, finish: %s]\n",
		len(res.PromptTokens), len(res.Tokens), elapsed.Seconds(), float64(len(res.Tokens))/elapsed.Seconds(), remoteHops(stats), res.FinishReason)
	printHopStats(log, stats)
	return nil
}

// remoteHops counts the nodes a chain computes on now.
func remoteHops(stats []swarm.HopStats) int {
	n := 0
	for _, s := range stats {
		if !s.Local && !s.Retired {
			n++
		}
	}
	return n
}

// printHopStats prints what each hop of a chain computed and moved.
func printHopStats(w io.Writer, stats []swarm.HopStats) {
	for _, s := range stats {
		where := "local"
		if !s.Local {
			where = "node " + shortPeer(s.Peer)
		}
		note := ""
		if s.Retired {
			why := s.Failure
			if len(why) > 100 {
				why = why[:97] + "…"
			}
			note = "  (replaced: " + why + ")"
		}
		fmt.Fprintf(w, "  %-22s layers %-6s %5d positions  %9s sent  %9s received  %6.0f ms%s\n",
			where, s.Range, s.Positions, humanBytes(s.BytesSent), humanBytes(s.BytesReceived), float64(s.Time.Microseconds())/1000, note)
	}
}

func shortPeer(id string) string {
	if len(id) > 12 {
		return "…" + id[len(id)-8:]
	}
	return id
}
