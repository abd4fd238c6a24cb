// Package blocklog keeps a ledger chain in a bbolt file: the genesis, every
// block record (transactions, results, app hash), indexes by transaction
// hash and by account, and periodic state snapshots, with the committed
// state held in memory. Both ledger stores are built on it: the embedded
// solo store (ledger/solo) and the CometBFT application (ledger/abci).
//
// A block is durable when Commit returns: its record and indexes are
// written in one bbolt transaction, which fsyncs before it returns. Open
// rebuilds the state from the last snapshot and the blocks after it,
// checking each block's stored app hash on the way, so a store that was
// killed at any moment reopens at its last committed block.
//
// A failed write (a full disk, an I/O error) returns an error naming the
// block, and the committed state stays what it was; the next block may be
// tried again. If the file cannot be shown to be unchanged after a failure,
// the Chain refuses further writes (ErrFailed) until it is reopened.
package blocklog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tessera-net/tessera/ledger"
)

// Bucket layout (format 1):
//
//	meta      "format" → u32, "genesis" → genesis JSON, "height" → u64
//	blocks    height u64 → ledger.BlockRecord encoding
//	txs       tx hash → height u64 || index u32
//	history   account key || height u64 || index+1 u32 (0: block events) → empty
//	snapshot  "height" → u64, "state" → ledger.State encoding
var (
	bucketMeta     = []byte("meta")
	bucketBlocks   = []byte("blocks")
	bucketTxs      = []byte("txs")
	bucketHistory  = []byte("history")
	bucketSnapshot = []byte("snapshot")

	keyFormat  = []byte("format")
	keyGenesis = []byte("genesis")
	keyHeight  = []byte("height")
	keyState   = []byte("state")
)

const format = 1

// Errors.
var (
	// ErrNoGenesis: the store is new and no genesis was given.
	ErrNoGenesis = errors.New("blocklog: new store and no genesis given")
	// ErrFailed: a write failed and the file's state is unknown; reopen.
	ErrFailed = errors.New("blocklog: an earlier write failed and left the store in an unknown state; reopen it")
	// ErrNotFound: no such block or transaction.
	ErrNotFound = ledger.ErrNotFound
	// ErrReadOnly: the store was opened read-only.
	ErrReadOnly = errors.New("blocklog: store is read-only")
)

// Options configure a Chain.
type Options struct {
	// Machine applies the blocks (its evidence checker must be the one the
	// chain was built with).
	Machine ledger.Machine
	// ReadOnly opens the file with a shared lock, for queries and verify.
	ReadOnly bool
	// LockTimeout is how long Open waits for the file lock (default 2s).
	LockTimeout time.Duration
	// SnapshotEvery writes a state snapshot every so many blocks (default
	// 1000; negative: never), to bound the replay at Open.
	SnapshotEvery int
	// MaxSize caps the file size (0: no cap); writes beyond it fail as a
	// full disk would. For tests and for operators who want a quota.
	MaxSize int
}

// Chain is a ledger chain stored in a bbolt file. Queries are safe for
// concurrent use; blocks are built and committed by one goroutine at a
// time.
type Chain struct {
	path    string
	db      *bolt.DB
	m       ledger.Machine
	genesis ledger.Genesis
	snap    int
	ro      bool

	mu     sync.RWMutex
	state  *ledger.State // committed; a root
	info   ledger.Info
	failed error
}

// Open opens (or creates, given a genesis) the chain stored at path. If
// the store exists and g is not nil, g must be the store's genesis.
func Open(path string, g *ledger.Genesis, o Options) (*Chain, error) {
	if o.LockTimeout == 0 {
		o.LockTimeout = 2 * time.Second
	}
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = 1000
	}
	if o.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("blocklog: %w", err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout, ReadOnly: o.ReadOnly, MaxSize: o.MaxSize})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("blocklog: %s is locked by another process (a running node?): %w", path, err)
		}
		return nil, fmt.Errorf("blocklog: open %s: %w", path, err)
	}
	c := &Chain{path: path, db: db, m: o.Machine, snap: o.SnapshotEvery, ro: o.ReadOnly}
	if err := c.load(g); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

