package swarm

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/wire"
)

// Admission is what a node's admission policy (Server.Admit) learns of a
// session a client asks for.
type Admission struct {
	// Payer is the ledger account the client says it pays from; nil when
	// the client named none. When set, the client proved it holds the
	// account's key by signing the request (PayerStatement).
	Payer ed25519.PublicKey
	// Range is the layers the session computes.
	Range model.Range
	// MaxPositions is the positions the node grants the session.
	MaxPositions int
}

// ErrNoPayer is returned by admission policies that require a payer when
// the client named none.
var ErrNoPayer = errors.New("swarm: the node admits only clients that name a ledger account to pay from")

// payerDomain separates payer statements from every other signature made
// with a ledger key.
const payerDomain = "tessera/payer/v1\x00"

// PayerStatement is the digest a client signs with its ledger key to open
// a session as that account's holder. It binds the node (its receipt key;
// nil when unknown), the model, the layers, the positions asked for and
// the session nonce (nil without receipts), so a signature cannot be
// replayed to another node or for another session.
func PayerStatement(nodeKey ed25519.PublicKey, m *wire.OpenSession) [32]byte {
	h := sha256.New()
	h.Write([]byte(payerDomain))
	var key [ed25519.PublicKeySize]byte
	copy(key[:], nodeKey)
	h.Write(key[:])
	h.Write(m.ModelCommit[:])
	var nums [16]byte
	binary.BigEndian.PutUint32(nums[0:], uint32(m.First))
	binary.BigEndian.PutUint32(nums[4:], uint32(m.Last))
	binary.BigEndian.PutUint32(nums[8:], uint32(m.MaxPositions))
	binary.BigEndian.PutUint32(nums[12:], uint32(m.DType))
	h.Write(nums[:])
	var nonce [wire.NonceSize]byte
	copy(nonce[:], m.Nonce)
	h.Write(nonce[:])
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// signPayer fills m's payer fields with key's signature for the node
// known by nodeKey.
func signPayer(m *wire.OpenSession, key ed25519.PrivateKey, nodeKey ed25519.PublicKey) {
	d := PayerStatement(nodeKey, m)
	m.Payer = append([]byte(nil), key.Public().(ed25519.PublicKey)...)
	m.PayerSig = ed25519.Sign(key, d[:])
}

// admit checks the request's payer signature and asks the server's
// admission policy; a refusal is answered with wire.CodeRefused. It
// returns what the policy admitted (nil when there is no policy).
func (s *Server) admit(ctx context.Context, m *wire.OpenSession, maxPos int) (*Admission, *wire.Error) {
	var payer ed25519.PublicKey
	if len(m.Payer) > 0 {
		d := PayerStatement(s.NodeKey(), m)
		if !ed25519.Verify(m.Payer, d[:], m.PayerSig) {
			return nil, wire.NewError(wire.CodeRefused, "the payer signature does not verify (signed for another node or session?)")
		}
		payer = ed25519.PublicKey(m.Payer)
	}
	if s.Admit == nil {
		return nil, nil
	}
	a := Admission{Payer: payer, Range: model.Range{First: m.First, Last: m.Last}, MaxPositions: maxPos}
	if err := s.Admit(ctx, a); err != nil {
		return nil, wire.NewError(wire.CodeRefused, fmt.Sprintf("session refused: %v", err))
	}
	return &a, nil
}
