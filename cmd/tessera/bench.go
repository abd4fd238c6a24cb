package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/sample"
	"github.com/tessera-net/tessera/slice"
	"github.com/tessera-net/tessera/swarm"
)

// benchResult is one `tessera bench` run; the JSON names are a stable
// interface for scripts that compare runs.
type benchResult struct {
	Model               string  `json:"model"`
	Threads             int     `json:"threads"`
	PromptTokens        int     `json:"prompt_tokens"`
	GenTokens           int     `json:"gen_tokens"`
	PrefillTokS         float64 `json:"prefill_tok_s"`
	DecodeTokS          float64 `json:"decode_tok_s"`
	WeightBytesPerToken int64   `json:"weight_bytes_per_token"`
	EffectiveGBps       float64 `json:"effective_gbps"`
	// MemoryGBps is this machine's memory read bandwidth with the same
	// threads over the same bytes: after every decode step a plain
	// sequential read loop (kernels.ReadProbe) reads the weight memory
	// the step streamed, once. Each run's decode rate is compared with
	// its own steps' reads (RooflineRunsPct), and RooflinePct, their
	// median, is how close decode runs to the limit memory sets.
	// MemoryGBps is the median of the runs' read rates (MemoryRunsGBps).
	MemoryGBps      float64   `json:"memory_gbps,omitempty"`
	RooflinePct     float64   `json:"roofline_pct,omitempty"`
	MemoryRunsGBps  []float64 `json:"memory_runs_gbps,omitempty"`
	RooflineRunsPct []float64 `json:"roofline_runs_pct,omitempty"`
	// TTFTMillis is the time to the first token: prefill of the prompt
	// plus the head.
	TTFTMillis float64 `json:"ttft_ms"`

	// With --nodes: the same measurements through a chain of in-process
	// nodes on 127.0.0.1, and the decode speed as a share of in-process.
	Nodes                int     `json:"nodes,omitempty"`
	ChainPrefillTokS     float64 `json:"chain_prefill_tok_s,omitempty"`
	ChainDecodeTokS      float64 `json:"chain_decode_tok_s,omitempty"`
	ChainDecodeRatio     float64 `json:"chain_decode_ratio,omitempty"`
	ChainTTFTMillis      float64 `json:"chain_ttft_ms,omitempty"`
	WireBytesPerTokenHop float64 `json:"wire_bytes_per_token_hop,omitempty"`
}

func newBenchCmd() *cobra.Command {
	var (
		modelPath     string
		threads       int
		promptN, genN int
		repeat        int
		asJSON        bool
		noBandwidth   bool
		nodes         int
		cpuProfile    string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure prompt-processing and generation speed of a model on this machine",
		Long: `Measure prompt processing (prefill of --prompt-tokens positions at once) and
generation (--gen-tokens single-token decode steps, head included) on this
machine, best of --repeat runs, and the effective bandwidth of weight traffic
(weight bytes read per decoded token × tokens/s). Decoding reads every weight
once per token, so memory read bandwidth bounds it: after every decode step,
outside its timing, bench reads the same weight memory once with the same
threads (a plain sequential read loop), and prints decode's share of that
read rate, the roofline ratio: the median over the runs, each run against the
reads between its own steps, so that a machine whose memory speed drifts
compares like with like. Weights that fit in the CPU cache are read from it
by both, so for small models the ratio compares with cache bandwidth.`,
		Example: "  tessera bench --model synth-1b-q8_0.gguf --threads 2 --json",
		RunE: func(cmd *cobra.Command, args []string) error {
			lm, err := loadLocalModel(modelPath, threads)
			if err != nil {
				return err
			}
			defer lm.Close()
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			// The read probe reads the weights themselves, once after
			// every decode step: the same bytes as decode, at the same
			// moments. This machine kind's bandwidth drifts by a third
			// between minutes, and its memory regions read at rates a
			// tenth apart, so a buffer of the probe's own, or a probe
			// after the whole run, would compare decode with other memory
			// or other moments.
			var probe *kernels.ReadProbe
			if !noBandwidth {
				var err error
				if probe, err = kernels.NewReadProbeOver(lm.model.WeightMemory()); err != nil {
					return err
				}
			}
			res, err := runBench(lm, promptN, genN, repeat, probe)
			if err != nil {
				return err
			}
			if nodes > 0 {
				if err := benchChain(lm, modelPath, nodes, threads, &res, repeat); err != nil {
					return fmt.Errorf("bench through %d nodes: %w", nodes, err)
				}
			}
			return printBench(cmd.OutOrStdout(), res, asJSON)
		},
	}
	cmd.Flags().StringVarP(&modelPath, "model", "m", "", "GGUF model file (default: the embedded kjv-tiny model)")
	cmd.Flags().IntVar(&threads, "threads", 0, "compute threads (default: one per CPU)")
	cmd.Flags().IntVarP(&promptN, "prompt-tokens", "p", 128, "positions in the prefill measurement")
	cmd.Flags().IntVarP(&genN, "gen-tokens", "n", 32, "decode steps in the generation measurement")
	cmd.Flags().IntVarP(&repeat, "repeat", "r", 3, "runs of each measurement; the best is reported")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().BoolVar(&noBandwidth, "no-bandwidth", false, "skip the memory-bandwidth measurement")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of the measurements to this file (for go tool pprof)")
	cmd.Flags().IntVar(&nodes, "nodes", 0, "also measure through this many in-process nodes on 127.0.0.1 (0: only in-process)")
	return cmd
}