func (c *Chain) load(g *ledger.Genesis) error {
	var stored []byte
	err := c.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil {
			if f := b.Get(keyFormat); f != nil && binary.BigEndian.Uint32(f) != format {
				return fmt.Errorf("blocklog: %s has format %d, this build reads %d", c.path, binary.BigEndian.Uint32(f), format)
			}
			stored = bytes.Clone(b.Get(keyGenesis))
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case stored == nil && g == nil:
		return ErrNoGenesis
	case stored == nil && c.ro:
		return fmt.Errorf("blocklog: %s holds no chain", c.path)
	case stored == nil:
		if err := g.Validate(); err != nil {
			return err
		}
		stored, _ = json.Marshal(g)
		err = c.db.Update(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketMeta, bucketBlocks, bucketTxs, bucketHistory, bucketSnapshot} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			meta := tx.Bucket(bucketMeta)
			if err := meta.Put(keyFormat, binary.BigEndian.AppendUint32(nil, format)); err != nil {
				return err
			}
			if err := meta.Put(keyGenesis, stored); err != nil {
				return err
			}
			return meta.Put(keyHeight, u64(0))
		})
		if err != nil {
			return fmt.Errorf("blocklog: create %s: %w", c.path, err)
		}
	}
	gen, err := ledger.ParseGenesis(stored)
	if err != nil {
		return fmt.Errorf("blocklog: %s: stored %w", c.path, err)
	}
	if g != nil {
		want, _ := json.Marshal(g)
		have, _ := json.Marshal(gen)
		if !bytes.Equal(want, have) {
			return fmt.Errorf("blocklog: %s was created with another genesis (chain %q)", c.path, gen.ChainID)
		}
	}
	c.genesis = gen
	return c.rebuild()
}

// rebuild loads the last snapshot and replays the blocks after it.
func (c *Chain) rebuild() error {
	return c.db.View(func(tx *bolt.Tx) error {
		height := getU64(tx.Bucket(bucketMeta).Get(keyHeight))
		blocks := tx.Bucket(bucketBlocks)
		var r *ledger.Replayer
		var from uint64
		if sb := tx.Bucket(bucketSnapshot); sb != nil && sb.Get(keyState) != nil {
			sh := getU64(sb.Get(keyHeight))
			s, err := ledger.DecodeState(sb.Get(keyState))
			if err == nil {
				rec, rerr := blockAt(blocks, sh)
				switch {
				case rerr != nil:
					err = rerr
				case rec.AppHash != s.AppHash() || s.Height() != sh:
					err = fmt.Errorf("app hash differs from block %d's", sh)
				}
			}
			if err != nil {
				return fmt.Errorf("blocklog: %s: snapshot at height %d: %w", c.path, sh, err)
			}
			r, from = ledger.NewReplayerAt(s, c.m), sh
		}
		if r == nil {
			var err error
			if r, err = ledger.NewReplayer(c.genesis, c.m); err != nil {
				return err
			}
		}
		for h := from + 1; h <= height; h++ {
			rec, err := blockAt(blocks, h)
			if err != nil {
				return fmt.Errorf("blocklog: %s: %w", c.path, err)
			}
			if err := r.Next(rec); err != nil {
				return fmt.Errorf("blocklog: %s: replay: %w", c.path, err)
			}
		}
		c.state = r.State()
		c.info = c.state.Info()
		return nil
	})
}

func blockAt(b *bolt.Bucket, h uint64) (ledger.BlockRecord, error) {
	v := b.Get(u64(h))
	if v == nil {
		return ledger.BlockRecord{}, fmt.Errorf("block %d: %w", h, ErrNotFound)
	}
	rec, err := ledger.DecodeBlockRecord(v)
	if err != nil {
		return rec, fmt.Errorf("block %d: %w", h, err)
	}
	if rec.Height != h {
		return rec, fmt.Errorf("block %d: record says height %d", h, rec.Height)
	}
	return rec, nil
}

// Close closes the file.
func (c *Chain) Close() error { return c.db.Close() }

// Path is the file's path.
func (c *Chain) Path() string { return c.path }

// Genesis is the chain's genesis.
func (c *Chain) Genesis() ledger.Genesis { return c.genesis }

// Machine is the state machine applying the blocks.
func (c *Chain) Machine() ledger.Machine { return c.m }

// Pending is a block being built on the committed state.
type Pending struct {
	base *ledger.State
	b    *ledger.Builder
	rec  *ledger.BlockRecord
	st   *ledger.State
}

// Begin starts the next block, at the given time (Unix nanoseconds). The
// committed state does not change until Commit.
func (c *Chain) Begin(time int64) (*Pending, error) {
	c.mu.RLock()
	base, h, failed := c.state, c.info.Height, c.failed
	c.mu.RUnlock()
	if failed != nil {
		return nil, failed
	}
	b, err := c.m.NewBlock(base, h+1, time)
	if err != nil {
		return nil, err
	}
	return &Pending{base: base, b: b}, nil
}

