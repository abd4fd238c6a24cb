package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// Block is a batch of transactions applied at one height. Time (Unix
// nanoseconds) is the proposer's clock, recorded for people, never read by
// the rules.
type Block struct {
	Height uint64
	Time   int64
	Txs    [][]byte
}

// Result is what one transaction of a block did: CodeOK and its events, or
// the code and reason of its rejection (a rejected transaction in a block
// changed nothing).
type Result struct {
	Code   Code    `json:"code"`
	Log    string  `json:"log,omitempty"`
	Events []Event `json:"events,omitempty"`
}

// BlockRecord is a block with everything applying it produced: the block's
// own events (unbonds released at its start), one Result per transaction,
// and the app hash after it. Stores append these; replaying them from
// genesis must reproduce every Result and AppHash.
type BlockRecord struct {
	Block
	Begin   []Event
	Results []Result
	AppHash Hash
}

// Receipt is what a store returns for a committed transaction.
type Receipt struct {
	TxHash  Hash   `json:"tx_hash"`
	Height  uint64 `json:"height"`
	Index   int    `json:"index"`
	Result  Result `json:"result"`
	AppHash Hash   `json:"app_hash"` // after the transaction's block
}

// HistoryEntry is one line of an account's history: a transaction that
// concerns it, or (Index −1, no TxHash) an unbond released to it.
type HistoryEntry struct {
	Height uint64  `json:"height"`
	Index  int     `json:"index"`
	Time   int64   `json:"time"` // block time, Unix nanoseconds
	TxHash *Hash   `json:"tx_hash,omitempty"`
	Kind   string  `json:"kind"`
	Sender *PubKey `json:"sender,omitempty"`
	Result Result  `json:"result"`
}

// MaxLog is the longest rejection reason kept in a Result.
const MaxLog = 1024

// Builder applies transactions one by one into a new block.
type Builder struct {
	m   Machine
	s   *State
	rec BlockRecord
	err error // see Err
}

// NewBlock begins block height on s (see BeginBlock). s does not change;
// Finish returns the state after the block as a layer over s.
func (m Machine) NewBlock(s *State, height uint64, time int64) (*Builder, error) {
	l, ev, err := m.BeginBlock(s, height)
	if err != nil {
		return nil, err
	}
	return &Builder{m: m, s: l, rec: BlockRecord{Block: Block{Height: height, Time: time}, Begin: ev}}, nil
}

// Apply applies an encoded transaction and adds it to the block whatever
// the outcome, as a CometBFT block holds every transaction the proposer
// included.
func (b *Builder) Apply(raw []byte) Result {
	r, _ := b.apply(raw, true)
	return r
}

// TryApply applies an encoded transaction and adds it to the block only if
// it is accepted, as the solo store does.
func (b *Builder) TryApply(raw []byte) (Result, bool) { return b.apply(raw, false) }

func (b *Builder) apply(raw []byte, keepRejected bool) (Result, bool) {
	var res Result
	tx, err := DecodeTx(raw)
	if err == nil {
		l := b.s.Fork()
		var ev []Event
		if ev, err = b.m.apply(l, tx); err == nil {
			l.Fold()
			res.Events = ev
		}
	}
	if err != nil {
		res.Code = CodeOf(err)
		var r *RejectError
		if errors.As(err, &r) {
			res.Log = r.Reason
		} else {
			res.Log = err.Error()
		}
		if len(res.Log) > MaxLog {
			res.Log = res.Log[:MaxLog]
		}
	}
	if res.Code == CodeUnjudgeable {
		// Not a verdict: this machine cannot apply a block holding it.
		if keepRejected && b.err == nil {
			b.err = fmt.Errorf("ledger: block %d: transaction %s: %s (this node cannot apply the block)",
				b.rec.Height, TxHash(raw), res.Log)
		}
		return res, false
	}
	if res.Code == CodeOK || keepRejected {
		b.rec.Txs = append(b.rec.Txs, bytes.Clone(raw))
		b.rec.Results = append(b.rec.Results, res)
	}
	return res, res.Code == CodeOK
}