// startCPUProfile starts writing a CPU profile to path; the returned
// function stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// layersFactory makes fresh layers (new sessions) for one measurement run;
// the returned function releases them.
type layersFactory func() (generate.Layers, func(), error)

// measurement is the best of several runs through one kind of layers.
type measurement struct {
	prefillTokS, decodeTokS float64
	ttft                    time.Duration // prefill of the prompt + head: the wait for the first token
}

// runBench measures the model in-process; probe, if not nil, reads the
// weight memory once after every decode step, which gives the roofline
// fields.
func runBench(lm *localModel, promptN, genN, repeat int, probe *kernels.ReadProbe) (benchResult, error) {
	m := lm.model
	cfg := m.Config
	if promptN < 1 || genN < 1 || repeat < 1 {
		return benchResult{}, fmt.Errorf("bench: prompt tokens, gen tokens and repeat must be positive")
	}
	if promptN > cfg.ContextLen || genN+1 > cfg.ContextLen {
		return benchResult{}, fmt.Errorf("bench: %d prompt or %d generated tokens exceed the model's context of %d", promptN, genN, cfg.ContextLen)
	}
	res := benchResult{
		Model: lm.name, Threads: lm.pool.Threads(), PromptTokens: promptN, GenTokens: genN,
		WeightBytesPerToken: m.WeightBytes(),
	}
	// Per decode run: its steps' time, and the probe's reads after them.
	type runTimes struct{ decode, read time.Duration }
	runs := make([]runTimes, repeat)
	var afterStep func(run int, step time.Duration)
	if probe != nil {
		afterStep = func(run int, step time.Duration) {
			runs[run].decode += step
			runs[run].read += probe.Pass(lm.pool)
		}
	}
	local, err := measure(lm, func() (generate.Layers, func(), error) {
		l, err := generate.NewLocalLayers(m, max(promptN, genN+1))
		if err != nil {
			return nil, nil, err
		}
		// The KV cache is allocated before the timing, as an engine
		// does when it creates a context: growing it on the way would
		// charge page faults to the first tokens.
		l.Session.Reserve(l.Session.MaxLen())
		return l, func() {}, nil
	}, promptN, genN, repeat, afterStep)
	if err != nil {
		return res, err
	}
	if probe != nil {
		for _, r := range runs {
			if r.decode <= 0 || r.read <= 0 {
				return res, fmt.Errorf("bench: no read bandwidth measured (decode %v, reads %v)", r.decode, r.read)
			}
			decode := float64(res.WeightBytesPerToken) * float64(genN) / r.decode.Seconds()
			read := float64(probe.Bytes()) * float64(genN) / r.read.Seconds()
			res.MemoryRunsGBps = append(res.MemoryRunsGBps, read/1e9)
			res.RooflineRunsPct = append(res.RooflineRunsPct, 100*decode/read)
		}
	}
	res.PrefillTokS, res.DecodeTokS = local.prefillTokS, local.decodeTokS
	res.TTFTMillis = float64(local.ttft.Microseconds()) / 1000
	res.EffectiveGBps = float64(res.WeightBytesPerToken) * res.DecodeTokS / 1e9
	if len(res.RooflineRunsPct) > 0 {
		res.MemoryGBps = median(res.MemoryRunsGBps)
		res.RooflinePct = median(res.RooflineRunsPct)
	}
	return res, nil
}

// median returns the middle value of v (the mean of the two middle ones
// for an even count), leaving v as it is.
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// measure times prefill (promptN positions at once, then the head) and
// decode (genN steps of embed, layers, head, argmax) through fresh layers,
// best of repeat runs; afterStep, if not nil, runs after every decode
// step, outside the timing, with the run's index and the step's time.
func measure(lm *localModel, newLayers layersFactory, promptN, genN, repeat int, afterStep func(run int, step time.Duration)) (measurement, error) {
	m := lm.model
	cfg := m.Config
	ctx := context.Background()
	tokens := make([]int, promptN)
	for i := range tokens {
		tokens[i] = (i*7919 + 13) % cfg.Vocab
	}
	hidden := make([]float32, promptN*cfg.Dim)
	logits := make([]float32, cfg.Vocab)
	var best measurement
	for r := 0; r < repeat; r++ {
		layers, release, err := newLayers()
		if err != nil {
			return best, err
		}
		if err := m.Embed(hidden, tokens); err != nil {
			release()
			return best, err
		}
		t0 := time.Now()
		if err := layers.Forward(ctx, 0, hidden, promptN); err != nil {
			release()
			return best, err
		}
		if err := m.Head(logits, hidden[(promptN-1)*cfg.Dim:]); err != nil {
			release()
			return best, err
		}
		el := time.Since(t0)
		release()
		if best.ttft == 0 || el < best.ttft {
			best.ttft = el
		}
		best.prefillTokS = max(best.prefillTokS, float64(promptN)/el.Seconds())
	}
	step := hidden[:cfg.Dim]
	for r := 0; r < repeat; r++ {
		layers, release, err := newLayers()
		if err != nil {
			return best, err
		}
		tok := lm.tok.BOS()
		var el time.Duration
		for pos := 0; pos < genN; pos++ {
			t0 := time.Now()
			if err := m.Embed(step, []int{tok}); err != nil {
				release()
				return best, err
			}
			if err := layers.Forward(ctx, pos, step, 1); err != nil {
				release()
				return best, err
			}
			if err := m.Head(logits, step); err != nil {
				release()
				return best, err
			}
			tok = sample.Argmax(logits)
			st := time.Since(t0)
			el += st
			if afterStep != nil {
				afterStep(r, st)
			}
		}
		best.decodeTokS = max(best.decodeTokS, float64(genN)/el.Seconds())
		release()
	}
	return best, nil
}

