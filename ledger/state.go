package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/tessera-net/tessera/merkle"
)

// State is the ledger's state: a map from record keys to canonically
// encoded records, in layers.
//
// A State made by NewState or DecodeState is a root. Fork returns a layer
// over a state: reads fall through to the parent, writes stay in the layer,
// and the parent does not change. Fold writes a layer into its parent and
// returns the parent, which from then on equals the layer; other layers
// forked from that parent become stale and must be dropped. This is how a
// transaction that fails leaves no trace (its layer is dropped) and how a
// block is built without touching the committed state until it is stored.
// A state must not be written (folded into) while a layer over it is read.
//
// # Records and the app hash
//
// Each record has a key (one byte for its type, then its id) and a value
// (its canonical encoding):
//
//	"m"                        meta: chain id, params, supply
//	"a" || public key          Account
//	"n" || public key          Node
//	"c" || certificate id      Certificate
//	"f" || SHA-256(evidence)   Fraud
//	"u" || height (u64 BE)     the accounts whose unbonding ends at height
//
// An account equal to the zero Account is not stored. The app hash is the
// RFC 6962 Merkle root (package merkle) over the leaf data
//
//	SHA-256(u8 len(key) || key || u32 len(value) || value)
//
// of every record, sorted by key bytes. The height is not a record, so a
// block that changes nothing (an empty block) keeps the app hash, as
// CometBFT expects of a chain that may pause between transactions. Encode
// writes the height and the records, in the same order, as a snapshot.
type State struct {
	parent *State
	kv     map[string]entry
	leaves map[string]Hash // root only: the leaf datum of every key
	height uint64          // of the last block applied (or being built); not a record
}

type entry struct {
	val []byte
	del bool
}

// Record key prefixes.
const (
	prefixMeta    = "m"
	prefixAccount = "a"
	prefixNode    = "n"
	prefixCert    = "c"
	prefixFraud   = "f"
	prefixQueue   = "u"
)

func accountKey(k PubKey) string { return prefixAccount + string(k[:]) }
func nodeKey(k PubKey) string    { return prefixNode + string(k[:]) }
func certKey(id Hash) string     { return prefixCert + string(id[:]) }
func fraudKey(h Hash) string     { return prefixFraud + string(h[:]) }
func queueKey(h uint64) string   { return prefixQueue + string(binary.BigEndian.AppendUint64(nil, h)) }

func newRoot() *State {
	return &State{kv: make(map[string]entry), leaves: make(map[string]Hash)}
}

// NewState returns the state at genesis (height 0).
func NewState(g Genesis) (*State, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	s := newRoot()
	var total uint64
	for _, a := range g.Accounts {
		s.putAccount(a.Key, Account{Balance: a.Balance, Stake: a.Stake})
		total += a.Balance + a.Stake
	}
	s.putMeta(meta{ChainID: g.ChainID, Params: g.Params, Supply: Supply{Genesis: total}})
	return s, nil
}

// Fork returns a new layer over s.
func (s *State) Fork() *State {
	return &State{parent: s, kv: make(map[string]entry), height: s.height}
}

// Fold writes the layer s into its parent and returns the parent. Folding
// a root returns it unchanged.
func (s *State) Fold() *State {
	p := s.parent
	if p == nil {
		return s
	}
	for k, e := range s.kv {
		p.set(k, e)
	}
	p.height = s.height
	s.kv = nil // a folded layer must not be used again
	return p
}

// Flatten returns a root holding the same records as s (s itself if it is
// a root). The layers under s do not change.
func (s *State) Flatten() *State {
	if s.parent == nil {
		return s
	}
	r := newRoot()
	r.height = s.height
	s.each("", func(k string, v []byte) bool {
		r.set(k, entry{val: v})
		return true
	})
	return r
}

func (s *State) set(k string, e entry) {
	if s.parent != nil {
		s.kv[k] = e
		return
	}
	if e.del {
		delete(s.kv, k)
		delete(s.leaves, k)
		return
	}
	s.kv[k] = e
	s.leaves[k] = leafDatum(k, e.val)
}

func (s *State) get(k string) ([]byte, bool) {
	for l := s; l != nil; l = l.parent {
		if e, ok := l.kv[k]; ok {
			if e.del {
				return nil, false
			}
			return e.val, true
		}
	}
	return nil, false
}

func (s *State) put(k string, v []byte) { s.set(k, entry{val: v}) }
func (s *State) del(k string)           { s.set(k, entry{del: true}) }

