package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/abci"
	"github.com/tessera-net/tessera/ledger/query"
)

// The commands that send transactions: key, faucet, transfer, register,
// and info. They reach the ledger through --url (a running node, gateway
// or validator) or own an embedded store through --home.

// openConn opens the ledger the flags name for sending transactions. A
// validator's home is refused: its ledger takes transactions through
// consensus, so through its node's API.
func (s *ledgerSource) openConn() (*ledgerConn, error) {
	if s.url != "" {
		return remoteLedger(s.url)
	}
	if _, err := os.Stat(filepath.Join(s.home, abci.NodeConfigFile)); err == nil {
		return nil, fmt.Errorf("%s is a CometBFT validator's home: send transactions through its API with --url", s.home)
	}
	if err := os.MkdirAll(s.home, 0o700); err != nil {
		return nil, err
	}
	l, err := openSoloLedger(filepath.Join(s.home, "ledger.db"), s.evidence)
	if err != nil {
		return nil, fmt.Errorf("%w (if a node or gateway owns this ledger, send through it with --url)", err)
	}
	return localLedger(l), nil
}

func newLedgerKeyCmd() *cobra.Command {
	var create bool
	cmd := &cobra.Command{
		Use:   "key FILE",
		Short: "Print the ledger account of a key file (or a node's data directory); --new creates the key",
		Long: `An account on the ledger is an Ed25519 key. A key file holds the private key
(libp2p's format, mode 0600): --new writes a new one. A node's account is its
identity key, so a node's data directory works as a key file too.`,
		Example: `  tessera ledger key --new alice.key
  tessera ledger key ~/.config/tessera/node      # the node's account`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var key ed25519.PrivateKey
			var err error
			if create {
				key, err = newLedgerKey(args[0])
			} else {
				key, err = readLedgerKey(args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), ledger.KeyOf(key))
			return nil
		},
	}
	cmd.Flags().BoolVar(&create, "new", false, "create a new key at FILE (never replaces one)")
	return cmd
}

// ledgerTxCmd is a command that sends one transaction signed by --key.
func ledgerTxCmd(use, short, long string, build func(cmd *cobra.Command, conn *ledgerConn, key ed25519.PrivateKey) error) *cobra.Command {
	var src ledgerSource
	var keyFile string
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return errors.New("--key: the key file of the account that signs (tessera ledger key --new FILE)")
			}
			key, err := readLedgerKey(keyFile)
			if err != nil {
				return err
			}
			conn, err := src.openConn()
			if err != nil {
				return err
			}
			defer conn.Close()
			return build(cmd, conn, key)
		},
	}
	src.flags(cmd)
	cmd.Flags().StringVar(&keyFile, "key", "", "key file of the account that signs (or a node's data directory)")
	return cmd
}

// printBalance prints an account's balance after a transaction.
func printBalance(cmd *cobra.Command, conn *ledgerConn, k ledger.PubKey, height uint64) error {
	v, err := conn.api.Account(cmd.Context(), k)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "committed at height %d; account %s: balance %d, stake %d\n", height, k, v.Balance, v.Stake)
	return nil
}

func newLedgerFaucetCmd() *cobra.Command {
	var amount uint64
	cmd := ledgerTxCmd("faucet", "Mint credits to an account (dev-mode ledgers only)", "", func(cmd *cobra.Command, conn *ledgerConn, key ed25519.PrivateKey) error {
		rc, err := conn.account(key).send(cmd.Context(), &ledger.Faucet{Amount: amount})
		if err != nil {
			return err
		}
		return printBalance(cmd, conn, ledger.KeyOf(key), rc.Height)
	})
	cmd.Flags().Uint64Var(&amount, "amount", 100_000, "credits to mint (at most the ledger's faucet_max)")
	return cmd
}

func newLedgerTransferCmd() *cobra.Command {
	var amount uint64
	var to string
	cmd := ledgerTxCmd("transfer", "Send credits to another account", "", func(cmd *cobra.Command, conn *ledgerConn, key ed25519.PrivateKey) error {
		k, err := ledger.ParsePubKey(to)
		if err != nil {
			return fmt.Errorf("--to: %w", err)
		}
		rc, err := conn.account(key).send(cmd.Context(), &ledger.Transfer{To: k, Amount: amount})
		if err != nil {
			return err
		}
		return printBalance(cmd, conn, ledger.KeyOf(key), rc.Height)
	})
	cmd.Flags().StringVar(&to, "to", "", "the receiving account (64 hex digits; tessera ledger key FILE prints one)")
	cmd.Flags().Uint64Var(&amount, "amount", 0, "credits to send")
	return cmd
}

func newLedgerRegisterCmd() *cobra.Command {
	var stake, capacity uint64
	cmd := ledgerTxCmd("register", "Stake and register a node's account, so certificates pay it",
		`Stake --stake credits from the account and register it as a serving node
(what tessera node --stake does at start). On a dev-mode ledger the faucet
grants what the stake lacks.`,
		func(cmd *cobra.Command, conn *ledgerConn, key ed25519.PrivateKey) error {
			if stake == 0 {
				return errors.New("--stake: the stake to hold (at least the ledger's min_node_stake)")
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			if err := registerNode(cmd.Context(), conn, key, stake, capacity, log); err != nil {
				return err
			}
			return printBalance(cmd, conn, ledger.KeyOf(key), 0)
		})
	cmd.Flags().Uint64Var(&stake, "stake", 0, "stake to hold")
	cmd.Flags().Uint64Var(&capacity, "capacity", 1, "announced capacity (e.g. layers served)")
	cmd.Example = `  tessera ledger register --key ~/.config/tessera/node --stake 1000 --url http://127.0.0.1:7070`
	return cmd
}

func newLedgerInfoCmd() *cobra.Command {
	return ledgerQueryCmd("info", "Show the chain: id, height, app hash, supply and prices", cobra.NoArgs,
		func(cmd *cobra.Command, _ []string, api query.API) (any, func(io.Writer), error) {
			info, err := api.Info(cmd.Context())
			return info, func(w io.Writer) { printInfo(w, info) }, err
		})
}

func printInfo(w io.Writer, info ledger.Info) {
	p := info.Params
	fmt.Fprintf(w, "chain      %s (dev mode: %v)\n", info.ChainID, p.DevMode)
	fmt.Fprintf(w, "height     %d\n", info.Height)
	fmt.Fprintf(w, "app hash   %s\n", info.AppHash)
	fmt.Fprintf(w, "supply     %d (genesis %d, minted %d, burned %d)\n", info.Supply.Total(), info.Supply.Genesis, info.Supply.Minted, info.Supply.Burned)
	fmt.Fprintf(w, "price      %d credits per layer and token position; auditor fee %d bps\n", p.PricePerTokenLayer, p.AuditorFeeBps)
	fmt.Fprintf(w, "nodes      stake at least %d; unbonding %d blocks; fraud slashes %d bps\n", p.MinNodeStake, p.UnbondingBlocks, p.SlashBps)
}
