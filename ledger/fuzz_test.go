package ledger_test

import (
	"bytes"
	"testing"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/ledgertest"
)

// FuzzDecodeTx checks that the decoder never panics and that whatever it
// accepts is canonical: encoding the result gives back the input.
func FuzzDecodeTx(f *testing.F) {
	c := newChain()
	for _, tx := range []*ledger.Tx{
		c.tx("alice", &ledger.Transfer{To: pub("bob"), Amount: 5}),
		c.tx("alice", &ledger.Stake{Amount: 5}),
		c.tx("alice", &ledger.Unstake{Amount: 5}),
		c.tx("n1", &ledger.RegisterNode{Capacity: 3}),
		c.tx("alice", cert("c", "alice", "aud", 9, true, work("n1", 2, 9), work("n2", 1, 3))),
		c.tx("bob", &ledger.SubmitEvidence{Node: pub("n1"), Evidence: []byte("fraud:x")}),
		c.tx("carol", &ledger.Faucet{Amount: 5}),
	} {
		f.Add(tx.Encode())
	}
	f.Add([]byte{})
	f.Add([]byte{1, 5, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := ledger.DecodeTx(b)
		if err != nil {
			return
		}
		if enc := tx.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("not canonical:\n in  %x\n out %x", b, enc)
		}
		_ = tx.VerifySignature()
		_ = ledger.Involved(tx)
	})
}

// FuzzDecodeBlockRecord checks the block record decoder likewise (records
// are read back from disk by the stores and by verify).
func FuzzDecodeBlockRecord(f *testing.F) {
	for _, rec := range buildChain(f, 5, 6, 6, nil) {
		f.Add(rec.Encode())
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := ledger.DecodeBlockRecord(b)
		if err != nil {
			return
		}
		if enc := rec.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("not canonical:\n in  %x\n out %x", b, enc)
		}
		_ = rec.Touches()
	})
}

// FuzzApply checks that no transaction bytes can panic the state machine
// or break the supply invariant.
func FuzzApply(f *testing.F) {
	w := ledgertest.NewWorkload(9)
	s0, _ := ledger.NewState(ledgertest.Genesis())
	for i := 0; i < 40; i++ {
		f.Add(w.Next(s0))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, _ := ledger.NewState(ledgertest.Genesis())
		blk, err := ledgertest.Machine.NewBlock(s, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		blk.Apply(b)
		_, st := blk.Finish()
		if got, want := sumAccounts(st), st.Supply().Total(); got != want {
			t.Fatalf("accounts hold %d, supply %d", got, want)
		}
	})
}

// FuzzDecodeState checks the snapshot decoder (snapshots are read back
// from disk at every start).
func FuzzDecodeState(f *testing.F) {
	var s *ledger.State
	buildChain(f, 6, 8, 8, func(b *ledger.Builder) { s = b.State() })
	f.Add(s.Encode())
	s0, _ := ledger.NewState(ledgertest.Genesis())
	f.Add(s0.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ledger.DecodeState(b)
		if err != nil {
			return
		}
		if enc := st.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("not canonical")
		}
		st.AppHash()
		_ = st.Info()
		sumAccounts(st)
	})
}
