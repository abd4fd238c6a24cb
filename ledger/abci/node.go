package abci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/mempool"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/rpc/client/local"
	rpccore "github.com/cometbft/cometbft/rpc/core"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/blocklog"
)

// NodeConfigFile is where a validator's settings live, under its home.
const NodeConfigFile = "config/tessera-node.json"

// LedgerFile is where the App's block log lives, under the home.
const LedgerFile = "data/ledger.db"

// NodeConfig is a validator's settings, written by InitTestnet and read
// by StartNode. (CometBFT's other files in the home — genesis.json,
// node_key.json, priv_validator_key.json, data/ — are CometBFT's own.)
type NodeConfig struct {
	Moniker         string   `json:"moniker"`
	P2PListen       string   `json:"p2p_listen"`  // "tcp://127.0.0.1:26656"
	RPCListen       string   `json:"rpc_listen"`  // CometBFT RPC; "" for none
	HTTPListen      string   `json:"http_listen"` // ledger query API ("127.0.0.1:26658"); "" for none
	PersistentPeers []string `json:"persistent_peers"`
	TimeoutPropose  Duration `json:"timeout_propose"`
	TimeoutCommit   Duration `json:"timeout_commit"`
	// CreateEmptyBlocks keeps blocks coming without transactions (every
	// EmptyBlocksInterval, 0: as fast as consensus goes), so that
	// unbonding delays (in blocks) pass in idle times too.
	CreateEmptyBlocks   bool     `json:"create_empty_blocks"`
	EmptyBlocksInterval Duration `json:"create_empty_blocks_interval"`
	DBBackend           string   `json:"db_backend"` // CometBFT's stores: "goleveldb" or "pebbledb"
	// PeerGossipSleep is the pause of the consensus gossip routines
	// (CometBFT's default, 100ms, suits wide-area networks; a local
	// testnet commits several times faster with 10ms).
	PeerGossipSleep Duration `json:"peer_gossip_sleep,omitempty"`
}

// Duration is a time.Duration written as "1.5s" in JSON.
type Duration time.Duration

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses a duration such as "500ms".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// ReadNodeConfig reads home's NodeConfigFile.
func ReadNodeConfig(home string) (NodeConfig, error) {
	var nc NodeConfig
	b, err := os.ReadFile(filepath.Join(home, NodeConfigFile))
	if err != nil {
		return nc, fmt.Errorf("abci: %w (create the home with `tessera ledger init`)", err)
	}
	if err := json.Unmarshal(b, &nc); err != nil {
		return nc, fmt.Errorf("abci: %s: %w", filepath.Join(home, NodeConfigFile), err)
	}
	return nc, nil
}

// WriteNodeConfig writes home's NodeConfigFile.
func WriteNodeConfig(home string, nc NodeConfig) error {
	b, err := json.MarshalIndent(nc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(home, NodeConfigFile), append(b, '\n'), 0o644)
}

// cometConfig is CometBFT's configuration for a home and its NodeConfig.
func cometConfig(home string, nc NodeConfig) (*cmtcfg.Config, error) {
	cfg := cmtcfg.DefaultConfig()
	cfg.SetRoot(home)
	cfg.Moniker = nc.Moniker
	cfg.P2P.ListenAddress = nc.P2PListen
	cfg.P2P.PersistentPeers = strings.Join(nc.PersistentPeers, ",")
	cfg.P2P.AddrBookStrict = false // peers are on 127.0.0.1 / private addresses
	cfg.P2P.AllowDuplicateIP = true
	cfg.P2P.PexReactor = false // the peers are configured
	cfg.RPC.ListenAddress = nc.RPCListen
	if nc.TimeoutPropose > 0 {
		cfg.Consensus.TimeoutPropose = time.Duration(nc.TimeoutPropose)
	}
	cfg.Consensus.TimeoutCommit = time.Duration(nc.TimeoutCommit)
	if nc.PeerGossipSleep > 0 {
		cfg.Consensus.PeerGossipSleepDuration = time.Duration(nc.PeerGossipSleep)
	}
	cfg.Consensus.CreateEmptyBlocks = nc.CreateEmptyBlocks
	cfg.Consensus.CreateEmptyBlocksInterval = time.Duration(nc.EmptyBlocksInterval)
	if nc.DBBackend != "" {
		cfg.DBBackend = nc.DBBackend
	}
	cfg.Instrumentation.Prometheus = false
	// The ledger indexes transactions itself (blocklog); CometBFT's
	// indexer would be a second copy (and its store is not closed on
	// Stop, which prevents a restart in the same process).
	cfg.TxIndex.Indexer = "null"
	if err := cfg.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("abci: node config: %w", err)
	}
	return cfg, nil
}

