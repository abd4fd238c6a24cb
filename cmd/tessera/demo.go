package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/generate"
)

var demoPrompts = []string{
	"In the beginning God created",
	"And Jesus said unto them",
	"The LORD is my shepherd",
}

func newDemoCmd() *cobra.Command {
	var (
		maxTokens int
		threads   int
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the embedded model on a few prompts",
		Long: `Run the embedded kjv-tiny model (trained on the King James Bible) greedily on
a few prompts. This release computes every layer in this process; the
distributed pipeline (layer slices on separate nodes) is not built yet.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			lm, err := loadLocalModel("", threads)
			if err != nil {
				return err
			}
			defer lm.Close()
			cfg := lm.model.Config
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Tessera demo: model %s — %s, %d layers, dim %d, %d threads.\n", lm.name, cfg.Arch, cfg.Layers, cfg.Dim, lm.pool.Threads())
			fmt.Fprintln(out, "All layers run locally in this process (the multi-node pipeline is not built yet).")
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			for _, p := range demoPrompts {
				fmt.Fprintln(out)
				if err := runLocal(ctx, out, cmd.ErrOrStderr(), lm, generate.Request{Prompt: p, MaxTokens: maxTokens}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&maxTokens, "max-tokens", "n", 48, "tokens to generate per prompt")
	cmd.Flags().IntVar(&threads, "threads", 0, "compute threads (default: one per CPU)")
	return cmd
}