// Apply adds a transaction to the block whatever its outcome (CometBFT).
func (p *Pending) Apply(raw []byte) ledger.Result { return p.b.Apply(raw) }

// TryApply adds a transaction only if it is accepted (solo).
func (p *Pending) TryApply(raw []byte) (ledger.Result, bool) { return p.b.TryApply(raw) }

// Err reports a transaction this node could not apply (see
// ledger.Builder.Err); Commit refuses such a block.
func (p *Pending) Err() error { return p.b.Err() }

// Len is the number of transactions in the block.
func (p *Pending) Len() int { return p.b.Len() }

// Height is the block's height.
func (p *Pending) Height() uint64 { return p.b.Height() }

// State is the state after the transactions applied so far.
func (p *Pending) State() *ledger.State { return p.b.State() }

// Finish computes the block's app hash; no transaction may be added after.
func (p *Pending) Finish() ledger.BlockRecord {
	if p.rec == nil {
		rec, st := p.b.Finish()
		p.rec, p.st = &rec, st
	}
	return *p.rec
}

// Commit writes the block durably (one bbolt transaction, fsynced) and
// then makes it the committed state. On error the committed state is
// unchanged.
func (c *Chain) Commit(p *Pending) error {
	if c.ro {
		return ErrReadOnly
	}
	if err := p.Err(); err != nil {
		return err
	}
	rec := p.Finish()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		return c.failed
	}
	if p.base != c.state {
		return fmt.Errorf("blocklog: block %d was built on a state that is no longer the committed one", rec.Height)
	}
	var snapshot []byte
	if c.snap > 0 && rec.Height%uint64(c.snap) == 0 {
		snapshot = p.st.Encode()
	}
	err := c.db.Update(func(tx *bolt.Tx) error { return writeBlock(tx, &rec, snapshot) })
	if err != nil {
		err = fmt.Errorf("blocklog: writing block %d to %s: %w", rec.Height, c.path, err)
		// Make sure the failed write left the file at the previous block.
		var onDisk uint64
		verr := c.db.View(func(tx *bolt.Tx) error {
			onDisk = getU64(tx.Bucket(bucketMeta).Get(keyHeight))
			return nil
		})
		if verr != nil || onDisk != c.info.Height {
			c.failed = fmt.Errorf("%w (after: %v)", ErrFailed, err)
		}
		return err
	}
	c.state = p.st.Fold()
	c.info = ledger.Info{ChainID: c.info.ChainID, Height: rec.Height, AppHash: rec.AppHash,
		Supply: c.state.Supply(), Params: c.info.Params}
	return nil
}

func writeBlock(tx *bolt.Tx, rec *ledger.BlockRecord, snapshot []byte) error {
	h := u64(rec.Height)
	meta := tx.Bucket(bucketMeta)
	if have := getU64(meta.Get(keyHeight)); have+1 != rec.Height {
		return fmt.Errorf("store is at height %d", have)
	}
	if err := tx.Bucket(bucketBlocks).Put(h, rec.Encode()); err != nil {
		return err
	}
	txs := tx.Bucket(bucketTxs)
	for i, raw := range rec.Txs {
		th := ledger.TxHash(raw)
		if err := txs.Put(th[:], binary.BigEndian.AppendUint32(u64(rec.Height), uint32(i))); err != nil {
			return err
		}
	}
	hist := tx.Bucket(bucketHistory)
	for _, t := range rec.Touches() {
		if err := hist.Put(historyKey(t.Key, rec.Height, t.Index), nil); err != nil {
			return err
		}
	}
	if snapshot != nil {
		sb := tx.Bucket(bucketSnapshot)
		if err := sb.Put(keyState, snapshot); err != nil {
			return err
		}
		if err := sb.Put(keyHeight, h); err != nil {
			return err
		}
	}
	return meta.Put(keyHeight, h)
}

