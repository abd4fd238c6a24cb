// Package solo is the embedded ledger store, Tessera's default: one
// process owns the chain, applies transactions as they are submitted and
// appends them to a bbolt file as blocks (package ledger/blocklog).
//
// Submit returns only after the transaction's block is fsynced, so an
// acknowledged transaction survives kill -9 and power loss; a process
// killed at any moment reopens at its last committed block with the same
// app hash. Transactions submitted concurrently are grouped into one
// block (one fsync). Rejected transactions are answered at once with
// their reason and never enter a block.
//
// Blocks are made only when there are transactions, so the unbonding
// delay (in blocks) runs at the pace of the ledger's traffic.
package solo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/blocklog"
)

// Options configure a solo ledger.
type Options struct {
	// Genesis creates a new store; nil uses DevGenesis("tessera-solo").
	// An existing store keeps its own genesis (a different one given here
	// is an error).
	Genesis *ledger.Genesis
	// Evidence checks fraud evidence (nil: all evidence is rejected).
	Evidence ledger.EvidenceChecker
	// MaxBlockTxs bounds a block (default 1000).
	MaxBlockTxs int
	// Now is the clock stamped on blocks (default time.Now).
	Now func() time.Time
	// ReadOnly opens the store for queries only (Submit fails).
	ReadOnly bool
	// SnapshotEvery and MaxSize are passed to blocklog.Options.
	SnapshotEvery int
	MaxSize       int
}

// DefaultChainID is the chain id of a solo store created without a genesis.
const DefaultChainID = "tessera-solo"

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("solo: ledger closed")

// Ledger is an embedded ledger. Submit is safe for concurrent use, and so
// are the queries (they read the committed state).
type Ledger struct {
	chain *blocklog.Chain
	reqs  chan *request
	stop  chan struct{}
	done  chan struct{}
	max   int
	now   func() time.Time

	mu     sync.RWMutex // held for reading while enqueuing, for writing by Close
	closed bool
}

type request struct {
	tx    []byte
	reply chan reply
}

type reply struct {
	r   ledger.Receipt
	err error
}

// Open opens or creates the ledger at path (a bbolt file).
func Open(path string, o Options) (*Ledger, error) {
	bo := blocklog.Options{
		Machine:       ledger.Machine{Evidence: o.Evidence},
		ReadOnly:      o.ReadOnly,
		SnapshotEvery: o.SnapshotEvery,
		MaxSize:       o.MaxSize,
	}
	c, err := blocklog.Open(path, o.Genesis, bo)
	if errors.Is(err, blocklog.ErrNoGenesis) {
		dev := ledger.DevGenesis(DefaultChainID)
		c, err = blocklog.Open(path, &dev, bo)
	}
	if err != nil {
		return nil, err
	}
	return start(c, o), nil
}

func start(c *blocklog.Chain, o Options) *Ledger {
	l := &Ledger{
		chain: c,
		reqs:  make(chan *request, 1024),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		max:   o.MaxBlockTxs,
		now:   o.Now,
	}
	if l.max <= 0 {
		l.max = 1000
	}
	if l.now == nil {
		l.now = time.Now
	}
	go l.run()
	return l
}

