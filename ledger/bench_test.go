package ledger_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/tessera-net/tessera/ledger"
)

// benchState is a state with n funded accounts.
func benchState(b *testing.B, n int) (*ledger.State, []ledger.GenesisAccount) {
	g := ledger.Genesis{ChainID: testChain, Params: testParams()}
	for i := 0; i < n; i++ {
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Key: pub(fmt.Sprint("acct", i)), Balance: 1 << 40})
	}
	s, err := ledger.NewState(g)
	if err != nil {
		b.Fatal(err)
	}
	return s, g.Accounts
}

// BenchmarkApplyTransfer is one transfer: decode, signature check, rules,
// into a block of 1000.
func BenchmarkApplyTransfer(b *testing.B) {
	s, _ := benchState(b, 1000)
	txs := make([][]byte, b.N)
	for i := range txs {
		tx := &ledger.Tx{ChainID: testChain, Nonce: uint64(i / 1000), Body: &ledger.Transfer{To: pub("sink"), Amount: 1}}
		tx.Sign(priv(fmt.Sprint("acct", i%1000)))
		txs[i] = tx.Encode()
	}
	b.ResetTimer()
	blk, _ := machine.NewBlock(s, 1, 0)
	for i := range txs {
		if i%1000 == 0 && i > 0 {
			_, st := blk.Finish()
			blk, _ = machine.NewBlock(st.Fold(), uint64(i/1000)+1, 0)
		}
		if _, ok := blk.TryApply(txs[i]); !ok {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkAppHash is the app hash of a state of 10,000 accounts after a
// block that touched 1000 of them.
func BenchmarkAppHash(b *testing.B) {
	s, accts := benchState(b, 10000)
	s.AppHash()
	l := s.Fork()
	for i := 0; i < 1000; i++ {
		tx := &ledger.Tx{ChainID: testChain, Body: &ledger.Stake{Amount: 1}}
		tx.Sign(priv(fmt.Sprint("acct", i*10)))
		var err error
		if l, _, err = machine.Apply(l, tx); err != nil {
			b.Fatal(err)
		}
		l = l.Fold()
	}
	_ = accts
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.AppHash()
	}
}

// BenchmarkDecodeTx decodes a certificate with 8 nodes.
func BenchmarkDecodeTx(b *testing.B) {
	var ws []ledger.Work
	for i := 0; i < 8; i++ {
		var k ledger.PubKey
		binary.BigEndian.PutUint64(k[:], uint64(i))
		ws = append(ws, ledger.Work{Node: k, Layers: 10, Positions: 100})
	}
	c := &ledger.SubmitCertificate{ID: sha256.Sum256(nil), Tokens: 100, Passed: true, Work: ws}
	raw := newChain().tx("alice", c).Encode()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		if _, err := ledger.DecodeTx(raw); err != nil {
			b.Fatal(err)
		}
	}
}
