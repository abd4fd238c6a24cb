package ledger_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/tessera-net/tessera/ledger"
)

// A client pays for a session through two nodes; replaying the same
// transaction is refused and changes nothing.
func Example() {
	key := func(name string) ed25519.PrivateKey {
		seed := sha256.Sum256([]byte(name))
		return ed25519.NewKeyFromSeed(seed[:])
	}
	client, auditor, n1, n2 := key("client"), key("auditor"), key("n1"), key("n2")
	g := ledger.Genesis{
		ChainID: "example",
		Params:  ledger.DefaultParams(false), // 1 credit per layer per token, 5% to the auditor
		Accounts: []ledger.GenesisAccount{
			{Key: ledger.KeyOf(client), Balance: 10_000},
			{Key: ledger.KeyOf(n1), Stake: 1000},
			{Key: ledger.KeyOf(n2), Stake: 1000},
		},
	}
	s, _ := ledger.NewState(g)
	m := ledger.Machine{} // no evidence checker: all fraud evidence is refused

	sign := func(k ed25519.PrivateKey, nonce uint64, body ledger.Body) *ledger.Tx {
		tx := &ledger.Tx{ChainID: g.ChainID, Nonce: nonce, Body: body}
		tx.Sign(k)
		return tx
	}
	s, _, _ = m.Apply(s, sign(n1, 0, &ledger.RegisterNode{Capacity: 16}))
	s, _, _ = m.Apply(s, sign(n2, 0, &ledger.RegisterNode{Capacity: 16}))

	cert := &ledger.SubmitCertificate{
		ID: sha256.Sum256([]byte("session 1")), Client: ledger.KeyOf(client), Auditor: ledger.KeyOf(auditor),
		Tokens: 100, Passed: true,
		Work: []ledger.Work{
			{Node: ledger.KeyOf(n1), Layers: 16, Positions: 100},
			{Node: ledger.KeyOf(n2), Layers: 16, Positions: 100},
		},
	}
	cert.SignAuditor(g.ChainID, auditor)
	tx := sign(client, 0, cert)
	s, _, err := m.Apply(s, tx)
	fmt.Println("settled:", err == nil)
	fmt.Println("client:", s.Account(ledger.KeyOf(client)).Balance)
	fmt.Println("auditor:", s.Account(ledger.KeyOf(auditor)).Balance)
	fmt.Println("n1:", s.Account(ledger.KeyOf(n1)).Balance)

	_, _, err = m.Apply(s, tx)
	fmt.Println(ledger.CodeOf(err))
	// Output:
	// settled: true
	// client: 6800
	// auditor: 160
	// n1: 1520
	// bad nonce
}