// merged returns the view of the records whose key starts with prefix as
// one map.
func (s *State) merged(prefix string) map[string][]byte {
	var layers []*State
	for l := s; l != nil; l = l.parent {
		layers = append(layers, l)
	}
	m := make(map[string][]byte)
	for i := len(layers) - 1; i >= 0; i-- {
		for k, e := range layers[i].kv {
			if !strings.HasPrefix(k, prefix) {
				continue
			}
			if e.del {
				delete(m, k)
			} else {
				m[k] = e.val
			}
		}
	}
	return m
}

// each calls fn for every record whose key starts with prefix, in key
// order, until fn returns false.
func (s *State) each(prefix string, fn func(k string, v []byte) bool) {
	m := s.merged(prefix)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !fn(k, m[k]) {
			return
		}
	}
}

func leafDatum(k string, v []byte) Hash {
	h := sha256.New()
	var n [4]byte
	h.Write([]byte{byte(len(k))})
	h.Write([]byte(k))
	binary.BigEndian.PutUint32(n[:], uint32(len(v)))
	h.Write(n[:])
	h.Write(v)
	var d Hash
	h.Sum(d[:0])
	return d
}

// AppHash is the Merkle root over every record (see State).
func (s *State) AppHash() Hash {
	var layers []*State
	for l := s; l != nil; l = l.parent {
		layers = append(layers, l)
	}
	root := layers[len(layers)-1]
	leaves := root.leaves
	if len(layers) > 1 {
		leaves = make(map[string]Hash, len(root.leaves)+16)
		for k, d := range root.leaves {
			leaves[k] = d
		}
		for i := len(layers) - 2; i >= 0; i-- {
			for k, e := range layers[i].kv {
				if e.del {
					delete(leaves, k)
				} else {
					leaves[k] = leafDatum(k, e.val)
				}
			}
		}
	}
	keys := make([]string, 0, len(leaves))
	for k := range leaves {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	data := make([][merkle.Size]byte, len(keys))
	for i, k := range keys {
		data[i] = leaves[k]
	}
	return merkle.Root(data)
}

// Encode returns the canonical snapshot of the state: the height (u64),
// the number of records (u64), then each record in key order as key (u8
// length, bytes) and value (u32 length, bytes).
func (s *State) Encode() []byte {
	m := s.merged("")
	keys := make([]string, 0, len(m))
	size := 16
	for k, v := range m {
		keys = append(keys, k)
		size += 1 + len(k) + 4 + len(v)
	}
	slices.Sort(keys)
	e := enc{b: make([]byte, 0, size)}
	e.u64(s.height)
	e.u64(uint64(len(keys)))
	for _, k := range keys {
		e.str8(k)
		e.bytes32(m[k])
	}
	return e.b
}

// DecodeState decodes a snapshot written by Encode. It checks the framing
// and the key order, and that every record decodes; the caller checks the
// app hash against a trusted one.
func DecodeState(b []byte) (*State, error) {
	d := dec{b: b}
	s := newRoot()
	s.height = d.u64()
	n := d.count(d.u64(), 1<<30, 1+4) // the remaining-bytes check is the real bound
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str8()
		v := d.bytes32(1 << 30)
		if d.err != nil {
			break
		}
		if i > 0 && k <= prev {
			return nil, fmt.Errorf("ledger: state snapshot: keys out of order")
		}
		if err := checkRecord(k, v); err != nil {
			return nil, fmt.Errorf("ledger: state snapshot: %w", err)
		}
		prev = k
		s.put(k, v)
	}
	if err := d.end(); err != nil {
		return nil, fmt.Errorf("ledger: state snapshot: %w", err)
	}
	if _, ok := s.get(prefixMeta); !ok {
		return nil, fmt.Errorf("ledger: state snapshot: no meta record")
	}
	return s, nil
}

// checkRecord decodes a record to check it is well formed.
func checkRecord(k string, v []byte) error {
	if k == "" {
		return fmt.Errorf("empty key")
	}
	idLen := 32
	var err error
	switch k[:1] {
	case prefixMeta:
		idLen = 0
		_, err = decodeMeta(v)
	case prefixAccount:
		_, err = decodeAccount(v)
	case prefixNode:
		_, err = decodeNode(v)
	case prefixCert:
		_, err = decodeCert(v)
	case prefixFraud:
		_, err = decodeFraud(v)
	case prefixQueue:
		idLen = 8
		_, err = decodeKeys(v)
	default:
		return fmt.Errorf("unknown record type %q", k[:1])
	}
	if len(k) != 1+idLen {
		return fmt.Errorf("record key of %d bytes for type %q", len(k), k[:1])
	}
	if err != nil {
		return fmt.Errorf("record %q: %w", k[:1], err)
	}
	return nil
}

