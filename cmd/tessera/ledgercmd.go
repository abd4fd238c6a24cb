package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	cmtlog "github.com/cometbft/cometbft/libs/log"
	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/abci"
	"github.com/tessera-net/tessera/ledger/blocklog"
	"github.com/tessera-net/tessera/ledger/proofcheck"
	"github.com/tessera-net/tessera/ledger/query"
	"github.com/tessera-net/tessera/ledger/solo"
	"github.com/tessera-net/tessera/models"
)

// openEvidenceChecker returns the ledger's fraud-evidence checker: the
// weights of the embedded demo model and of the models and slices at paths
// (files, or directories whose *.gguf files are all used), each checked
// against its commitments. Evidence about other models or layers cannot be
// judged (not a verdict). The files are read when the first evidence is
// judged (opening a ledger replays its blocks since the last snapshot) or
// at Load. Close it after the ledger that uses it.
func openEvidenceChecker(paths []string) (*proofcheck.Checker, error) {
	c, err := proofcheck.Open(paths...)
	if err != nil {
		return nil, fmt.Errorf("--evidence-models: %w", err)
	}
	f, err := models.Default()
	if err == nil {
		err = c.Add(f, models.DefaultName+" (embedded)")
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// addEvidenceFlag registers --evidence-models.
func addEvidenceFlag(cmd *cobra.Command, paths *[]string) {
	cmd.Flags().StringArrayVar(paths, "evidence-models", nil,
		"GGUF models or slices, or directories of them, whose weights judge fraud evidence (repeatable; the embedded model is always included)")
}

// soloLedger is an embedded ledger with the checker that judges its fraud
// evidence; Close closes both.
type soloLedger struct {
	*solo.Ledger
	evidence *proofcheck.Checker
}

// Close closes the ledger, then its evidence checker.
func (l *soloLedger) Close() error {
	err := l.Ledger.Close()
	if cerr := l.evidence.Close(); err == nil {
		err = cerr
	}
	return err
}

// openSoloLedger opens (or creates, in dev mode) the embedded ledger at
// path. Its fraud evidence is judged with the weights of the embedded model
// and of the models at evidence (openEvidenceChecker): every embedded store
// of a node, gateway, the demo or the ledger commands opens through here.
func openSoloLedger(path string, evidence []string) (*soloLedger, error) {
	ck, err := openEvidenceChecker(evidence)
	if err != nil {
		return nil, err
	}
	l, err := solo.Open(path, solo.Options{Evidence: ck})
	if err != nil {
		ck.Close()
		return nil, err
	}
	return &soloLedger{Ledger: l, evidence: ck}, nil
}

// defaultLedgerHome is where the embedded (solo) ledger lives by default.
func defaultLedgerHome() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "tessera", "ledger")
	}
	return ".tessera-ledger"
}

// ledgerDBPath is the block log of a home: a CometBFT validator's (made by
// `tessera ledger init`) or a solo store's.
func ledgerDBPath(home string) string {
	if _, err := os.Stat(filepath.Join(home, abci.NodeConfigFile)); err == nil {
		return filepath.Join(home, abci.LedgerFile)
	}
	return filepath.Join(home, "ledger.db")
}

func newLedgerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Query, verify and run the credit ledger",
		Long: `The ledger records every certificate's work and payments, stakes and fraud
slashing (docs/DESIGN.md section 6). It is embedded (a bbolt file, the
default) or shared by CometBFT validators (init, node).

Queries read a home directory (stop the process that owns it first) or a
running node's HTTP API (--url: a validator's, or a Tessera node's or
gateway's that serves /v1/ledger/). Accounts are Ed25519 keys (ledger key);
faucet, transfer and register send signed transactions.`,
	}
	cmd.AddCommand(newLedgerBalanceCmd(), newLedgerHistoryCmd(), newLedgerInfoCmd(), newLedgerVerifyCmd(),
		newLedgerKeyCmd(), newLedgerFaucetCmd(), newLedgerTransferCmd(), newLedgerRegisterCmd(), newLedgerReportCmd(),
		newLedgerInitCmd(), newLedgerNodeCmd())
	return cmd
}

// ledgerSource opens what the query flags name: --url (a running node) or
// --home (read-only). close releases it.
type ledgerSource struct {
	home, url string
	evidence  []string
}

