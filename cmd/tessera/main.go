// Command tessera runs large-language-model inference split into layer
// slices across many machines, with verifiable results. See README.md.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tessera:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "tessera",
		Short:         "Disaggregated, verifiable LLM inference on ordinary machines",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newGenerateCmd(), newNodeCmd(), newGatewayCmd(), newModelCmd(), newBenchCmd(), newDemoCmd(), newSwarmCmd(), newLedgerCmd(),
		newVKCmd(), newVerifyCmd(), newValidatorCmd())
	return root
}
