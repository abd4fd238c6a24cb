package ledger

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"strconv"
)

// PubKey is an Ed25519 public key: the address of an account, of a node
// (a node's account is its operator key) and of an auditor. It prints and
// marshals as lower-case hex.
type PubKey [ed25519.PublicKeySize]byte

// Hash is a SHA-256 hash or Merkle root. It prints and marshals as hex.
type Hash [32]byte

// Signature is an Ed25519 signature.
type Signature [ed25519.SignatureSize]byte

// KeyOf returns the public key of an Ed25519 private key.
func KeyOf(priv ed25519.PrivateKey) PubKey {
	var k PubKey
	copy(k[:], priv.Public().(ed25519.PublicKey))
	return k
}

func (k PubKey) String() string { return hex.EncodeToString(k[:]) }
func (h Hash) String() string   { return hex.EncodeToString(h[:]) }

// MarshalText encodes the key as hex.
func (k PubKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a hex key.
func (k *PubKey) UnmarshalText(b []byte) error { return parseHex(k[:], string(b), "public key") }

// MarshalText encodes the hash as hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes a hex hash.
func (h *Hash) UnmarshalText(b []byte) error { return parseHex(h[:], string(b), "hash") }

// MarshalText encodes the signature as hex.
func (s Signature) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(s[:])), nil }

// UnmarshalText decodes a hex signature.
func (s *Signature) UnmarshalText(b []byte) error { return parseHex(s[:], string(b), "signature") }

// ParsePubKey parses a public key written as 64 hex digits.
func ParsePubKey(s string) (PubKey, error) {
	var k PubKey
	return k, parseHex(k[:], s, "public key")
}

// ParseHash parses a hash written as 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	return h, parseHex(h[:], s, "hash")
}

func parseHex(dst []byte, s, what string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%s %q: want %d hex digits, have %d", what, s, 2*len(dst), len(s))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("%s %q: %v", what, s, err)
	}
	return nil
}

// Account is the state of one key: spendable balance, bonded stake, stake
// on its way out (released to the balance at the given heights) and the
// nonce the account's next transaction must carry.
type Account struct {
	Balance   uint64   `json:"balance"`
	Stake     uint64   `json:"stake"`
	Unbonding []Unbond `json:"unbonding,omitempty"`
	Nonce     uint64   `json:"nonce"`
}

// Unbond is stake leaving an account: it still counts as stake (and can be
// slashed) until the block at Release, which moves it to the balance.
type Unbond struct {
	Amount  uint64 `json:"amount"`
	Release uint64 `json:"release_height"`
}

// UnbondingTotal is the total of the account's pending unbonds.
func (a Account) UnbondingTotal() uint64 {
	var t uint64
	for _, u := range a.Unbonding {
		t += u.Amount
	}
	return t
}

// Total is everything the account holds: balance, stake and unbonding.
func (a Account) Total() uint64 { return a.Balance + a.Stake + a.UnbondingTotal() }

// Node is a registered serving node. Its key is its operator's account.
type Node struct {
	Capacity     uint64 `json:"capacity"`   // announced capacity (operator-defined units, e.g. layers)
	Registered   uint64 `json:"registered"` // height of the first registration
	Excluded     bool   `json:"excluded"`   // slashed for fraud: no longer routed to or paid
	ExcludedAt   uint64 `json:"excluded_at,omitempty"`
	WorkUnits    uint64 `json:"work_units"`    // layers × positions over every passed certificate
	Earned       uint64 `json:"earned"`        // credits earned from certificates
	Certificates uint64 `json:"certificates"`  // passed certificates the node appears in
	FailedAudits uint64 `json:"failed_audits"` // failed certificates the node appears in
}

// Work is one node's share of a session: it ran Layers layers over
// Positions token positions, Layers × Positions work units.
type Work struct {
	Node      PubKey `json:"node"`
	Layers    uint32 `json:"layers"`
	Positions uint64 `json:"positions"`
}

// Units is Layers × Positions, and false if that overflows.
func (w Work) Units() (uint64, bool) { return mul(uint64(w.Layers), w.Positions) }

// Certificate is the ledger's record of a submitted certificate and of what
// it moved.
type Certificate struct {
	ID      Hash     `json:"id"`
	Model   Hash     `json:"model"`
	Client  PubKey   `json:"client"`
	Auditor PubKey   `json:"auditor"`
	Tokens  uint64   `json:"tokens"`
	Passed  bool     `json:"passed"`
	Work    []Work   `json:"work"`
	Height  uint64   `json:"height"`
	Charged uint64   `json:"charged"`     // debited from the client
	Fee     uint64   `json:"auditor_fee"` // credited to the auditor
	Earned  []uint64 `json:"earned"`      // credited to Work[i].Node
}

// Fraud is the record of accepted fraud evidence.
type Fraud struct {
	Evidence Hash   `json:"evidence"` // SHA-256 of the evidence bytes
	Node     PubKey `json:"node"`
	Reporter PubKey `json:"reporter"`
	Height   uint64 `json:"height"`
	Slashed  uint64 `json:"slashed"` // taken from the node's stake and unbonding
	Reward   uint64 `json:"reward"`  // paid to the reporter out of Slashed
	Burned   uint64 `json:"burned"`  // Slashed − Reward, destroyed
}

// Supply accounts for every credit: the total held by all accounts
// (balances, stakes, unbonding) always equals Genesis + Minted − Burned.
type Supply struct {
	Genesis uint64 `json:"genesis"`
	Minted  uint64 `json:"minted"` // by the dev-mode faucet
	Burned  uint64 `json:"burned"` // by slashing
}

// Total is the supply now.
func (s Supply) Total() uint64 { return s.Genesis + s.Minted - s.Burned }

// Info summarises the state at a height.
type Info struct {
	ChainID string `json:"chain_id"`
	Height  uint64 `json:"height"`
	AppHash Hash   `json:"app_hash"`
	Supply  Supply `json:"supply"`
	Params  Params `json:"params"`
}

// Event is something a transaction or a block did, in the shape of ABCI
// events so the CometBFT adapter passes them through unchanged.
type Event struct {
	Type  string `json:"type"`
	Attrs []Attr `json:"attrs,omitempty"`
}

// Attr is one key/value of an event.
type Attr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func event(typ string, kv ...string) Event {
	e := Event{Type: typ, Attrs: make([]Attr, 0, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Attrs = append(e.Attrs, Attr{kv[i], kv[i+1]})
	}
	return e
}

func u64s(v uint64) string { return strconv.FormatUint(v, 10) }
