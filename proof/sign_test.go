package proof

import (
	"bytes"
	"crypto/ed25519"
	"math/rand/v2"
	"testing"
)

// TestSignMatchesStdlib: the receipts' signer gives crypto/ed25519's bytes
// for keys and messages of every length up to a few blocks of SHA-512,
// and they verify.
func TestSignMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 300; i++ {
		seed := make([]byte, ed25519.SeedSize)
		for j := range seed {
			seed[j] = byte(rng.Uint32())
		}
		key := ed25519.NewKeyFromSeed(seed)
		msg := make([]byte, i%(3*128+5))
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		got, want := signEd25519(key, msg), ed25519.Sign(key, msg)
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d (%d-byte message): signature %x, crypto/ed25519 gives %x", i, len(msg), got, want)
		}
		if !ed25519.Verify(key.Public().(ed25519.PublicKey), msg, got) {
			t.Fatalf("case %d: signature does not verify", i)
		}
	}
}

// BenchmarkSignReceipt: signing one receipt's message, the receipts'
// signer against crypto/ed25519 in the same run.
func BenchmarkSignReceipt(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	r := &Receipt{DType: 1, Step: 7, N: 1, Last: 3}
	msg := r.SignedMessage()
	b.Run("tessera", func(b *testing.B) {
		for b.Loop() {
			signEd25519(key, msg)
		}
	})
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(key, msg)
		}
	})
}