// benchChain measures the same model split over nodes in-process nodes on
// 127.0.0.1, each serving a byte-balanced range straight from the model
// file, and fills the chain fields of res.
func benchChain(lm *localModel, path string, nodes, threads int, res *benchResult, repeat int) error {
	ranges, err := slice.Balanced(lm.file, nodes)
	if err != nil {
		return err
	}
	c, err := commit.Of(lm.file)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var peers []string
	for _, r := range ranges {
		n, err := startNode(ctx, nodeOptions{ModelPath: path, Layers: r.String(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Threads: threads})
		if err != nil {
			return err
		}
		defer n.Close()
		peers = append(peers, n.host.Addrs()[0])
	}
	h, err := p2p.New(ctx, p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		return err
	}
	defer h.Close()
	var last []swarm.HopStats
	chainRes, err := measure(lm, func() (generate.Layers, func(), error) {
		chain, _, err := remoteChain(ctx, h, lm, c, chainOptions{Peers: peers, Timeout: time.Minute})
		if err != nil {
			return nil, nil, err
		}
		return chain, func() { last = chain.Stats(); chain.Close() }, nil
	}, res.PromptTokens, res.GenTokens, repeat, nil)
	if err != nil {
		return err
	}
	res.Nodes = nodes
	res.ChainPrefillTokS, res.ChainDecodeTokS = chainRes.prefillTokS, chainRes.decodeTokS
	res.ChainTTFTMillis = float64(chainRes.ttft.Microseconds()) / 1000
	res.ChainDecodeRatio = res.ChainDecodeTokS / res.DecodeTokS
	if len(last) > 0 {
		// The last release was a decode run: genN single-position calls.
		res.WireBytesPerTokenHop = float64(last[0].BytesSent+last[0].BytesReceived) / float64(res.GenTokens)
	}
	return nil
}

func printBench(w io.Writer, r benchResult, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		return enc.Encode(r)
	}
	roof := ""
	if r.MemoryGBps > 0 {
		roof = fmt.Sprintf(", %.0f%% of the read roofline", r.RooflinePct)
		if n := len(r.RooflineRunsPct); n > 1 {
			roof += fmt.Sprintf(": median of %d runs, %.0f–%.0f%%", n, slices.Min(r.RooflineRunsPct), slices.Max(r.RooflineRunsPct))
		}
	}
	_, err := fmt.Fprintf(w, "model %s, %d threads\nprefill  %4d tokens: %8.1f tok/s\ndecode   %4d tokens: %8.1f tok/s  (%s weights/token: %.2f GB/s effective%s)\n",
		r.Model, r.Threads, r.PromptTokens, r.PrefillTokS, r.GenTokens, r.DecodeTokS,
		humanBytes(uint64(r.WeightBytesPerToken)), r.EffectiveGBps, roof)
	if err == nil {
		_, err = fmt.Fprintf(w, "first token after a %d-token prompt: %.1f ms\n", r.PromptTokens, r.TTFTMillis)
	}
	if err == nil && r.Nodes > 0 {
		_, err = fmt.Fprintf(w, "through %d nodes on 127.0.0.1: prefill %.1f tok/s, decode %.1f tok/s (%.2f of in-process), first token %.1f ms, %.0f bytes per token per hop\n",
			r.Nodes, r.ChainPrefillTokS, r.ChainDecodeTokS, r.ChainDecodeRatio, r.ChainTTFTMillis, r.WireBytesPerTokenHop)
	}
	if err == nil && r.MemoryGBps > 0 {
		_, err = fmt.Fprintf(w, "memory   %.2f GB/s read with %d threads (a plain sequential read of the weights after each decode step, median of the runs): decode's roofline is %.1f tok/s\n",
			r.MemoryGBps, r.Threads, r.MemoryGBps*1e9/float64(r.WeightBytesPerToken))
	}
	return err
}
