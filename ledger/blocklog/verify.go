package blocklog

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/tessera-net/tessera/ledger"
)

// Report is what Verify checked.
type Report struct {
	ChainID string
	Blocks  uint64
	Txs     uint64
	Height  uint64
	AppHash ledger.Hash
}

// Verify replays the whole chain from genesis, ignoring snapshots: every
// transaction is decoded and re-applied (so every accepted transaction's
// signature, and its auditor's, is verified again), and every stored result
// and app hash must be reproduced. It also checks the transaction index
// and that the snapshot, if any, matches its block. progress, if not nil,
// is called after each block.
func (c *Chain) Verify(progress func(height uint64)) (Report, error) {
	var rep Report
	r, err := ledger.NewReplayer(c.genesis, c.m)
	if err != nil {
		return rep, err
	}
	rep.ChainID = c.genesis.ChainID
	err = c.db.View(func(tx *bolt.Tx) error {
		height := getU64(tx.Bucket(bucketMeta).Get(keyHeight))
		blocks, txs := tx.Bucket(bucketBlocks), tx.Bucket(bucketTxs)
		if n := uint64(blocks.Stats().KeyN); n != height {
			return fmt.Errorf("the store says height %d but holds %d blocks", height, n)
		}
		var snapHeight uint64
		var snapState []byte
		if sb := tx.Bucket(bucketSnapshot); sb != nil {
			snapHeight, snapState = getU64(sb.Get(keyHeight)), sb.Get(keyState)
		}
		for h := uint64(1); h <= height; h++ {
			rec, err := blockAt(blocks, h)
			if err != nil {
				return err
			}
			if err := r.Next(rec); err != nil {
				return err
			}
			for i, raw := range rec.Txs {
				th := ledger.TxHash(raw)
				loc := txs.Get(th[:])
				if len(loc) != 12 || binary.BigEndian.Uint64(loc) > h {
					return fmt.Errorf("block %d tx %d (%s): missing from the transaction index", h, i, th)
				}
			}
			if snapState != nil && h == snapHeight && !bytes.Equal(snapState, r.State().Encode()) {
				return fmt.Errorf("the snapshot at height %d differs from the replayed state", h)
			}
			rep.Height, rep.AppHash = h, rec.AppHash
			if progress != nil {
				progress(h)
			}
		}
		if height == 0 {
			rep.AppHash = r.State().AppHash()
		}
		return nil
	})
	rep.Blocks, rep.Txs = r.Blocks, r.Txs
	if err != nil {
		return rep, fmt.Errorf("verify %s: %w", c.path, err)
	}
	if c.Height() == rep.Height && c.AppHash() != rep.AppHash {
		return rep, fmt.Errorf("verify %s: the opened state's app hash %s differs from the replay's %s", c.path, c.AppHash(), rep.AppHash)
	}
	return rep, nil
}