// --- typed records ---

type meta struct {
	ChainID string
	Params  Params
	Supply  Supply
}

func (m meta) encode() []byte {
	e := enc{}
	e.str8(m.ChainID)
	p := m.Params
	e.bool(p.DevMode)
	e.u64(p.FaucetMax)
	e.u64(p.PricePerTokenLayer)
	e.u32(p.AuditorFeeBps)
	e.u64(p.UnbondingBlocks)
	e.u64(p.MinNodeStake)
	e.u32(p.SlashBps)
	e.u32(p.ReporterRewardBps)
	e.u64(m.Supply.Genesis)
	e.u64(m.Supply.Minted)
	e.u64(m.Supply.Burned)
	return e.b
}

func decodeMeta(b []byte) (meta, error) {
	d := dec{b: b}
	m := meta{ChainID: d.str8()}
	m.Params = Params{
		DevMode: d.bool(), FaucetMax: d.u64(), PricePerTokenLayer: d.u64(),
		AuditorFeeBps: d.u32(), UnbondingBlocks: d.u64(), MinNodeStake: d.u64(),
		SlashBps: d.u32(), ReporterRewardBps: d.u32(),
	}
	m.Supply = Supply{Genesis: d.u64(), Minted: d.u64(), Burned: d.u64()}
	return m, d.end()
}

func encodeAccount(a Account) []byte {
	e := enc{}
	e.u64(a.Balance)
	e.u64(a.Stake)
	e.u64(a.Nonce)
	e.u16(uint16(len(a.Unbonding)))
	for _, u := range a.Unbonding {
		e.u64(u.Amount)
		e.u64(u.Release)
	}
	return e.b
}

func decodeAccount(b []byte) (Account, error) {
	d := dec{b: b}
	a := Account{Balance: d.u64(), Stake: d.u64(), Nonce: d.u64()}
	n := d.count(uint64(d.u16()), MaxUnbonding, 16)
	if n > 0 {
		a.Unbonding = make([]Unbond, n)
		for i := range a.Unbonding {
			a.Unbonding[i] = Unbond{Amount: d.u64(), Release: d.u64()}
		}
	}
	return a, d.end()
}

func encodeNode(n Node) []byte {
	e := enc{}
	e.u64(n.Capacity)
	e.u64(n.Registered)
	e.bool(n.Excluded)
	e.u64(n.ExcludedAt)
	e.u64(n.WorkUnits)
	e.u64(n.Earned)
	e.u64(n.Certificates)
	e.u64(n.FailedAudits)
	return e.b
}

func decodeNode(b []byte) (Node, error) {
	d := dec{b: b}
	n := Node{Capacity: d.u64(), Registered: d.u64(), Excluded: d.bool(), ExcludedAt: d.u64(),
		WorkUnits: d.u64(), Earned: d.u64(), Certificates: d.u64(), FailedAudits: d.u64()}
	return n, d.end()
}

func encodeCert(c Certificate) []byte {
	e := enc{}
	e.hash(c.ID)
	e.hash(c.Model)
	e.key(c.Client)
	e.key(c.Auditor)
	e.u64(c.Tokens)
	e.bool(c.Passed)
	e.u64(c.Height)
	e.u64(c.Charged)
	e.u64(c.Fee)
	e.u16(uint16(len(c.Work)))
	for i, w := range c.Work {
		e.key(w.Node)
		e.u32(w.Layers)
		e.u64(w.Positions)
		e.u64(c.Earned[i])
	}
	return e.b
}

func decodeCert(b []byte) (Certificate, error) {
	d := dec{b: b}
	c := Certificate{ID: d.hash(), Model: d.hash(), Client: d.key(), Auditor: d.key(),
		Tokens: d.u64(), Passed: d.bool(), Height: d.u64(), Charged: d.u64(), Fee: d.u64()}
	n := d.count(uint64(d.u16()), MaxWork, workBytes+8)
	c.Work = make([]Work, n)
	c.Earned = make([]uint64, n)
	for i := 0; i < n; i++ {
		c.Work[i] = Work{Node: d.key(), Layers: d.u32(), Positions: d.u64()}
		c.Earned[i] = d.u64()
	}
	return c, d.end()
}

func encodeFraud(f Fraud) []byte {
	e := enc{}
	e.hash(f.Evidence)
	e.key(f.Node)
	e.key(f.Reporter)
	e.u64(f.Height)
	e.u64(f.Slashed)
	e.u64(f.Reward)
	e.u64(f.Burned)
	return e.b
}

