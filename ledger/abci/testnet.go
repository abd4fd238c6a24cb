package abci

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"

	"github.com/tessera-net/tessera/ledger"
)

// TestnetOptions describe a local testnet.
type TestnetOptions struct {
	// Validators is the number of validators (at least 1). CometBFT needs
	// more than two thirds of them up: 4 tolerate one stopped, 1 or 2 none.
	Validators int
	// Dir receives one home per validator: Dir/node0, Dir/node1, …
	Dir string
	// Genesis is the ledger genesis; nil: ledger.DevGenesis("tessera-local").
	// Its chain id is CometBFT's too.
	Genesis *ledger.Genesis
	// Host is the address every port binds to and peers dial (default
	// 127.0.0.1).
	Host string
	// BasePort: validator i listens on BasePort+10i (P2P), +1 (CometBFT
	// RPC) and +2 (ledger HTTP API). 0 picks free ports.
	BasePort int
	// TimeoutPropose and TimeoutCommit tune consensus (defaults 1s and
	// 500ms; tests use less).
	TimeoutPropose, TimeoutCommit time.Duration
	// EmptyBlocksInterval is the pause between empty blocks (default 1s).
	EmptyBlocksInterval time.Duration
	// PeerGossipSleep is the consensus gossip pause (default 10ms, for
	// validators on one machine or LAN; CometBFT's own default is 100ms).
	PeerGossipSleep time.Duration
}

// LocalChainID is the default chain id of a testnet.
const LocalChainID = "tessera-local"

// InitTestnet writes the homes of a local testnet: CometBFT keys and
// genesis (with the ledger genesis as app_state) and each validator's
// NodeConfig, peers wired to each other. It returns the homes.
func InitTestnet(o TestnetOptions) ([]string, error) {
	if o.Validators < 1 {
		return nil, errors.New("abci: a testnet needs at least one validator")
	}
	g := o.Genesis
	if g == nil {
		dev := ledger.DevGenesis(LocalChainID)
		g = &dev
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	appState, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.TimeoutPropose == 0 {
		o.TimeoutPropose = time.Second
	}
	if o.TimeoutCommit == 0 {
		o.TimeoutCommit = 500 * time.Millisecond
	}
	if o.EmptyBlocksInterval == 0 {
		o.EmptyBlocksInterval = time.Second
	}
	if o.PeerGossipSleep == 0 {
		o.PeerGossipSleep = 10 * time.Millisecond
	}
	ports, err := testnetPorts(o)
	if err != nil {
		return nil, err
	}

	homes := make([]string, o.Validators)
	vals := make([]types.GenesisValidator, o.Validators)
	peers := make([]string, o.Validators)
	for i := range homes {
		home := filepath.Join(o.Dir, "node"+strconv.Itoa(i))
		homes[i] = home
		if _, err := os.Stat(filepath.Join(home, NodeConfigFile)); err == nil {
			return nil, fmt.Errorf("abci: %s already holds a node; remove it first", home)
		}
		cfg := cmtcfg.DefaultConfig()
		cfg.SetRoot(home)
		for _, d := range []string{filepath.Dir(cfg.GenesisFile()), cfg.DBDir()} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, err
			}
		}
		pv, err := privval.GenFilePV(cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile(), nil)
		if err != nil {
			return nil, err
		}
		pv.Save()
		pub, err := pv.GetPubKey()
		if err != nil {
			return nil, err
		}
		vals[i] = types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 1, Name: "node" + strconv.Itoa(i)}
		nk, err := p2p.LoadOrGenNodeKey(cfg.NodeKeyFile())
		if err != nil {
			return nil, err
		}
		peers[i] = p2p.IDAddressString(nk.ID(), net.JoinHostPort(o.Host, strconv.Itoa(ports[i][0])))
	}
	doc := &types.GenesisDoc{
		ChainID:         g.ChainID,
		GenesisTime:     time.Now().UTC().Truncate(time.Millisecond),
		InitialHeight:   1,
		ConsensusParams: types.DefaultConsensusParams(),
		Validators:      vals,
		AppState:        appState,
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("abci: genesis: %w", err)
	}
	for i, home := range homes {
		cfg := cmtcfg.DefaultConfig()
		cfg.SetRoot(home)
		if err := doc.SaveAs(cfg.GenesisFile()); err != nil {
			return nil, err
		}
		var others []string
		for j, p := range peers {
			if j != i {
				others = append(others, p)
			}
		}
		nc := NodeConfig{
			Moniker:             "node" + strconv.Itoa(i),
			P2PListen:           "tcp://" + net.JoinHostPort(o.Host, strconv.Itoa(ports[i][0])),
			RPCListen:           "tcp://" + net.JoinHostPort(o.Host, strconv.Itoa(ports[i][1])),
			HTTPListen:          net.JoinHostPort(o.Host, strconv.Itoa(ports[i][2])),
			PersistentPeers:     others,
			TimeoutPropose:      Duration(o.TimeoutPropose),
			TimeoutCommit:       Duration(o.TimeoutCommit),
			CreateEmptyBlocks:   true,
			EmptyBlocksInterval: Duration(o.EmptyBlocksInterval),
			DBBackend:           "goleveldb",
			PeerGossipSleep:     Duration(o.PeerGossipSleep),
		}
		if err := WriteNodeConfig(home, nc); err != nil {
			return nil, err
		}
	}
	return homes, nil
}

// testnetPorts returns P2P, RPC and HTTP ports per validator.
func testnetPorts(o TestnetOptions) ([][3]int, error) {
	ports := make([][3]int, o.Validators)
	if o.BasePort != 0 {
		for i := range ports {
			b := o.BasePort + 10*i
			ports[i] = [3]int{b, b + 1, b + 2}
		}
		return ports, nil
	}
	// Free ports: hold every listener until all are chosen, so none repeats.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range ports {
		for j := range ports[i] {
			l, err := net.Listen("tcp", net.JoinHostPort(o.Host, "0"))
			if err != nil {
				return nil, fmt.Errorf("abci: choosing ports: %w", err)
			}
			ls = append(ls, l)
			ports[i][j] = l.Addr().(*net.TCPAddr).Port
		}
	}
	return ports, nil
}
