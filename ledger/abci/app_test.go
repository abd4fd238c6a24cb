package abci_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/abci"
	"github.com/tessera-net/tessera/ledger/ledgertest"
)

func newApp(t *testing.T, path string) *abci.App {
	t.Helper()
	a, err := abci.NewApp(path, ledgertest.Machine)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func initChain(t *testing.T, a *abci.App) []byte {
	t.Helper()
	g, _ := json.Marshal(ledgertest.Genesis())
	res, err := a.InitChain(context.Background(), &abcitypes.InitChainRequest{ChainId: ledgertest.ChainID, AppStateBytes: g, InitialHeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	return res.AppHash
}

func finalize(t *testing.T, a *abci.App, h int64, txs ...[]byte) *abcitypes.FinalizeBlockResponse {
	t.Helper()
	res, err := a.FinalizeBlock(context.Background(), &abcitypes.FinalizeBlockRequest{Height: h, Time: time.Unix(h, 0), Txs: txs})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAppLifecycle(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	a := newApp(t, path)
	if info, _ := a.Info(ctx, &abcitypes.InfoRequest{}); info.LastBlockHeight != 0 {
		t.Fatalf("new app at height %d", info.LastBlockHeight)
	}
	if len(initChain(t, a)) != 32 {
		t.Fatal("InitChain returned no app hash")
	}

	// CheckTx follows nonces across the mempool, and refuses a replay.
	tx0 := ledgertest.Sign(ledgertest.ChainID, "carol", 0, &ledger.Faucet{Amount: 5})
	tx1 := ledgertest.Sign(ledgertest.ChainID, "carol", 1, &ledger.Transfer{To: ledgertest.Pub("bob"), Amount: 5})
	for i, c := range []struct {
		tx   []byte
		code uint32
	}{{tx0, 0}, {tx1, 0}, {tx0, uint32(ledger.CodeBadNonce)}, {[]byte("x"), uint32(ledger.CodeMalformed)}} {
		res, _ := a.CheckTx(ctx, &abcitypes.CheckTxRequest{Tx: c.tx, Type: abcitypes.CHECK_TX_TYPE_CHECK})
		if res.Code != c.code {
			t.Fatalf("CheckTx %d: code %d (%s), want %d", i, res.Code, res.Log, c.code)
		}
	}

	// PrepareProposal drops what would fail.
	pp, _ := a.PrepareProposal(ctx, &abcitypes.PrepareProposalRequest{Height: 1, Time: time.Unix(1, 0), MaxTxBytes: 1 << 20, Txs: [][]byte{tx1, tx0, []byte("x"), tx1}})
	if len(pp.Txs) != 2 {
		t.Fatalf("proposal of %d transactions, want 2 (the nonce-0 faucet, then the transfer)", len(pp.Txs))
	}

	// A block with a rejected transaction records it and goes on.
	res := finalize(t, a, 1, tx1, tx0, []byte("x"))
	if res.TxResults[0].Code != uint32(ledger.CodeBadNonce) || res.TxResults[1].Code != 0 || res.TxResults[2].Code != uint32(ledger.CodeMalformed) {
		t.Fatalf("results %+v", res.TxResults)
	}
	if _, err := a.Commit(ctx, &abcitypes.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	hash1 := res.AppHash

	// Crash between FinalizeBlock and Commit: the block is not stored, and
	// Info tells CometBFT to replay it.
	finalize(t, a, 2, tx1)
	a.Close()
	a = newApp(t, path)
	defer a.Close()
	info, _ := a.Info(ctx, &abcitypes.InfoRequest{})
	if info.LastBlockHeight != 1 || string(info.LastBlockAppHash) != string(hash1) {
		t.Fatalf("after a crash: height %d hash %x, want 1 %x", info.LastBlockHeight, info.LastBlockAppHash, hash1)
	}
	if _, err := a.FinalizeBlock(ctx, &abcitypes.FinalizeBlockRequest{Height: 5}); err == nil {
		t.Fatal("finalized a block out of order")
	}
	res = finalize(t, a, 2, tx1)
	if res.TxResults[0].Code != 0 {
		t.Fatalf("replayed block: %+v", res.TxResults[0])
	}
	if _, err := a.Commit(ctx, &abcitypes.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	bob := ledgertest.Pub("bob")
	q, _ := a.Query(ctx, &abcitypes.QueryRequest{Path: "account", Data: bob[:]})
	var acct ledger.Account
	if err := json.Unmarshal(q.Value, &acct); err != nil || acct.Balance != 10_005 {
		t.Fatalf("query: %s %v", q.Value, err)
	}
}

func TestInitChainChecks(t *testing.T) {
	a := newApp(t, filepath.Join(t.TempDir(), "ledger.db"))
	defer a.Close()
	g, _ := json.Marshal(ledgertest.Genesis())
	for name, req := range map[string]*abcitypes.InitChainRequest{
		"no app state":   {ChainId: ledgertest.ChainID},
		"other chain id": {ChainId: "x", AppStateBytes: g},
		"late start":     {ChainId: ledgertest.ChainID, AppStateBytes: g, InitialHeight: 7},
	} {
		if _, err := a.InitChain(context.Background(), req); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAppHaltsOnUnjudgeableEvidence checks that a validator that cannot
// judge evidence in a decided block fails the block instead of guessing.
func TestAppHaltsOnUnjudgeableEvidence(t *testing.T) {
	a := newApp(t, filepath.Join(t.TempDir(), "ledger.db"))
	defer a.Close()
	initChain(t, a)
	reg := ledgertest.Sign(ledgertest.ChainID, "n1", 0, &ledger.RegisterNode{Capacity: 1})
	finalize(t, a, 1, reg)
	if _, err := a.Commit(context.Background(), &abcitypes.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	ev := ledgertest.Sign(ledgertest.ChainID, "bob", 0, &ledger.SubmitEvidence{Node: ledgertest.Pub("n1"), Evidence: []byte("unjudgeable")})
	if _, err := a.FinalizeBlock(context.Background(), &abcitypes.FinalizeBlockRequest{Height: 2, Time: time.Unix(2, 0), Txs: [][]byte{ev}}); err == nil {
		t.Fatal("finalized a block holding evidence this node cannot judge")
	}
	if res, _ := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: ev}); res.Code != uint32(ledger.CodeUnjudgeable) {
		t.Fatalf("CheckTx: %d %s", res.Code, res.Log)
	}
}
