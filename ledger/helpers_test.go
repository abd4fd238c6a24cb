package ledger_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/ledger"
)

// priv returns a deterministic test key.
func priv(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("tessera-ledger-test/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pub(name string) ledger.PubKey { return ledger.KeyOf(priv(name)) }

const testChain = "tessera-test"

// testParams are small round numbers so expected amounts are easy to read.
func testParams() ledger.Params {
	return ledger.Params{
		DevMode:            true,
		FaucetMax:          1000,
		PricePerTokenLayer: 2,
		AuditorFeeBps:      1000, // 10%
		UnbondingBlocks:    3,
		MinNodeStake:       1000,
		SlashBps:           5000, // 50%
		ReporterRewardBps:  2000, // 20% of the slash
	}
}

func testGenesis() ledger.Genesis {
	return ledger.Genesis{
		ChainID: testChain,
		Params:  testParams(),
		Accounts: []ledger.GenesisAccount{
			{Key: pub("alice"), Balance: 1_000_000},
			{Key: pub("bob"), Balance: 1000},
			{Key: pub("n1"), Balance: 100, Stake: 4000},
			{Key: pub("n2"), Balance: 100, Stake: 2000},
			{Key: pub("n3"), Stake: 500},
		},
	}
}

// fakeChecker accepts evidence "fraud:<node hex>[:anything]" against that
// node, panics on "panic", cannot judge "unjudgeable", and rejects
// everything else.
var fakeChecker = ledger.EvidenceFunc(func(node ledger.PubKey, ev []byte) error {
	s := string(ev)
	if s == "panic" {
		panic("checker exploded")
	}
	if strings.HasPrefix(s, "fraud:"+node.String()) {
		return nil
	}
	if s == "unjudgeable" {
		return fmt.Errorf("%w: no weights", ledger.ErrCannotJudge)
	}
	return errors.New("evidence does not show fraud by this node")
})

var machine = ledger.Machine{Evidence: fakeChecker}

// chain tracks nonces so tests can write transactions tersely.
type chain struct {
	id     string
	nonces map[ledger.PubKey]uint64
}

func newChain() *chain { return &chain{id: testChain, nonces: map[ledger.PubKey]uint64{}} }

// tx signs body as name with the next nonce (and consumes it).
func (c *chain) tx(name string, body ledger.Body) *ledger.Tx {
	k := priv(name)
	tx := &ledger.Tx{ChainID: c.id, Nonce: c.nonces[ledger.KeyOf(k)], Body: body}
	tx.Sign(k)
	c.nonces[tx.Sender]++
	return tx
}

// cert returns a certificate signed by the named auditor.
func cert(id string, client, auditor string, tokens uint64, passed bool, work ...ledger.Work) *ledger.SubmitCertificate {
	c := &ledger.SubmitCertificate{
		ID:      sha256.Sum256([]byte(id)),
		Model:   sha256.Sum256([]byte("model")),
		Client:  pub(client),
		Auditor: pub(auditor),
		Tokens:  tokens,
		Passed:  passed,
		Work:    work,
	}
	c.SignAuditor(testChain, priv(auditor))
	return c
}

func work(node string, layers uint32, positions uint64) ledger.Work {
	return ledger.Work{Node: pub(node), Layers: layers, Positions: positions}
}

// mustApply applies txs that must succeed.
func mustApply(t testing.TB, s *ledger.State, txs ...*ledger.Tx) *ledger.State {
	t.Helper()
	for _, tx := range txs {
		var err error
		if s, _, err = machine.Apply(s, tx); err != nil {
			t.Fatalf("setup %s by %s: %v", tx.Body.Kind(), tx.Sender, err)
		}
	}
	return s
}

func genesisState(t testing.TB) *ledger.State {
	t.Helper()
	s, err := ledger.NewState(testGenesis())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sumAccounts is the total held by every account.
func sumAccounts(s *ledger.State) uint64 {
	var total uint64
	s.Accounts(func(_ ledger.PubKey, a ledger.Account) bool {
		total += a.Total()
		return true
	})
	return total
}
