// Package abci runs the ledger state machine as a CometBFT application,
// for operators who share one ledger among several validators, and runs
// CometBFT validators in process.
//
// The App keeps the chain in a bbolt block log (package ledger/blocklog)
// beside CometBFT's own stores, with the same block records, indexes and
// query API as the solo store: FinalizeBlock applies the block (every
// transaction the proposer included, rejected ones recorded with their
// reason) and returns the app hash; Commit writes it. After a crash
// CometBFT's handshake replays the blocks the App lacks.
//
// The ledger genesis travels as the app_state of CometBFT's genesis, and
// its chain id must be CometBFT's.
package abci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/blocklog"
)

// App is the ledger as an ABCI application.
type App struct {
	abcitypes.BaseApplication

	path string
	m    ledger.Machine

	mu      sync.Mutex
	chain   *blocklog.Chain   // nil until InitChain on a new store
	pending *blocklog.Pending // between FinalizeBlock and Commit
	check   *ledger.State     // mempool state: committed + accepted CheckTx
	waiters map[ledger.Hash][]chan ledger.Receipt
	halt    *halt // told when FinalizeBlock or Commit fails; nil outside a Node
}

var _ abcitypes.Application = (*App)(nil)

// NewApp opens the App's block log at path (created at InitChain if new).
func NewApp(path string, m ledger.Machine) (*App, error) {
	a := &App{path: path, m: m, waiters: map[ledger.Hash][]chan ledger.Receipt{}}
	c, err := blocklog.Open(path, nil, blocklog.Options{Machine: m})
	switch {
	case errors.Is(err, blocklog.ErrNoGenesis):
	case err != nil:
		return nil, err
	default:
		a.setChain(c)
	}
	return a, nil
}

func (a *App) setChain(c *blocklog.Chain) {
	a.chain = c
	a.check = c.Fork()
}

// Chain is the App's chain, nil before InitChain on a new store. Its
// queries are safe for concurrent use.
func (a *App) Chain() *blocklog.Chain {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.chain
}

// Close closes the block log.
func (a *App) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.chain == nil {
		return nil
	}
	return a.chain.Close()
}

// Info reports the last committed height and app hash.
func (a *App) Info(context.Context, *abcitypes.InfoRequest) (*abcitypes.InfoResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	res := &abcitypes.InfoResponse{Data: "tessera-ledger", Version: "1"}
	if a.chain != nil {
		info := a.chain.Info()
		res.LastBlockHeight = int64(info.Height)
		if info.Height > 0 {
			res.LastBlockAppHash = info.AppHash[:]
		}
	}
	return res, nil
}

// InitChain creates the chain from the ledger genesis in app_state.
func (a *App) InitChain(_ context.Context, req *abcitypes.InitChainRequest) (*abcitypes.InitChainResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(req.AppStateBytes) == 0 {
		return nil, errors.New("abci: genesis has no app_state (the ledger genesis)")
	}
	g, err := ledger.ParseGenesis(req.AppStateBytes)
	if err != nil {
		return nil, fmt.Errorf("abci: app_state: %w", err)
	}
	if g.ChainID != req.ChainId {
		return nil, fmt.Errorf("abci: ledger chain id %q differs from CometBFT's %q", g.ChainID, req.ChainId)
	}
	if req.InitialHeight > 1 {
		return nil, fmt.Errorf("abci: initial height %d: the ledger starts at 1", req.InitialHeight)
	}
	if a.chain != nil {
		if a.chain.Height() != 0 {
			return nil, fmt.Errorf("abci: InitChain on a chain at height %d", a.chain.Height())
		}
		a.chain.Close()
		a.chain = nil
	}
	c, err := blocklog.Open(a.path, &g, blocklog.Options{Machine: a.m})
	if err != nil {
		return nil, err
	}
	a.setChain(c)
	h := c.AppHash()
	return &abcitypes.InitChainResponse{AppHash: h[:]}, nil
}

// CheckTx admits a transaction to the mempool if it applies to the
// committed state plus the transactions already admitted.
func (a *App) CheckTx(_ context.Context, req *abcitypes.CheckTxRequest) (*abcitypes.CheckTxResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.chain == nil {
		return &abcitypes.CheckTxResponse{Code: uint32(ledger.CodeDisabled), Log: "ledger not initialised"}, nil
	}
	tx, err := ledger.DecodeTx(req.Tx)
	if err == nil {
		var next *ledger.State
		if next, _, err = a.m.Apply(a.check, tx); err == nil {
			a.check = next.Fold()
		}
	}
	if err != nil {
		return &abcitypes.CheckTxResponse{Code: uint32(ledger.CodeOf(err)), Log: reason(err)}, nil
	}
	return &abcitypes.CheckTxResponse{Code: abcitypes.CodeTypeOK}, nil
}

func reason(err error) string {
	var r *ledger.RejectError
	if errors.As(err, &r) {
		return r.Reason
	}
	return err.Error()
}