// Submit applies an encoded transaction and returns its receipt once its
// block is durable. A rejected transaction returns a *ledger.RejectError
// (errors.As) and changes nothing. If ctx ends first Submit returns
// ctx.Err(), and the transaction may still commit (look it up with Tx).
func (l *Ledger) Submit(ctx context.Context, tx []byte) (ledger.Receipt, error) {
	req := &request{tx: tx, reply: make(chan reply, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ledger.Receipt{}, ErrClosed
	}
	select {
	case l.reqs <- req:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return ledger.Receipt{}, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.r, r.err
	case <-ctx.Done():
		return ledger.Receipt{}, ctx.Err()
	}
}

// SubmitTx encodes and submits a transaction.
func (l *Ledger) SubmitTx(ctx context.Context, tx *ledger.Tx) (ledger.Receipt, error) {
	return l.Submit(ctx, tx.Encode())
}

// Close stops accepting transactions, finishes the block in progress and
// closes the file.
func (l *Ledger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return l.chain.Close()
}

// Queries: see the methods of the same names of blocklog.Chain.

// Info is the chain id, height, app hash, supply and parameters.
func (l *Ledger) Info() ledger.Info { return l.chain.Info() }

// Height is the height of the last block.
func (l *Ledger) Height() uint64 { return l.chain.Height() }

// AppHash is the app hash after the last block.
func (l *Ledger) AppHash() ledger.Hash { return l.chain.AppHash() }

// Genesis is the chain's genesis.
func (l *Ledger) Genesis() ledger.Genesis { return l.chain.Genesis() }

// Path is the store's file.
func (l *Ledger) Path() string { return l.chain.Path() }

// Account returns an account (the zero Account if unknown).
func (l *Ledger) Account(k ledger.PubKey) ledger.Account { return l.chain.Account(k) }

// Node returns a registered node.
func (l *Ledger) Node(k ledger.PubKey) (ledger.Node, bool) { return l.chain.Node(k) }

// Certificate returns a settled certificate.
func (l *Ledger) Certificate(id ledger.Hash) (ledger.Certificate, bool) {
	return l.chain.Certificate(id)
}

// Fraud returns the fraud record of evidence whose SHA-256 is h.
func (l *Ledger) Fraud(h ledger.Hash) (ledger.Fraud, bool) { return l.chain.Fraud(h) }

// History returns an account's history, newest first (see
// blocklog.Chain.History).
func (l *Ledger) History(k ledger.PubKey, before uint64, limit int) ([]ledger.HistoryEntry, error) {
	return l.chain.History(k, before, limit)
}

// Block returns the record of a block.
func (l *Ledger) Block(h uint64) (ledger.BlockRecord, error) { return l.chain.Block(h) }

// Tx returns the receipt of a committed transaction.
func (l *Ledger) Tx(h ledger.Hash) (ledger.Receipt, error) { return l.chain.Tx(h) }

// Verify replays the store from genesis (see blocklog.Chain.Verify).
func (l *Ledger) Verify(progress func(uint64)) (blocklog.Report, error) {
	return l.chain.Verify(progress)
}

// run is the single writer: it takes whatever requests are waiting (up to
// MaxBlockTxs), applies them into one block, commits it, and answers.
func (l *Ledger) run() {
	defer close(l.done)
	for {
		var first *request
		select {
		case first = <-l.reqs:
		case <-l.stop:
			// Nothing is enqueued after stop; commit what was.
			for {
				select {
				case r := <-l.reqs:
					l.commit([]*request{r})
				default:
					return
				}
			}
		}
		batch := []*request{first}
	gather:
		for len(batch) < l.max {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		l.commit(batch)
	}
}

func (l *Ledger) commit(batch []*request) {
	p, err := l.chain.Begin(l.now().UnixNano())
	if err != nil {
		for _, r := range batch {
			r.reply <- reply{err: err}
		}
		return
	}
	var included []*request
	for _, r := range batch {
		res, ok := p.TryApply(r.tx)
		if !ok {
			r.reply <- reply{err: &ledger.RejectError{Code: res.Code, Reason: res.Log}}
			continue
		}
		included = append(included, r)
	}
	if len(included) == 0 {
		return
	}
	rec := p.Finish()
	if err := l.chain.Commit(p); err != nil {
		err = fmt.Errorf("solo: transaction not recorded: %w", err)
		for _, r := range included {
			r.reply <- reply{err: err}
		}
		return
	}
	for i, r := range included {
		r.reply <- reply{r: ledger.Receipt{
			TxHash: ledger.TxHash(r.tx), Height: rec.Height, Index: i,
			Result: rec.Results[i], AppHash: rec.AppHash,
		}}
	}
}
