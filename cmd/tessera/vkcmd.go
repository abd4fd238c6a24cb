package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
)

// newVKCmd is `tessera vk`: verification keys for audits.
func newVKCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vk",
		Short: "Make secret verification keys for auditing nodes",
	}
	cmd.AddCommand(newVKGenCmd())
	return cmd
}

func newVKGenCmd() *cobra.Command {
	var (
		modelPath string
		layers    string
		out       string
		reps      int
		threads   int
		force     bool
	)
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Generate a verification key for a model or a slice",
		Long: `Read the weights of the chosen layers once and write, for every weight
matrix W, s = rᵀW for secret random vectors r (entries uniform in ±[1, 2)).
An auditor checks any node's matrix products with it (Freivalds) at a cost
proportional to the vectors, not the matrix. The key is SECRET: a node that
learns it can cheat undetected. The file is written with mode 0600.`,
		Example: `  tessera vk gen --model llama-3.2-1b-q4_k_m.gguf --out llama.vk
  tessera vk gen --model kjv.layers-2-4.gguf --out kjv-2-4.vk`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			if !force {
				if _, err := os.Stat(out); err == nil {
					return fmt.Errorf("%s exists (use --force to replace it)", out)
				} else if !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
			f, name, err := openModelFile(modelPath)
			if err != nil {
				return err
			}
			defer f.Close()
			cfg, err := model.ConfigFromGGUF(f)
			if err != nil {
				return err
			}
			r, err := servedRange(f, cfg, layers)
			if err != nil {
				return err
			}
			start := time.Now()
			c, err := commit.Of(f)
			if err != nil {
				return fmt.Errorf("model commitment: %w", err)
			}
			var seed [32]byte
			if _, err := rand.Read(seed[:]); err != nil {
				return err
			}
			vk, err := proof.GenerateVK(f, c, r, seed, proof.VKOptions{Reps: reps, Workers: max(1, threads)})
			if err != nil {
				return err
			}
			b := vk.Marshal()
			if err := writeFileAtomic(out, b, 0o600); err != nil {
				return err
			}
			id := vk.ID()
			fmt.Fprintf(cmd.OutOrStdout(), "verification key for layers %s of %s (model %s): %s, %d Freivalds vectors per matrix, id %x, in %.2fs\nwritten to %s (keep it secret)\n",
				r, name, commit.Short(c.Model), humanBytes(uint64(len(b))), vk.Reps, id[:8], time.Since(start).Seconds(), out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&modelPath, "model", "m", "", "GGUF model or layer slice (default: the embedded kjv-tiny model)")
	f.StringVar(&layers, "layers", "", "layer range a:b (default: every layer the file holds)")
	f.StringVarP(&out, "out", "o", "", "key file to write")
	f.IntVar(&reps, "reps", proof.DefaultReps, "independent Freivalds vectors per matrix (each doubles the chance to catch a borderline perturbation)")
	f.IntVar(&threads, "threads", 0, "matrices processed at once (default: 1)")
	f.BoolVar(&force, "force", false, "replace an existing key file")
	return cmd
}
