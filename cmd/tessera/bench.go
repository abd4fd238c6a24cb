package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/sample"
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
	// MemoryGBps is this machine's memory bandwidth with the same thread
	// count, measured in the same run (STREAM copy convention: bytes read
	// plus bytes written); RooflinePct is EffectiveGBps as a share of it.
	MemoryGBps  float64 `json:"memory_gbps,omitempty"`
	RooflinePct float64 `json:"roofline_pct,omitempty"`
}

func newBenchCmd() *cobra.Command {
	var (
		modelPath     string
		threads       int
		promptN, genN int
		repeat        int
		asJSON        bool
		noBandwidth   bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure prompt-processing and generation speed of a model on this machine",
		Long: `Measure prompt processing (prefill of --prompt-tokens positions at once) and
generation (--gen-tokens single-token decode steps, head included) on this
machine, best of --repeat runs, and the effective bandwidth of weight traffic
(weight bytes read per decoded token × tokens/s).`,
		Example: "  tessera bench --model synth-1b-q8_0.gguf --threads 2 --json",
		RunE: func(cmd *cobra.Command, args []string) error {
			lm, err := loadLocalModel(modelPath, threads)
			if err != nil {
				return err
			}
			defer lm.Close()
			res, err := runBench(lm, promptN, genN, repeat)
			if err != nil {
				return err
			}
			if !noBandwidth {
				res.MemoryGBps = memoryBandwidth(res.Threads, repeat)
				res.RooflinePct = 100 * res.EffectiveGBps / res.MemoryGBps
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
	return cmd
}

func runBench(lm *localModel, promptN, genN, repeat int) (benchResult, error) {
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
	tokens := make([]int, promptN)
	for i := range tokens {
		tokens[i] = (i*7919 + 13) % cfg.Vocab
	}
	hidden := make([]float32, promptN*cfg.Dim)
	logits := make([]float32, cfg.Vocab)
	for r := 0; r < repeat; r++ {
		s, err := m.NewSession(promptN)
		if err != nil {
			return res, err
		}
		if err := m.Embed(hidden, tokens); err != nil {
			return res, err
		}
		t0 := time.Now()
		if err := m.Forward(s, 0, hidden, promptN); err != nil {
			return res, err
		}
		if err := m.Head(logits, hidden[(promptN-1)*cfg.Dim:]); err != nil {
			return res, err
		}
		res.PrefillTokS = max(res.PrefillTokS, float64(promptN)/time.Since(t0).Seconds())
	}
	step := hidden[:cfg.Dim]
	for r := 0; r < repeat; r++ {
		s, err := m.NewSession(genN + 1)
		if err != nil {
			return res, err
		}
		tok := lm.tok.BOS()
		t0 := time.Now()
		for pos := 0; pos < genN; pos++ {
			if err := m.Embed(step, []int{tok}); err != nil {
				return res, err
			}
			if err := m.Forward(s, pos, step, 1); err != nil {
				return res, err
			}
			if err := m.Head(logits, step); err != nil {
				return res, err
			}
			tok = sample.Argmax(logits)
		}
		res.DecodeTokS = max(res.DecodeTokS, float64(genN)/time.Since(t0).Seconds())
	}
	res.EffectiveGBps = float64(res.WeightBytesPerToken) * res.DecodeTokS / 1e9
	return res, nil
}

func printBench(w io.Writer, r benchResult, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		return enc.Encode(r)
	}
	_, err := fmt.Fprintf(w, "model %s, %d threads\nprefill  %4d tokens: %8.1f tok/s\ndecode   %4d tokens: %8.1f tok/s  (%s weights/token, %.2f GB/s effective)\n",
		r.Model, r.Threads, r.PromptTokens, r.PrefillTokS, r.GenTokens, r.DecodeTokS,
		humanBytes(uint64(r.WeightBytesPerToken)), r.EffectiveGBps)
	if err == nil && r.MemoryGBps > 0 {
		_, err = fmt.Fprintf(w, "memory   %.2f GB/s with %d threads: decode runs at %.0f%% of the bandwidth roofline\n",
			r.MemoryGBps, r.Threads, r.RooflinePct)
	}
	return err
}

// memoryBandwidth measures copy bandwidth over buffers far larger than the
// caches, with one goroutine per thread on its own share, best of repeat.
// Go's copy is the runtime's vectorised memmove, so this is close to what
// a C STREAM copy reaches.
func memoryBandwidth(threads, repeat int) float64 {
	const size = 512 << 20
	src := make([]byte, size)
	dst := make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src) // fault the pages in
	chunk := size / threads
	var best float64
	for r := 0; r < max(repeat, 5); r++ {
		var wg sync.WaitGroup
		t0 := time.Now()
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func(off int) {
				defer wg.Done()
				copy(dst[off:off+chunk], src[off:off+chunk])
			}(t * chunk)
		}
		wg.Wait()
		best = max(best, 2*float64(chunk*threads)/time.Since(t0).Seconds()/1e9)
	}
	return best
}
