// Package ledgertest provides keys, a genesis, a fake evidence checker and
// a random transaction workload for tests of the ledger and its stores.
package ledgertest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/tessera-net/tessera/ledger"
)

// ChainID is the chain id of Genesis.
const ChainID = "tessera-test"

// Key returns a deterministic key named name.
func Key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("tessera-ledger-test/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// Pub returns the public key of Key(name).
func Pub(name string) ledger.PubKey { return ledger.KeyOf(Key(name)) }

// Names are the accounts of Genesis, then some that start empty.
var Names = []string{"alice", "bob", "n1", "n2", "n3", "aud", "carol", "dave"}

// Genesis is a dev-mode genesis funding the first accounts of Names, with
// n1..n3 staked enough to register as nodes.
func Genesis() ledger.Genesis {
	p := ledger.DefaultParams(true)
	p.UnbondingBlocks = 3
	p.FaucetMax = 5000
	return ledger.Genesis{
		ChainID: ChainID,
		Params:  p,
		Accounts: []ledger.GenesisAccount{
			{Key: Pub("alice"), Balance: 1_000_000},
			{Key: Pub("bob"), Balance: 10_000},
			{Key: Pub("n1"), Balance: 100, Stake: 4000},
			{Key: Pub("n2"), Balance: 100, Stake: 2000},
			{Key: Pub("n3"), Balance: 100, Stake: 1500},
		},
	}
}

// Checker is a fake evidence checker: evidence is valid against a node if
// it starts with "fraud:" and the node's hex key; evidence starting with
// "unjudgeable" cannot be judged (ledger.ErrCannotJudge).
var Checker = ledger.EvidenceFunc(func(node ledger.PubKey, ev []byte) error {
	switch {
	case strings.HasPrefix(string(ev), "fraud:"+node.String()):
		return nil
	case strings.HasPrefix(string(ev), "unjudgeable"):
		return fmt.Errorf("%w: no weights for this model", ledger.ErrCannotJudge)
	}
	return errors.New("evidence does not show fraud by this node")
})

// Machine is the state machine with the fake checker.
var Machine = ledger.Machine{Evidence: Checker}

// Sign builds and signs a transaction.
func Sign(chainID, name string, nonce uint64, body ledger.Body) []byte {
	tx := &ledger.Tx{ChainID: chainID, Nonce: nonce, Body: body}
	tx.Sign(Key(name))
	return tx.Encode()
}

// Workload generates a random mix of transactions of every kind, mostly
// valid, some invalid (overdrafts, bad signatures, replays, unknown nodes,
// garbage bytes), deterministic for a seed.
type Workload struct {
	ChainID string
	rng     *rand.Rand
	certs   int
}

// NewWorkload returns a workload for Genesis's chain.
func NewWorkload(seed uint64) *Workload {
	return &Workload{ChainID: ChainID, rng: rand.New(rand.NewPCG(seed, 0x7e55e7a))}
}

// View is the part of a ledger state a workload reads (*ledger.State has
// it).
type View interface {
	Account(ledger.PubKey) ledger.Account
	Node(ledger.PubKey) (ledger.Node, bool)
}

// Next returns an encoded transaction meant for the state v (it reads
// nonces, and which nodes can be paid).
func (w *Workload) Next(v View) []byte {
	r := w.rng
	name := Names[r.IntN(len(Names))]
	other := Names[r.IntN(len(Names))]
	n := v.Account(Pub(name)).Nonce
	amount := uint64(r.IntN(3000)) + 1
	var body ledger.Body
	switch k := r.IntN(100); {
	case k < 30:
		body = &ledger.Transfer{To: Pub(other), Amount: amount}
	case k < 38:
		body = &ledger.Stake{Amount: amount}
	case k < 46:
		body = &ledger.Unstake{Amount: amount / 4}
	case k < 52:
		body = &ledger.RegisterNode{Capacity: uint64(r.IntN(32)) + 1}
	case k < 70:
		w.certs++
		c := &ledger.SubmitCertificate{
			ID:      sha256.Sum256(fmt.Appendf(nil, "cert-%d-%d", w.certs, r.Uint64())),
			Client:  Pub(name),
			Auditor: Pub("aud"),
			Tokens:  uint64(r.IntN(64)) + 1,
			Passed:  r.IntN(5) != 0,
		}
		for _, node := range []string{"n1", "n2", "n3", "carol"} {
			nd, ok := v.Node(Pub(node))
			if (ok && !nd.Excluded && r.IntN(3) != 0) || r.IntN(20) == 0 {
				c.Work = append(c.Work, ledger.Work{Node: Pub(node), Layers: uint32(r.IntN(8)) + 1, Positions: uint64(r.IntN(int(c.Tokens))) + 1})
			}
		}
		c.SignAuditor(w.ChainID, Key("aud"))
		body = c
	case k < 74:
		node := []string{"n1", "n2", "n3"}[r.IntN(3)]
		ev := fmt.Sprintf("fraud:%s:%d", Pub(node), r.IntN(1<<20))
		if r.IntN(8) != 0 {
			ev = "no proof at all"
		}
		body = &ledger.SubmitEvidence{Node: Pub(node), Evidence: []byte(ev)}
	case k < 86:
		body = &ledger.Faucet{Amount: amount}
	case k < 90: // replay or skipped nonce
		body = &ledger.Transfer{To: Pub(other), Amount: 1}
		if n > 0 && r.IntN(2) == 0 {
			n--
		} else {
			n++
		}
	case k < 94: // bad signature
		raw := Sign(w.ChainID, name, n, &ledger.Transfer{To: Pub(other), Amount: 1})
		raw[len(raw)-1] ^= 0x40
		return raw
	case k < 97: // wrong chain
		return Sign("other-chain", name, n, &ledger.Stake{Amount: 1})
	default: // garbage
		b := make([]byte, r.IntN(100))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	return Sign(w.ChainID, name, n, body)
}