func decodeFraud(b []byte) (Fraud, error) {
	d := dec{b: b}
	f := Fraud{Evidence: d.hash(), Node: d.key(), Reporter: d.key(), Height: d.u64(),
		Slashed: d.u64(), Reward: d.u64(), Burned: d.u64()}
	return f, d.end()
}

func encodeKeys(keys []PubKey) []byte {
	e := enc{}
	e.u32(uint32(len(keys)))
	for _, k := range keys {
		e.key(k)
	}
	return e.b
}

func decodeKeys(b []byte) ([]PubKey, error) {
	d := dec{b: b}
	n := d.count(uint64(d.u32()), 1<<30, 32)
	keys := make([]PubKey, n)
	for i := range keys {
		keys[i] = d.key()
	}
	return keys, d.end()
}

// must panics on a record that does not decode: records are written only
// by this package, so a failure is a bug or memory corruption, never input.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("ledger: corrupt state record: %v", err))
	}
	return v
}

func (s *State) meta() meta {
	b, ok := s.get(prefixMeta)
	if !ok {
		panic("ledger: state has no meta record")
	}
	return must(decodeMeta(b))
}

func (s *State) putMeta(m meta) { s.put(prefixMeta, m.encode()) }

func (s *State) putAccount(k PubKey, a Account) {
	if a.Balance == 0 && a.Stake == 0 && a.Nonce == 0 && len(a.Unbonding) == 0 {
		s.del(accountKey(k))
		return
	}
	s.put(accountKey(k), encodeAccount(a))
}

func (s *State) putNode(k PubKey, n Node)      { s.put(nodeKey(k), encodeNode(n)) }
func (s *State) putCert(c Certificate)         { s.put(certKey(c.ID), encodeCert(c)) }
func (s *State) putFraud(f Fraud)              { s.put(fraudKey(f.Evidence), encodeFraud(f)) }
func (s *State) queue(h uint64) []PubKey       { return getRecord(s, queueKey(h), decodeKeys) }
func (s *State) putQueue(h uint64, k []PubKey) { s.put(queueKey(h), encodeKeys(k)) }
func (s *State) dropQueue(h uint64)            { s.del(queueKey(h)) }
func getRecord[T any](s *State, k string, decode func([]byte) (T, error)) T {
	b, ok := s.get(k)
	if !ok {
		var zero T
		return zero
	}
	return must(decode(b))
}

// --- public reads ---

// ChainID is the chain's id.
func (s *State) ChainID() string { return s.meta().ChainID }

// Height is the height of the last block applied (0 at genesis), or of the
// block being applied while a block is built.
func (s *State) Height() uint64 { return s.height }

// Params are the chain's parameters.
func (s *State) Params() Params { return s.meta().Params }

// Supply is the chain's credit supply.
func (s *State) Supply() Supply { return s.meta().Supply }

// Info summarises the state, app hash included (which costs a pass over
// every record).
func (s *State) Info() Info {
	m := s.meta()
	return Info{ChainID: m.ChainID, Height: s.height, AppHash: s.AppHash(), Supply: m.Supply, Params: m.Params}
}

// Account returns the account of k (the zero Account if it holds nothing
// and has sent nothing).
func (s *State) Account(k PubKey) Account { return getRecord(s, accountKey(k), decodeAccount) }

// Node returns the registered node k.
func (s *State) Node(k PubKey) (Node, bool) {
	b, ok := s.get(nodeKey(k))
	if !ok {
		return Node{}, false
	}
	return must(decodeNode(b)), true
}

// Certificate returns the settled certificate id.
func (s *State) Certificate(id Hash) (Certificate, bool) {
	b, ok := s.get(certKey(id))
	if !ok {
		return Certificate{}, false
	}
	return must(decodeCert(b)), true
}

// Fraud returns the fraud record of the evidence whose SHA-256 is h.
func (s *State) Fraud(h Hash) (Fraud, bool) {
	b, ok := s.get(fraudKey(h))
	if !ok {
		return Fraud{}, false
	}
	return must(decodeFraud(b)), true
}

// Accounts calls fn for every stored account in key order until fn
// returns false.
func (s *State) Accounts(fn func(PubKey, Account) bool) {
	s.each(prefixAccount, func(k string, v []byte) bool {
		return fn(PubKey([]byte(k[1:])), must(decodeAccount(v)))
	})
}

// Nodes calls fn for every registered node in key order until fn returns
// false.
func (s *State) Nodes(fn func(PubKey, Node) bool) {
	s.each(prefixNode, func(k string, v []byte) bool {
		return fn(PubKey([]byte(k[1:])), must(decodeNode(v)))
	})
}