// Err is set when Apply met a transaction whose outcome this machine
// cannot decide (CodeUnjudgeable): the block is then incomplete and must
// not be committed; a node that cannot apply a decided block must stop.
func (b *Builder) Err() error { return b.err }

// Len is the number of transactions in the block so far.
func (b *Builder) Len() int { return len(b.rec.Txs) }

// Height is the block's height.
func (b *Builder) Height() uint64 { return b.rec.Height }

// State is the state after the transactions applied so far (a layer:
// read it, do not keep it past the next Apply).
func (b *Builder) State() *State { return b.s }

// Finish computes the app hash and returns the block record and the state
// after the block. The Builder must not be used afterwards.
func (b *Builder) Finish() (BlockRecord, *State) {
	b.rec.AppHash = b.s.AppHash()
	return b.rec, b.s
}

// ApplyBlock applies every transaction of blk to s (rejected ones are
// recorded with their reason and change nothing) and returns the record
// and the new state, a layer over s.
func (m Machine) ApplyBlock(s *State, blk Block) (BlockRecord, *State, error) {
	b, err := m.NewBlock(s, blk.Height, blk.Time)
	if err != nil {
		return BlockRecord{}, s, err
	}
	for _, raw := range blk.Txs {
		b.Apply(raw)
	}
	if b.err != nil {
		return BlockRecord{}, s, b.err
	}
	rec, st := b.Finish()
	return rec, st, nil
}

// Replayer re-applies block records from genesis and checks that each
// reproduces its stored results and app hash.
type Replayer struct {
	m      Machine
	s      *State
	Blocks uint64 // blocks checked
	Txs    uint64 // transactions checked
}

// NewReplayer starts a replay at genesis.
func NewReplayer(g Genesis, m Machine) (*Replayer, error) {
	s, err := NewState(g)
	if err != nil {
		return nil, err
	}
	return &Replayer{m: m, s: s}, nil
}

// NewReplayerAt starts a replay from a trusted state (a verified snapshot).
func NewReplayerAt(s *State, m Machine) *Replayer { return &Replayer{m: m, s: s.Flatten()} }

// Next applies rec (which must follow the last block) and checks it. Every
// accepted transaction's signature is verified again by the rules.
func (r *Replayer) Next(rec BlockRecord) error {
	if len(rec.Txs) != len(rec.Results) {
		return fmt.Errorf("block %d: %d transactions but %d results", rec.Height, len(rec.Txs), len(rec.Results))
	}
	got, s, err := r.m.ApplyBlock(r.s, rec.Block)
	if err != nil {
		return err
	}
	if !bytes.Equal(encodeEvents(nil, got.Begin), encodeEvents(nil, rec.Begin)) {
		return fmt.Errorf("block %d: begin-block events differ from the record", rec.Height)
	}
	for i := range got.Results {
		g, w := got.Results[i], rec.Results[i]
		if g.Code != w.Code {
			return fmt.Errorf("block %d tx %d (%s): replay gives %q (%s), the record says %q (%s)",
				rec.Height, i, TxHash(rec.Txs[i]), g.Code, g.Log, w.Code, w.Log)
		}
		if !bytes.Equal(encodeResult(nil, g), encodeResult(nil, w)) {
			return fmt.Errorf("block %d tx %d (%s): result differs from the record", rec.Height, i, TxHash(rec.Txs[i]))
		}
	}
	if got.AppHash != rec.AppHash {
		return fmt.Errorf("block %d: replay gives app hash %s, the record says %s", rec.Height, got.AppHash, rec.AppHash)
	}
	r.s = s.Fold()
	r.Blocks++
	r.Txs += uint64(len(rec.Txs))
	return nil
}

// State is the state after the last block checked.
func (r *Replayer) State() *State { return r.s }

// Touch says that the transaction at Index of a block concerns Key; Index
// -1 is the block's own events (an unbond released).
type Touch struct {
	Key   PubKey
	Index int
}