func (s *ledgerSource) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.home, "home", defaultLedgerHome(), "ledger home (solo store, or a validator home from `ledger init`)")
	cmd.Flags().StringVar(&s.url, "url", "", "query a running node's ledger API instead, e.g. http://127.0.0.1:26658")
	addEvidenceFlag(cmd, &s.evidence)
}

// openLedgerReadOnly opens home's block log read-only. Opening replays
// the blocks since the last snapshot, fraud evidence included, so it
// takes the evidence checker's models; close releases both.
func openLedgerReadOnly(home string, evidence []string) (c *blocklog.Chain, done func(), err error) {
	ck, err := openEvidenceChecker(evidence)
	if err != nil {
		return nil, nil, err
	}
	path := ledgerDBPath(home)
	c, err = blocklog.Open(path, nil, blocklog.Options{Machine: ledger.Machine{Evidence: ck}, ReadOnly: true, LockTimeout: time.Second})
	if err != nil {
		ck.Close()
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("no ledger at %s (set --home, or --url for a running node)", path)
		}
		if strings.Contains(err.Error(), "locked") {
			return nil, nil, fmt.Errorf("%w; query the running node with --url instead", err)
		}
		return nil, nil, err
	}
	return c, func() { c.Close(); ck.Close() }, nil
}

// query opens what the flags name for reading: the running node's API
// (--url) or the home's store, read-only. done releases it.
func (s *ledgerSource) query() (api query.API, done func(), err error) {
	if s.url != "" {
		return &query.Client{URL: s.url}, func() {}, nil
	}
	c, done, err := openLedgerReadOnly(s.home, s.evidence)
	if err != nil {
		return nil, nil, err
	}
	return query.Local{Src: c}, done, nil
}

// ledgerQueryCmd is a command that reads the ledger and shows v as JSON
// (--json) or for people.
func ledgerQueryCmd(use, short string, args cobra.PositionalArgs, read func(cmd *cobra.Command, args []string, api query.API) (v any, show func(io.Writer), err error)) *cobra.Command {
	var src ledgerSource
	var asJSON bool
	cmd := &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, done, err := src.query()
			if err != nil {
				return err
			}
			defer done()
			v, show, err := read(cmd, args, api)
			if err != nil {
				return err
			}
			if asJSON {
				return writeIndentedJSON(cmd.OutOrStdout(), v)
			}
			show(cmd.OutOrStdout())
			return nil
		},
	}
	src.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newLedgerBalanceCmd() *cobra.Command {
	return ledgerQueryCmd("balance KEY", "Show an account: balance, stake, unbonding, nonce, node record", cobra.ExactArgs(1),
		func(cmd *cobra.Command, args []string, api query.API) (any, func(io.Writer), error) {
			k, err := ledger.ParsePubKey(args[0])
			if err != nil {
				return nil, nil, err
			}
			v, err := api.Account(cmd.Context(), k)
			return v, func(w io.Writer) { printAccount(w, v) }, err
		})
}

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printAccount(w io.Writer, v query.AccountView) {
	fmt.Fprintf(w, "account    %s\n", v.Key)
	fmt.Fprintf(w, "balance    %d\n", v.Balance)
	fmt.Fprintf(w, "stake      %d\n", v.Stake)
	for _, u := range v.Unbonding {
		fmt.Fprintf(w, "unbonding  %d (returns at height %d)\n", u.Amount, u.Release)
	}
	fmt.Fprintf(w, "nonce      %d\n", v.Nonce)
	if n := v.Node; n != nil {
		status := "active"
		if n.Excluded {
			status = fmt.Sprintf("EXCLUDED for fraud at height %d", n.ExcludedAt)
		}
		fmt.Fprintf(w, "node       %s; capacity %d; %d work units over %d certificates (%d failed audits); earned %d\n",
			status, n.Capacity, n.WorkUnits, n.Certificates, n.FailedAudits, n.Earned)
	}
}

func newLedgerHistoryCmd() *cobra.Command {
	var limit int
	var before uint64
	cmd := ledgerQueryCmd("history KEY", "List the transactions that concern an account, newest first", cobra.ExactArgs(1),
		func(cmd *cobra.Command, args []string, api query.API) (any, func(io.Writer), error) {
			k, err := ledger.ParsePubKey(args[0])
			if err != nil {
				return nil, nil, err
			}
			hist, err := api.History(cmd.Context(), k, before, limit)
			return hist, func(w io.Writer) { printHistory(w, hist) }, err
		})
	cmd.Flags().IntVarP(&limit, "limit", "n", 20, "entries to show (whole blocks)")
	cmd.Flags().Uint64Var(&before, "before", 0, "only blocks below this height (for paging)")
	return cmd
}

