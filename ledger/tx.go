package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
)

// Kind identifies a transaction body.
type Kind uint8

// Transaction kinds. The numbers are part of the encoding.
const (
	KindTransfer     Kind = 1
	KindStake        Kind = 2
	KindUnstake      Kind = 3
	KindRegisterNode Kind = 4
	KindCertificate  Kind = 5
	KindEvidence     Kind = 6
	KindFaucet       Kind = 7
)

var kindNames = map[Kind]string{
	KindTransfer:     "transfer",
	KindStake:        "stake",
	KindUnstake:      "unstake",
	KindRegisterNode: "register_node",
	KindCertificate:  "certificate",
	KindEvidence:     "evidence",
	KindFaucet:       "faucet",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Limits of the encoding.
const (
	TxVersion   = 1         // the encoding version this package writes and reads
	MaxTxBytes  = 128 << 10 // no valid transaction is larger
	MaxWork     = 1024      // nodes in one certificate
	MaxEvidence = 64 << 10  // bytes of fraud evidence
)

// Domain-separation prefixes of what is signed.
const (
	txSignDomain   = "tessera/ledger/tx/v1\x00"
	certSignDomain = "tessera/ledger/certificate/v1\x00"
)

// Tx is a signed transaction. Sender signs SignBytes (which include the
// chain id and the nonce, so a transaction is valid on one chain, once).
type Tx struct {
	ChainID string
	Sender  PubKey
	Nonce   uint64
	Body    Body
	Sig     Signature
}

// Body is the kind-specific part of a transaction: one of *Transfer,
// *Stake, *Unstake, *RegisterNode, *SubmitCertificate, *SubmitEvidence,
// *Faucet.
type Body interface {
	Kind() Kind
	encode(e *enc)
	decode(d *dec)
}

// Transfer moves Amount from the sender's balance to To.
type Transfer struct {
	To     PubKey
	Amount uint64
}

// Stake bonds Amount of the sender's balance.
type Stake struct{ Amount uint64 }

// Unstake starts returning Amount of the sender's stake to its balance,
// after Params.UnbondingBlocks blocks.
type Unstake struct{ Amount uint64 }

// RegisterNode registers the sender as a serving node (or updates its
// announced capacity). The sender's stake must reach Params.MinNodeStake.
type RegisterNode struct{ Capacity uint64 }

// SubmitCertificate records a verified session and settles it: the client
// (who must be the sender) pays for the work units, each node earns its
// share, the auditor earns its fee. AuditorSig is the auditor's signature
// of CertSignBytes, attesting the work and the outcome.
type SubmitCertificate struct {
	ID         Hash   // certificate id; each is settled once
	Model      Hash   // model commitment
	Client     PubKey // pays
	Auditor    PubKey // attests, earns the fee
	Tokens     uint64 // token positions of the session; bounds each Work.Positions
	Passed     bool   // audit outcome; a failed audit pays only the auditor
	Work       []Work // per node, in the order the nodes served
	AuditorSig Signature
}

// SubmitEvidence reports fraud by Node. The state machine re-checks the
// evidence with its EvidenceChecker; valid evidence slashes the node.
type SubmitEvidence struct {
	Node     PubKey
	Evidence []byte
}

// Faucet mints Amount to the sender; only in dev mode.
type Faucet struct{ Amount uint64 }

func (*Transfer) Kind() Kind          { return KindTransfer }
func (*Stake) Kind() Kind             { return KindStake }
func (*Unstake) Kind() Kind           { return KindUnstake }
func (*RegisterNode) Kind() Kind      { return KindRegisterNode }
func (*SubmitCertificate) Kind() Kind { return KindCertificate }
func (*SubmitEvidence) Kind() Kind    { return KindEvidence }
func (*Faucet) Kind() Kind            { return KindFaucet }

func (b *Transfer) encode(e *enc)     { e.key(b.To); e.u64(b.Amount) }
func (b *Transfer) decode(d *dec)     { b.To = d.key(); b.Amount = d.u64() }
func (b *Stake) encode(e *enc)        { e.u64(b.Amount) }
func (b *Stake) decode(d *dec)        { b.Amount = d.u64() }
func (b *Unstake) encode(e *enc)      { e.u64(b.Amount) }
func (b *Unstake) decode(d *dec)      { b.Amount = d.u64() }
func (b *RegisterNode) encode(e *enc) { e.u64(b.Capacity) }
func (b *RegisterNode) decode(d *dec) { b.Capacity = d.u64() }
func (b *Faucet) encode(e *enc)       { e.u64(b.Amount) }
func (b *Faucet) decode(d *dec)       { b.Amount = d.u64() }

func (b *SubmitEvidence) encode(e *enc) { e.key(b.Node); e.bytes32(b.Evidence) }
func (b *SubmitEvidence) decode(d *dec) { b.Node = d.key(); b.Evidence = d.bytes32(MaxEvidence) }

// encodeUnsigned writes everything but the auditor signature.
func (b *SubmitCertificate) encodeUnsigned(e *enc) {
	e.hash(b.ID)
	e.hash(b.Model)
	e.key(b.Client)
	e.key(b.Auditor)
	e.u64(b.Tokens)
	e.bool(b.Passed)
	e.u16(uint16(len(b.Work)))
	for _, w := range b.Work {
		e.key(w.Node)
		e.u32(w.Layers)
		e.u64(w.Positions)
	}
}

func (b *SubmitCertificate) encode(e *enc) {
	b.encodeUnsigned(e)
	e.raw(b.AuditorSig[:])
}

const workBytes = 32 + 4 + 8

func (b *SubmitCertificate) decode(d *dec) {
	b.ID = d.hash()
	b.Model = d.hash()
	b.Client = d.key()
	b.Auditor = d.key()
	b.Tokens = d.u64()
	b.Passed = d.bool()
	n := d.count(uint64(d.u16()), MaxWork, workBytes)
	if n > 0 {
		b.Work = make([]Work, n)
		for i := range b.Work {
			b.Work[i] = Work{Node: d.key(), Layers: d.u32(), Positions: d.u64()}
		}
	}
	b.AuditorSig = d.sig()
}

// CertSignBytes are the bytes the auditor signs: a domain prefix, the chain
// id and the certificate without its signature.
func (b *SubmitCertificate) CertSignBytes(chainID string) []byte {
	e := enc{b: make([]byte, 0, 256+len(b.Work)*workBytes)}
	e.raw([]byte(certSignDomain))
	e.str8(chainID)
	b.encodeUnsigned(&e)
	return e.b
}

// SignAuditor sets AuditorSig with the auditor's key for chainID.
func (b *SubmitCertificate) SignAuditor(chainID string, auditor ed25519.PrivateKey) {
	copy(b.AuditorSig[:], ed25519.Sign(auditor, b.CertSignBytes(chainID)))
}

func newBody(k Kind) Body {
	switch k {
	case KindTransfer:
		return new(Transfer)
	case KindStake:
		return new(Stake)
	case KindUnstake:
		return new(Unstake)
	case KindRegisterNode:
		return new(RegisterNode)
	case KindCertificate:
		return new(SubmitCertificate)
	case KindEvidence:
		return new(SubmitEvidence)
	case KindFaucet:
		return new(Faucet)
	}
	return nil
}

// encodeUnsigned writes the transaction without its signature:
//
//	version u8 | kind u8 | chain id (u8 length, bytes) | sender [32] | nonce u64 | body
func (tx *Tx) encodeUnsigned(e *enc) {
	e.u8(TxVersion)
	e.u8(uint8(tx.Body.Kind()))
	e.str8(tx.ChainID)
	e.key(tx.Sender)
	e.u64(tx.Nonce)
	tx.Body.encode(e)
}

// SignBytes are the bytes the sender signs: a domain prefix followed by
// the unsigned encoding (which includes the chain id and the nonce).
func (tx *Tx) SignBytes() []byte {
	e := enc{b: make([]byte, 0, 128)}
	e.raw([]byte(txSignDomain))
	tx.encodeUnsigned(&e)
	return e.b
}

// Encode returns the canonical encoding: the unsigned encoding followed by
// the 64-byte signature.
func (tx *Tx) Encode() []byte {
	e := enc{b: make([]byte, 0, 128)}
	tx.encodeUnsigned(&e)
	e.raw(tx.Sig[:])
	return e.b
}

// Sign sets Sender and Sig from priv.
func (tx *Tx) Sign(priv ed25519.PrivateKey) {
	tx.Sender = KeyOf(priv)
	copy(tx.Sig[:], ed25519.Sign(priv, tx.SignBytes()))
}

// VerifySignature reports whether Sig is Sender's signature of SignBytes.
func (tx *Tx) VerifySignature() bool {
	return ed25519.Verify(tx.Sender[:], tx.SignBytes(), tx.Sig[:])
}

// Hash is the SHA-256 of the encoding: the transaction's id.
func (tx *Tx) Hash() Hash { return sha256.Sum256(tx.Encode()) }

// TxHash is the id of an encoded transaction.
func TxHash(raw []byte) Hash { return sha256.Sum256(raw) }

// DecodeTx decodes a canonical transaction encoding. It rejects anything
// Encode would not have produced: unknown versions or kinds, bad lengths,
// booleans other than 0 and 1, trailing bytes, oversize input. It does not
// check the signature or any rule of the state machine.
func DecodeTx(b []byte) (*Tx, error) {
	if len(b) > MaxTxBytes {
		return nil, fmt.Errorf("ledger: transaction of %d bytes exceeds %d", len(b), MaxTxBytes)
	}
	d := dec{b: b}
	if v := d.u8(); d.err == nil && v != TxVersion {
		return nil, fmt.Errorf("ledger: transaction version %d, want %d", v, TxVersion)
	}
	k := Kind(d.u8())
	tx := &Tx{}
	if d.err == nil {
		if tx.Body = newBody(k); tx.Body == nil {
			return nil, fmt.Errorf("ledger: unknown transaction kind %d", k)
		}
	}
	tx.ChainID = d.str8()
	if d.err == nil {
		if err := validChainID(tx.ChainID); err != nil {
			return nil, fmt.Errorf("ledger: transaction: %w", err)
		}
	}
	tx.Sender = d.key()
	tx.Nonce = d.u64()
	if d.err == nil {
		tx.Body.decode(&d)
	}
	tx.Sig = d.sig()
	if err := d.end(); err != nil {
		return nil, fmt.Errorf("ledger: transaction: %w", err)
	}
	return tx, nil
}

// Involved lists the accounts a transaction concerns (sender first, no
// repeats): the ones whose history shows it.
func Involved(tx *Tx) []PubKey {
	keys := []PubKey{tx.Sender}
	addKey := func(k PubKey) {
		for _, have := range keys {
			if have == k {
				return
			}
		}
		keys = append(keys, k)
	}
	switch b := tx.Body.(type) {
	case *Transfer:
		addKey(b.To)
	case *SubmitCertificate:
		addKey(b.Client)
		addKey(b.Auditor)
		for _, w := range b.Work {
			addKey(w.Node)
		}
	case *SubmitEvidence:
		addKey(b.Node)
	}
	return keys
}
