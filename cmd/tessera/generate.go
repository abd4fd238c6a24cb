package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/sample"
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
	)
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate text from a prompt and stream it to stdout",
		Example: `  tessera generate --prompt "In the beginning God created" -n 48
  tessera generate --model llama-3.2-1b-q4_k_m.gguf --prompt "Hello" --temp 0.8 --seed 7`,
		RunE: func(cmd *cobra.Command, args []string) error {
			lm, err := loadLocalModel(modelPath, threads)
			if err != nil {
				return err
			}
			defer lm.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return runLocal(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), lm, generate.Request{Prompt: prompt, MaxTokens: maxTokens, Stop: stops, Sample: params})
		},
	}
	cmd.Flags().StringVarP(&modelPath, "model", "m", "", "GGUF model file (default: the embedded kjv-tiny model)")
	cmd.Flags().StringVarP(&prompt, "prompt", "p", "", "prompt text")
	cmd.Flags().IntVarP(&maxTokens, "max-tokens", "n", 64, "tokens to generate at most")
	cmd.Flags().IntVar(&threads, "threads", 0, "compute threads (default: one per CPU)")
	cmd.Flags().StringArrayVar(&stops, "stop", nil, "stop before this text (repeatable)")
	samplingFlags(cmd, &params)
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