func printHistory(w io.Writer, hist []ledger.HistoryEntry) {
	if len(hist) == 0 {
		fmt.Fprintln(w, "no history")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HEIGHT\tTIME\tKIND\tRESULT\tDETAILS")
	for _, e := range hist {
		result := e.Result.Code.String()
		if e.Result.Code != ledger.CodeOK && e.Result.Log != "" {
			result += ": " + e.Result.Log
		}
		var details []string
		for _, ev := range e.Result.Events {
			var kv []string
			for _, a := range ev.Attrs {
				v := a.Value
				if len(v) == 64 {
					v = v[:8] + "…"
				}
				kv = append(kv, a.Key+"="+v)
			}
			details = append(details, ev.Type+"("+strings.Join(kv, " ")+")")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Height, time.Unix(0, e.Time).UTC().Format(time.DateTime),
			e.Kind, result, strings.Join(details, " "))
	}
	tw.Flush()
}

func newLedgerVerifyCmd() *cobra.Command {
	var (
		home     string
		evidence []string
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Replay the block log from genesis, checking every signature, result and app hash",
		Long: `Replay the whole block log from genesis through the state machine: every
transaction is decoded and re-applied (so every sender's and auditor's
signature is checked again), and every stored result and app hash must be
reproduced (fraud evidence is judged again with the weights of
--evidence-models). The store is opened read-only; stop the node that owns
it first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, closeLedger, err := openLedgerReadOnly(home, evidence)
			if err != nil {
				return err
			}
			defer closeLedger()
			start := time.Now()
			rep, err := c.Verify(nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ledger %s verified: chain %s, %d blocks, %d transactions, height %d, app hash %s (%.2fs)\n",
				c.Path(), rep.ChainID, rep.Blocks, rep.Txs, rep.Height, rep.AppHash, time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", defaultLedgerHome(), "ledger home (solo store, or a validator home)")
	addEvidenceFlag(cmd, &evidence)
	return cmd
}

func newLedgerInitCmd() *cobra.Command {
	var (
		o        abci.TestnetOptions
		chainID  string
		genesis  string
		prod     bool
		allocs   []string
		timeouts [2]time.Duration
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write the homes of a local CometBFT testnet sharing one ledger",
		Long: `Write one home per validator (DIR/node0, DIR/node1, …): CometBFT keys and
genesis (with the ledger genesis as its app_state) and the node settings,
every port on --host (127.0.0.1 by default), each validator a persistent
peer of the others. Start each with ` + "`tessera ledger node --home DIR/nodeI`" + `.

More than two thirds of the validators must run for blocks to commit: with 4,
one may be down.`,
		Example: `  tessera ledger init --validators 4 --home ./testnet
  tessera ledger init --validators 1 --home ./solo-bft --alloc KEY=1000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var g ledger.Genesis
			if genesis != "" {
				b, err := os.ReadFile(genesis)
				if err != nil {
					return err
				}
				if g, err = ledger.ParseGenesis(b); err != nil {
					return err
				}
			} else {
				g = ledger.Genesis{ChainID: chainID, Params: ledger.DefaultParams(!prod)}
			}
			for _, a := range allocs {
				key, amount, ok := strings.Cut(a, "=")
				k, err := ledger.ParsePubKey(key)
				if err != nil || !ok {
					return fmt.Errorf("--alloc %q: want KEY=AMOUNT", a)
				}
				n, err := strconv.ParseUint(amount, 10, 64)
				if err != nil {
					return fmt.Errorf("--alloc %q: %v", a, err)
				}
				g.Accounts = append(g.Accounts, ledger.GenesisAccount{Key: k, Balance: n})
			}
			o.Genesis = &g
			o.TimeoutPropose, o.TimeoutCommit = timeouts[0], timeouts[1]
			homes, err := abci.InitTestnet(o)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "chain %s: %d validator homes\n", g.ChainID, len(homes))
			for _, h := range homes {
				nc, _ := abci.ReadNodeConfig(h)
				fmt.Fprintf(w, "  tessera ledger node --home %s    # ledger API http://%s\n", h, nc.HTTPListen)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Validators, "validators", 1, "number of validators")
	f.StringVar(&o.Dir, "home", "tessera-testnet", "directory to write the validator homes into")
	f.StringVar(&chainID, "chain-id", abci.LocalChainID, "chain id")
	f.StringVar(&genesis, "genesis", "", "ledger genesis JSON (default: the default parameters, no accounts)")
	f.BoolVar(&prod, "no-dev", false, "turn the faucet off (dev mode is on by default)")
	f.StringArrayVar(&allocs, "alloc", nil, "fund an account at genesis: KEY=AMOUNT (repeatable)")
	f.StringVar(&o.Host, "host", "127.0.0.1", "address every port binds to and peers dial")
	f.IntVar(&o.BasePort, "base-port", 26656, "validator i uses ports base+10i (P2P), +1 (CometBFT RPC), +2 (ledger API); 0 picks free ports")
	f.DurationVar(&timeouts[0], "timeout-propose", time.Second, "consensus propose timeout")
	f.DurationVar(&timeouts[1], "timeout-commit", 500*time.Millisecond, "pause after each commit")
	return cmd
}

func newLedgerNodeCmd() *cobra.Command {
	var (
		home, httpAddr, logLevel string
		evidence                 []string
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a CometBFT validator of a shared ledger, with the ledger API",
		Long: `Run the validator whose home ` + "`tessera ledger init`" + ` wrote, and serve the
ledger API (balances, history, certificates, app hash; transaction
submission) over HTTP. Fraud evidence is judged with the weights of
--evidence-models (every validator must be able to judge what the chain
accepts: give all of them the same models). Stops on Ctrl-C.`,
		Example: `  tessera ledger node --home tessera-testnet/node0`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runLedgerNode(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), home, httpAddr, logLevel, evidence)
		},
	}
	addEvidenceFlag(cmd, &evidence)
	cmd.Flags().StringVar(&home, "home", "tessera-testnet/node0", "validator home written by `tessera ledger init`")
	cmd.Flags().StringVar(&httpAddr, "http", "", "ledger API address (default: the home's setting)")
	cmd.Flags().StringVar(&logLevel, "log-level", "error", "CometBFT log level: error, info, debug or none")
	return cmd
}

