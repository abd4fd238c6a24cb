package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/tessera-net/tessera/ledger"
)

// API is the ledger as a program that uses it sees it, wherever the ledger
// lives: Client reaches one over HTTP, Local one in this process. Every
// call takes a context because a remote ledger may be slow or down.
type API interface {
	Info(ctx context.Context) (ledger.Info, error)
	Account(ctx context.Context, k ledger.PubKey) (AccountView, error)
	History(ctx context.Context, k ledger.PubKey, before uint64, limit int) ([]ledger.HistoryEntry, error)
	Certificate(ctx context.Context, id ledger.Hash) (ledger.Certificate, error)
	Block(ctx context.Context, height uint64) (BlockView, error)
	Tx(ctx context.Context, hash ledger.Hash) (ledger.Receipt, error)
	Submit(ctx context.Context, tx []byte) (ledger.Receipt, error)
}

var (
	_ API = (*Client)(nil)
	_ API = Local{}
)

// Local is the API of a ledger in this process (a *solo.Ledger, or a
// CometBFT node's chain and the node). Reads ignore the context: they
// read committed state in memory.
type Local struct {
	Src Source
	Sub Submitter // nil: Src, if it is a Submitter
}

// Info implements API.
func (l Local) Info(context.Context) (ledger.Info, error) { return l.Src.Info(), nil }

// Account implements API.
func (l Local) Account(_ context.Context, k ledger.PubKey) (AccountView, error) {
	return accountView(l.Src, k), nil
}

// History implements API.
func (l Local) History(_ context.Context, k ledger.PubKey, before uint64, limit int) ([]ledger.HistoryEntry, error) {
	return l.Src.History(k, before, limit)
}

// Certificate implements API; an unknown id is an error wrapping
// ledger.ErrNotFound, as from Client.
func (l Local) Certificate(_ context.Context, id ledger.Hash) (ledger.Certificate, error) {
	c, ok := l.Src.Certificate(id)
	if !ok {
		return c, fmt.Errorf("certificate %s is not on the ledger: %w", id, ledger.ErrNotFound)
	}
	return c, nil
}

// Block implements API.
func (l Local) Block(_ context.Context, height uint64) (BlockView, error) {
	rec, err := l.Src.Block(height)
	if err != nil {
		return BlockView{}, err
	}
	return blockView(rec), nil
}

// Tx implements API.
func (l Local) Tx(_ context.Context, hash ledger.Hash) (ledger.Receipt, error) { return l.Src.Tx(hash) }

// Submit implements API.
func (l Local) Submit(ctx context.Context, tx []byte) (ledger.Receipt, error) {
	sub := l.Sub
	if sub == nil {
		sub, _ = l.Src.(Submitter)
	}
	if sub == nil {
		return ledger.Receipt{}, errors.New("query: this ledger does not accept transactions")
	}
	return sub.Submit(ctx, tx)
}

// accountView is an account with its node record.
func accountView(src Source, k ledger.PubKey) AccountView {
	v := AccountView{Key: k, Account: src.Account(k)}
	if n, ok := src.Node(k); ok {
		v.Node = &n
	}
	return v
}

// blockView is a block as the API shows it.
func blockView(rec ledger.BlockRecord) BlockView {
	v := BlockView{Height: rec.Height, Time: rec.Time, AppHash: rec.AppHash, Begin: rec.Begin, Txs: []TxView{}}
	for i, raw := range rec.Txs {
		tv := TxView{Hash: ledger.TxHash(raw), Raw: hex(raw), Result: rec.Results[i]}
		if tx, err := ledger.DecodeTx(raw); err == nil {
			tv.Kind, tv.Sender, tv.Nonce = tx.Body.Kind().String(), &tx.Sender, tx.Nonce
		}
		v.Txs = append(v.Txs, tv)
	}
	return v
}
