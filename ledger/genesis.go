package ledger

import (
	"encoding/json"
	"fmt"
)

// Params are the economic rules of a chain, fixed at genesis and part of
// the state (so of the app hash).
type Params struct {
	// DevMode enables the faucet. Never on a shared ledger.
	DevMode bool `json:"dev_mode"`
	// FaucetMax is the largest grant one faucet transaction may mint.
	FaucetMax uint64 `json:"faucet_max"`
	// PricePerTokenLayer is what a client pays per work unit (one layer
	// run over one token position).
	PricePerTokenLayer uint64 `json:"price_per_token_layer"`
	// AuditorFeeBps is the auditor's fee, in basis points of the charge.
	AuditorFeeBps uint32 `json:"auditor_fee_bps"`
	// UnbondingBlocks is how many blocks unstaked credits stay slashable
	// before they return to the balance (at least 1).
	UnbondingBlocks uint64 `json:"unbonding_blocks"`
	// MinNodeStake is the stake an account needs to register a node.
	MinNodeStake uint64 `json:"min_node_stake"`
	// SlashBps is the part of a node's stake (bonded and unbonding) that
	// valid fraud evidence takes, in basis points.
	SlashBps uint32 `json:"slash_bps"`
	// ReporterRewardBps is the reporter's part of what is slashed, in
	// basis points; the rest is burned.
	ReporterRewardBps uint32 `json:"reporter_reward_bps"`
}

// DefaultParams are the parameters of a new chain; dev selects DevMode.
func DefaultParams(dev bool) Params {
	p := Params{
		DevMode:            dev,
		PricePerTokenLayer: 1,
		AuditorFeeBps:      500, // 5%
		UnbondingBlocks:    100,
		MinNodeStake:       1000,
		SlashBps:           5000, // half the stake
		ReporterRewardBps:  2000, // a fifth of it to the reporter
	}
	if dev {
		p.FaucetMax = 1_000_000
		p.UnbondingBlocks = 10
	}
	return p
}

// Validate checks that the parameters are usable.
func (p Params) Validate() error {
	for _, b := range []struct {
		name string
		v    uint32
	}{{"auditor_fee_bps", p.AuditorFeeBps}, {"slash_bps", p.SlashBps}, {"reporter_reward_bps", p.ReporterRewardBps}} {
		if b.v > 10000 {
			return fmt.Errorf("params: %s is %d, above 10000 (100%%)", b.name, b.v)
		}
	}
	if p.UnbondingBlocks == 0 {
		return fmt.Errorf("params: unbonding_blocks must be at least 1")
	}
	if p.FaucetMax != 0 && !p.DevMode {
		return fmt.Errorf("params: faucet_max is set but dev_mode is off")
	}
	return nil
}

// Genesis is the initial state of a chain.
type Genesis struct {
	ChainID  string           `json:"chain_id"`
	Params   Params           `json:"params"`
	Accounts []GenesisAccount `json:"accounts,omitempty"`
}

// GenesisAccount is an account funded at genesis.
type GenesisAccount struct {
	Key     PubKey `json:"key"`
	Balance uint64 `json:"balance"`
	Stake   uint64 `json:"stake,omitempty"`
}

// DevGenesis is a genesis for local development: dev mode (faucet on), no
// accounts.
func DevGenesis(chainID string) Genesis {
	return Genesis{ChainID: chainID, Params: DefaultParams(true)}
}

// MaxChainID is the longest chain id.
const MaxChainID = 64

func validChainID(id string) error {
	if len(id) == 0 || len(id) > MaxChainID {
		return fmt.Errorf("chain id %q: want 1 to %d characters", id, MaxChainID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fmt.Errorf("chain id %q: only printable ASCII without spaces", id)
		}
	}
	return nil
}

// Validate checks the chain id, the parameters and the accounts (no
// duplicates, a supply that fits in 64 bits).
func (g Genesis) Validate() error {
	if err := validChainID(g.ChainID); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	if err := g.Params.Validate(); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	seen := make(map[PubKey]bool, len(g.Accounts))
	var total uint64
	for _, a := range g.Accounts {
		if seen[a.Key] {
			return fmt.Errorf("genesis: account %s listed twice", a.Key)
		}
		seen[a.Key] = true
		var ok1, ok2 bool
		total, ok1 = add(total, a.Balance)
		total, ok2 = add(total, a.Stake)
		if !ok1 || !ok2 {
			return fmt.Errorf("genesis: total supply overflows 64 bits")
		}
	}
	return nil
}

// ParseGenesis decodes and validates a JSON genesis.
func ParseGenesis(b []byte) (Genesis, error) {
	var g Genesis
	if err := json.Unmarshal(b, &g); err != nil {
		return Genesis{}, fmt.Errorf("genesis: %w", err)
	}
	return g, g.Validate()
}

// MarshalGenesis encodes a genesis as indented JSON.
func MarshalGenesis(g Genesis) ([]byte, error) {
	return json.MarshalIndent(g, "", "  ")
}