// PrepareProposal proposes the mempool's transactions that apply, in
// order, within the size limit (others would only be recorded as
// rejected).
func (a *App) PrepareProposal(_ context.Context, req *abcitypes.PrepareProposalRequest) (*abcitypes.PrepareProposalResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.chain == nil {
		return &abcitypes.PrepareProposalResponse{}, nil
	}
	p, err := a.chain.Begin(req.Time.UnixNano())
	if err != nil {
		return nil, err
	}
	txs := make([][]byte, 0, len(req.Txs))
	var size int64
	for _, raw := range req.Txs {
		if size+int64(len(raw)) > req.MaxTxBytes {
			break
		}
		if _, ok := p.TryApply(raw); ok {
			txs = append(txs, raw)
			size += int64(len(raw))
		}
	}
	return &abcitypes.PrepareProposalResponse{Txs: txs}, nil
}

// FinalizeBlock applies a decided block and returns its results and app
// hash; Commit makes it durable.
func (a *App) FinalizeBlock(_ context.Context, req *abcitypes.FinalizeBlockRequest) (*abcitypes.FinalizeBlockResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.chain == nil {
		return nil, errors.New("abci: FinalizeBlock before InitChain")
	}
	p, err := a.chain.Begin(req.Time.UnixNano())
	if err != nil {
		return nil, a.fail(fmt.Errorf("abci: block %d: %w", req.Height, err))
	}
	if int64(p.Height()) != req.Height {
		return nil, a.fail(fmt.Errorf("abci: asked to finalize block %d, the ledger is at %d", req.Height, p.Height()-1))
	}
	res := &abcitypes.FinalizeBlockResponse{TxResults: make([]*abcitypes.ExecTxResult, len(req.Txs))}
	for i, raw := range req.Txs {
		r := p.Apply(raw)
		res.TxResults[i] = &abcitypes.ExecTxResult{Code: uint32(r.Code), Log: r.Log, Events: events(r.Events)}
	}
	if err := p.Err(); err != nil {
		// Answering anything would be a guess other validators may not
		// share: stop this node instead (CometBFT halts on the error).
		return nil, a.fail(fmt.Errorf("abci: block %d: %w", req.Height, err))
	}
	rec := p.Finish()
	res.Events = events(rec.Begin)
	res.AppHash = rec.AppHash[:]
	a.pending = p
	return res, nil
}

func events(evs []ledger.Event) []abcitypes.Event {
	out := make([]abcitypes.Event, len(evs))
	for i, e := range evs {
		out[i].Type = e.Type
		out[i].Attributes = make([]abcitypes.EventAttribute, len(e.Attrs))
		for j, at := range e.Attrs {
			out[i].Attributes[j] = abcitypes.EventAttribute{Key: at.Key, Value: at.Value}
		}
	}
	return out
}

// Commit writes the finalized block to the block log (fsynced) and resets
// the mempool state. A write failure is returned, which stops the node:
// it must not vote on later blocks without this one stored; after a
// restart CometBFT replays it.
func (a *App) Commit(context.Context, *abcitypes.CommitRequest) (*abcitypes.CommitResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending == nil {
		return nil, errors.New("abci: Commit without FinalizeBlock")
	}
	p := a.pending
	a.pending = nil
	if err := a.chain.Commit(p); err != nil {
		return nil, a.fail(fmt.Errorf("abci: block %d not stored, the node stops: %w", p.Height(), err))
	}
	a.check = a.chain.Fork()
	rec := p.Finish()
	for i, raw := range rec.Txs {
		h := ledger.TxHash(raw)
		for _, ch := range a.waiters[h] {
			ch <- ledger.Receipt{TxHash: h, Height: rec.Height, Index: i, Result: rec.Results[i], AppHash: rec.AppHash}
		}
		delete(a.waiters, h)
	}
	return &abcitypes.CommitResponse{}, nil
}

// fail reports err to the node, which stops taking transactions: CometBFT
// halts consensus on an error of FinalizeBlock or Commit.
func (a *App) fail(err error) error {
	if a.halt != nil {
		a.halt.set(err)
	}
	return err
}

// wait registers for the receipt of transaction h; cancel unregisters.
func (a *App) wait(h ledger.Hash) (ch chan ledger.Receipt, cancel func()) {
	ch = make(chan ledger.Receipt, 1)
	a.mu.Lock()
	a.waiters[h] = append(a.waiters[h], ch)
	a.mu.Unlock()
	return ch, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		ws := a.waiters[h]
		for i, w := range ws {
			if w == ch {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(a.waiters, h)
		} else {
			a.waiters[h] = ws
		}
	}
}

// Query answers "info" with the chain summary and "account" (data: the
// 32-byte key) with the account, as JSON; the HTTP API (package
// ledger/query) is the full interface.
func (a *App) Query(_ context.Context, req *abcitypes.QueryRequest) (*abcitypes.QueryResponse, error) {
	c := a.Chain()
	if c == nil {
		return &abcitypes.QueryResponse{Code: uint32(ledger.CodeDisabled), Log: "ledger not initialised"}, nil
	}
	var v any
	switch req.Path {
	case "info", "/info":
		v = c.Info()
	case "account", "/account":
		if len(req.Data) != len(ledger.PubKey{}) {
			return &abcitypes.QueryResponse{Code: uint32(ledger.CodeMalformed), Log: "data: want a 32-byte key"}, nil
		}
		v = c.Account(ledger.PubKey(req.Data))
	default:
		return &abcitypes.QueryResponse{Code: uint32(ledger.CodeInvalid), Log: "unknown path " + req.Path}, nil
	}
	b, _ := json.Marshal(v)
	return &abcitypes.QueryResponse{Value: b, Height: int64(c.Height())}, nil
}