func historyKey(k ledger.PubKey, height uint64, index int) []byte {
	b := make([]byte, 0, 32+8+4)
	b = append(b, k[:]...)
	b = binary.BigEndian.AppendUint64(b, height)
	return binary.BigEndian.AppendUint32(b, uint32(index+1))
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// --- queries ---

// Info is the chain id, height, app hash, supply and parameters of the
// committed state.
func (c *Chain) Info() ledger.Info {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.info
}

// Height is the committed height.
func (c *Chain) Height() uint64 { return c.Info().Height }

// AppHash is the committed app hash.
func (c *Chain) AppHash() ledger.Hash { return c.Info().AppHash }

// Account returns an account of the committed state.
func (c *Chain) Account(k ledger.PubKey) ledger.Account {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state.Account(k)
}

// Node returns a registered node of the committed state.
func (c *Chain) Node(k ledger.PubKey) (ledger.Node, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state.Node(k)
}

// Certificate returns a settled certificate.
func (c *Chain) Certificate(id ledger.Hash) (ledger.Certificate, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state.Certificate(id)
}

// Fraud returns the fraud record of evidence whose SHA-256 is h.
func (c *Chain) Fraud(h ledger.Hash) (ledger.Fraud, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state.Fraud(h)
}

// View calls fn with the committed state, which must not be kept or
// written after fn returns.
func (c *Chain) View(fn func(*ledger.State)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	fn(c.state)
}

// Fork returns a layer over the committed state for speculative use (a
// mempool). It is valid until the next Commit, which must not run while
// the layer is read.
func (c *Chain) Fork() *ledger.State {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state.Fork()
}

// Block returns the record of block h.
func (c *Chain) Block(h uint64) (ledger.BlockRecord, error) {
	var rec ledger.BlockRecord
	err := c.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = blockAt(tx.Bucket(bucketBlocks), h)
		return err
	})
	return rec, err
}

// Tx returns the receipt of a committed transaction (whatever its result,
// in a CometBFT chain).
func (c *Chain) Tx(hash ledger.Hash) (ledger.Receipt, error) {
	var r ledger.Receipt
	err := c.db.View(func(tx *bolt.Tx) error {
		loc := tx.Bucket(bucketTxs).Get(hash[:])
		if len(loc) != 12 {
			return fmt.Errorf("transaction %s: %w", hash, ErrNotFound)
		}
		h, i := binary.BigEndian.Uint64(loc), int(binary.BigEndian.Uint32(loc[8:]))
		rec, err := blockAt(tx.Bucket(bucketBlocks), h)
		if err != nil {
			return err
		}
		if i >= len(rec.Results) {
			return fmt.Errorf("transaction %s: index %d beyond block %d", hash, i, h)
		}
		r = ledger.Receipt{TxHash: hash, Height: h, Index: i, Result: rec.Results[i], AppHash: rec.AppHash}
		return nil
	})
	return r, err
}

// History returns k's history, newest first, from the blocks below height
// before (0: from the newest): at least limit entries if there are that
// many, completing the last block, so the next page is the one before its
// height.
func (c *Chain) History(k ledger.PubKey, before uint64, limit int) ([]ledger.HistoryEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	var out []ledger.HistoryEntry
	err := c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketHistory).Cursor()
		blocks := tx.Bucket(bucketBlocks)
		var seek []byte
		if before == 0 {
			seek = append(append([]byte{}, k[:]...), bytes.Repeat([]byte{0xff}, 12)...)
		} else {
			seek = historyKey(k, before, -1)
		}
		key, _ := cur.Seek(seek)
		if key == nil {
			key, _ = cur.Last()
		}
		if key != nil && bytes.Compare(key, seek) >= 0 {
			key, _ = cur.Prev()
		}
		var rec ledger.BlockRecord
		for ; key != nil && bytes.HasPrefix(key, k[:]); key, _ = cur.Prev() {
			h := binary.BigEndian.Uint64(key[32:])
			if len(out) >= limit && h != out[len(out)-1].Height {
				break
			}
			i := int(binary.BigEndian.Uint32(key[40:])) - 1
			if rec.Height != h {
				var err error
				if rec, err = blockAt(blocks, h); err != nil {
					return err
				}
			}
			out = append(out, historyEntry(&rec, i, k))
		}
		return nil
	})
	return out, err
}

func historyEntry(rec *ledger.BlockRecord, i int, k ledger.PubKey) ledger.HistoryEntry {
	e := ledger.HistoryEntry{Height: rec.Height, Index: i, Time: rec.Time}
	if i < 0 {
		e.Kind = "block"
		for _, ev := range rec.Begin {
			for _, a := range ev.Attrs {
				if a.Key == "account" && a.Value == k.String() {
					e.Result.Events = append(e.Result.Events, ev)
				}
			}
		}
		return e
	}
	if i >= len(rec.Txs) {
		return e
	}
	th := ledger.TxHash(rec.Txs[i])
	e.TxHash = &th
	e.Result = rec.Results[i]
	if tx, err := ledger.DecodeTx(rec.Txs[i]); err == nil {
		e.Kind = tx.Body.Kind().String()
		e.Sender = &tx.Sender
	}
	return e
}