func cometLogger(w io.Writer, level string) (cmtlog.Logger, error) {
	if level == "none" {
		return cmtlog.NewNopLogger(), nil
	}
	opt, err := cmtlog.AllowLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return cmtlog.NewFilter(cmtlog.NewTMLogger(cmtlog.NewSyncWriter(w)), opt), nil
}

func runLedgerNode(ctx context.Context, stdout, stderr io.Writer, home, httpAddr, logLevel string, evidence []string) error {
	logger, err := cometLogger(stderr, logLevel)
	if err != nil {
		return err
	}
	ck, err := openEvidenceChecker(evidence)
	if err != nil {
		return err
	}
	defer ck.Close()
	// Read every model now: a validator that cannot judge would stop at
	// the first evidence transaction.
	if err := ck.Load(); err != nil {
		return fmt.Errorf("--evidence-models: %w", err)
	}
	n, err := abci.StartNode(home, abci.NodeOptions{Evidence: ck, Logger: logger})
	if err != nil {
		return err
	}
	defer n.Stop()
	if httpAddr == "" {
		httpAddr = n.Config.HTTPListen
	}
	var srv *http.Server
	apiURL := "off"
	if httpAddr != "" {
		l, err := net.Listen("tcp", httpAddr)
		if err != nil {
			return fmt.Errorf("ledger API: %w", err)
		}
		srv = &http.Server{Handler: query.Handler(n.Chain(), n), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(l)
		apiURL = "http://" + l.Addr().String() + "/v1/ledger/info"
	}
	info := n.Chain().Info()
	fmt.Fprintf(stdout, "tessera ledger validator %s: chain %s at height %d, app hash %s\n", n.Config.Moniker, info.ChainID, info.Height, info.AppHash)
	fmt.Fprintf(stdout, "ledger API %s\n", apiURL)
	for _, m := range ck.Models() {
		fmt.Fprintf(stdout, "judges fraud evidence about %s\n", m)
	}
	// A halted node (a full disk, a block it cannot apply) commits
	// nothing more: stop, so that the operator sees why.
	select {
	case <-ctx.Done():
	case <-n.Halted():
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	info = n.Chain().Info()
	if err := n.Err(); err != nil {
		return fmt.Errorf("validator halted at height %d (fix the cause and restart it: it replays what it lacks): %w", info.Height, err)
	}
	fmt.Fprintf(stderr, "validator stopping at height %d, app hash %s\n", info.Height, info.AppHash)
	return nil
}