// Touches lists which accounts each accepted transaction and each
// begin-block event of the record concerns, for history indexes.
func (r *BlockRecord) Touches() []Touch {
	var out []Touch
	for _, e := range r.Begin {
		for _, a := range e.Attrs {
			if a.Key == "account" {
				if k, err := ParsePubKey(a.Value); err == nil {
					out = append(out, Touch{k, -1})
				}
			}
		}
	}
	for i, raw := range r.Txs {
		if r.Results[i].Code != CodeOK {
			continue
		}
		tx, err := DecodeTx(raw)
		if err != nil {
			continue
		}
		for _, k := range Involved(tx) {
			out = append(out, Touch{k, i})
		}
	}
	return out
}

// --- block record encoding ---

const blockVersion = 1

// Encode returns the canonical encoding of the record:
//
//	version u8 | height u64 | time i64 | n u32 | n × tx (u32 length, bytes)
//	| begin events | n × result | app hash [32]
//	result = code u32 | log (u16 length, bytes) | events
//	events = count u32 | per event: type (u8 length) | count u16 | per attr: key (u8 length) value (u16 length)
func (r *BlockRecord) Encode() []byte {
	size := 64
	for _, t := range r.Txs {
		size += 4 + len(t) + 64
	}
	e := enc{b: make([]byte, 0, size)}
	e.u8(blockVersion)
	e.u64(r.Height)
	e.i64(r.Time)
	e.u32(uint32(len(r.Txs)))
	for _, t := range r.Txs {
		e.bytes32(t)
	}
	e.b = encodeEvents(e.b, r.Begin)
	for _, res := range r.Results {
		e.b = encodeResult(e.b, res)
	}
	e.hash(r.AppHash)
	return e.b
}

func encodeResult(b []byte, r Result) []byte {
	e := enc{b: b}
	e.u32(uint32(r.Code))
	e.str16(r.Log)
	return encodeEvents(e.b, r.Events)
}

func encodeEvents(b []byte, evs []Event) []byte {
	e := enc{b: b}
	e.u32(uint32(len(evs)))
	for _, ev := range evs {
		e.str8(ev.Type)
		e.u16(uint16(len(ev.Attrs)))
		for _, a := range ev.Attrs {
			e.str8(a.Key)
			e.str16(a.Value)
		}
	}
	return e.b
}

// MaxBlockTxs is the most transactions a block record may hold.
const MaxBlockTxs = 1 << 20

// DecodeBlockRecord decodes a record written by Encode.
func DecodeBlockRecord(b []byte) (BlockRecord, error) {
	d := dec{b: b}
	var r BlockRecord
	if v := d.u8(); d.err == nil && v != blockVersion {
		return r, fmt.Errorf("ledger: block record version %d, want %d", v, blockVersion)
	}
	r.Height = d.u64()
	r.Time = d.i64()
	n := d.count(uint64(d.u32()), MaxBlockTxs, 4)
	if n > 0 {
		r.Txs = make([][]byte, n)
		for i := range r.Txs {
			r.Txs[i] = d.bytes32(MaxTxBytes)
		}
	}
	r.Begin = decodeEvents(&d)
	if n > 0 {
		r.Results = make([]Result, n)
		for i := range r.Results {
			r.Results[i] = Result{Code: Code(d.u32()), Log: d.str16(), Events: decodeEvents(&d)}
		}
	}
	r.AppHash = d.hash()
	if err := d.end(); err != nil {
		return BlockRecord{}, fmt.Errorf("ledger: block record: %w", err)
	}
	return r, nil
}

func decodeEvents(d *dec) []Event {
	n := d.count(uint64(d.u32()), 1<<24, 3)
	if n == 0 {
		return nil
	}
	evs := make([]Event, n)
	for i := range evs {
		evs[i].Type = d.str8()
		m := d.count(uint64(d.u16()), 1<<16, 3)
		if m > 0 {
			evs[i].Attrs = make([]Attr, m)
			for j := range evs[i].Attrs {
				evs[i].Attrs[j] = Attr{Key: d.str8(), Value: d.str16()}
			}
		}
	}
	return slices.Clip(evs)
}