// NodeOptions configure StartNode.
type NodeOptions struct {
	// Evidence checks fraud evidence; every validator must use the same.
	Evidence ledger.EvidenceChecker
	// Logger receives CometBFT's logs (nil: none).
	Logger cmtlog.Logger
	// SubmitTimeout bounds Submit when its context has no deadline
	// (default 30s).
	SubmitTimeout time.Duration
}

// Node is a running CometBFT validator with the ledger App.
type Node struct {
	App    *App
	Config NodeConfig
	Home   string

	cmt     *cmtnode.Node
	client  *local.Local
	timeout time.Duration
	halt    *halt
}

// halt holds the first reason a node stopped committing blocks.
type halt struct {
	once sync.Once
	done chan struct{}
	err  error
}

func newHalt() *halt { return &halt{done: make(chan struct{})} }

func (h *halt) set(err error) {
	h.once.Do(func() {
		h.err = err
		close(h.done)
	})
}

// consensusFailure is what CometBFT v1 logs when its consensus routine
// recovers from a panic. That is how it reports a failed write to its block
// store, state store or WAL (a full disk), a failed save of the signing
// state, and an error of the App in FinalizeBlock or Commit; consensus
// then stops for good while the rest of the node (RPC, mempool, p2p) runs
// on, so without this the node would only seem to hang.
const consensusFailure = "CONSENSUS FAILURE!!!"

// haltLogger passes CometBFT's logs on and records a consensus failure.
type haltLogger struct {
	cmtlog.Logger
	h *halt
}

func (l haltLogger) Error(msg string, keyvals ...any) {
	if msg == consensusFailure {
		cause := any("unknown cause")
		for i := 0; i+1 < len(keyvals); i += 2 {
			if keyvals[i] == "err" {
				cause = keyvals[i+1]
			}
		}
		// On one line: the cause may hold a multi-line dump of a
		// consensus message.
		l.h.set(fmt.Errorf("abci: consensus halted: %s", strings.Join(strings.Fields(fmt.Sprint(cause)), " ")))
	}
	l.Logger.Error(msg, keyvals...)
}

func (l haltLogger) With(keyvals ...any) cmtlog.Logger {
	return haltLogger{l.Logger.With(keyvals...), l.h}
}

// StartNode starts the validator whose home InitTestnet wrote (or which
// was laid out alike).
func StartNode(home string, o NodeOptions) (*Node, error) {
	nc, err := ReadNodeConfig(home)
	if err != nil {
		return nil, err
	}
	cfg, err := cometConfig(home, nc)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{cfg.GenesisFile(), cfg.NodeKeyFile(), cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile()} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("abci: %w (create the home with `tessera ledger init`)", err)
		}
	}
	nodeKey, err := p2p.LoadNodeKey(cfg.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("abci: %w", err)
	}
	pv := privval.LoadFilePV(cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile())
	app, err := NewApp(filepath.Join(home, LedgerFile), ledger.Machine{Evidence: o.Evidence})
	if err != nil {
		return nil, err
	}
	h := newHalt()
	app.halt = h
	var logger cmtlog.Logger = haltLogger{cmtlog.NewNopLogger(), h}
	if o.Logger != nil {
		logger = haltLogger{o.Logger, h}
	}
	n, err := cmtnode.NewNode(context.Background(), cfg, pv, nodeKey,
		proxy.NewLocalClientCreator(app),
		cmtnode.DefaultGenesisDocProviderFunc(cfg),
		cmtcfg.DefaultDBProvider,
		cmtnode.DefaultMetricsProvider(cfg.Instrumentation),
		logger)
	if err != nil {
		app.Close()
		return nil, fmt.Errorf("abci: %w", err)
	}
	if err := n.Start(); err != nil {
		app.Close()
		return nil, fmt.Errorf("abci: start node: %w", err)
	}
	if app.Chain() == nil {
		_ = n.Stop()
		n.Wait()
		app.Close()
		return nil, errors.New("abci: the node started without initialising the ledger")
	}
	timeout := o.SubmitTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Node{App: app, Config: nc, Home: home, cmt: n, client: local.New(n), timeout: timeout, halt: h}, nil
}

// Halted is closed when the node has stopped committing blocks for good: a
// write of CometBFT or of the App failed (a full disk), or the App could
// not apply a block. Err says why. The process should stop (Stop) and be
// restarted once the cause is fixed: CometBFT then replays what the App
// lacks.
func (n *Node) Halted() <-chan struct{} { return n.halt.done }

// Err is why the node halted, nil while it runs.
func (n *Node) Err() error {
	select {
	case <-n.halt.done:
		return n.halt.err
	default:
		return nil
	}
}

// Chain is the node's view of the ledger (for queries; see package
// ledger/query).
func (n *Node) Chain() *blocklog.Chain { return n.App.Chain() }

// Submit broadcasts an encoded transaction and returns its receipt once a
// block holding it is committed on this node. A transaction refused by
// the mempool, or included and rejected, returns a *ledger.RejectError.
func (n *Node) Submit(ctx context.Context, tx []byte) (ledger.Receipt, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.timeout)
		defer cancel()
	}
	h := ledger.TxHash(tx)
	done, cancel := n.App.wait(h)
	defer cancel()
	if r, err := n.Chain().Tx(h); err == nil {
		return receipt(r)
	}
	if err := n.Err(); err != nil {
		return ledger.Receipt{}, fmt.Errorf("abci: transaction %s not submitted: the node halted: %w", h, err)
	}
	res, err := n.client.BroadcastTxSync(ctx, tx)
	for errors.Is(err, rpccore.ErrEndpointClosedCatchingUp) {
		// A node that just started syncs blocks before it takes
		// transactions: wait for it.
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ledger.Receipt{}, fmt.Errorf("abci: node still catching up: %w", ctx.Err())
		}
		res, err = n.client.BroadcastTxSync(ctx, tx)
	}
	var invalid mempool.ErrInvalidTx
	switch {
	case errors.As(err, &invalid):
		return ledger.Receipt{}, &ledger.RejectError{Code: ledger.Code(invalid.Code), Reason: invalid.Log}
	case errors.Is(err, mempool.ErrTxInCache):
		// Already in the mempool (or seen): wait for it like the first time.
	case err != nil:
		return ledger.Receipt{}, fmt.Errorf("abci: broadcast: %w", err)
	case res.Code != 0:
		return ledger.Receipt{}, &ledger.RejectError{Code: ledger.Code(res.Code), Reason: res.Log}
	}
	select {
	case r := <-done:
		return receipt(r)
	case <-n.halt.done:
		select {
		case r := <-done: // committed just before the halt
			return receipt(r)
		default:
		}
		return ledger.Receipt{}, fmt.Errorf("abci: transaction %s not committed: the node halted (a block holding it may still be committed when the node restarts): %w", h, n.halt.err)
	case <-ctx.Done():
		return ledger.Receipt{}, fmt.Errorf("abci: transaction %s not committed: %w", h, ctx.Err())
	}
}

func receipt(r ledger.Receipt) (ledger.Receipt, error) {
	if r.Result.Code != ledger.CodeOK {
		return r, &ledger.RejectError{Code: r.Result.Code, Reason: r.Result.Log}
	}
	return r, nil
}

// Stop stops the validator and closes its stores.
func (n *Node) Stop() error {
	err := n.cmt.Stop()
	n.cmt.Wait()
	if cerr := n.App.Close(); err == nil {
		err = cerr
	}
	return err
}

// Height is the height of the last block this node committed.
func (n *Node) Height() uint64 { return n.Chain().Height() }
