package proof

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
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

// ed25519Edges are point encodings where Ed25519 implementations differ:
// the eight small-order points, and non-canonical encodings (y ≥ p, and
// with the sign bit set), which crypto/ed25519 decodes.
func ed25519Edges(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, h := range []string{
		"0100000000000000000000000000000000000000000000000000000000000000",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0000000000000000000000000000000000000000000000000000000000000080",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
		"0100000000000000000000000000000000000000000000000000000000000080",
	} {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	// y = p + k for k = 0..18 (p = 2^255 - 19), sign bit clear and set.
	for k := 0; k <= 18; k++ {
		b := bytes.Repeat([]byte{0xff}, 32)
		b[0] = byte(0xed + k)
		b[31] = 0x7f
		out = append(out, b, append(append([]byte(nil), b[:31]...), 0xff))
	}
	return out
}

// ed25519Scalars are S values: 0, 1, L-1, L, L+1 and 2^253 (all but
// the first three are non-canonical and must be refused), little-endian.
func ed25519Scalars() [][]byte {
	l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	add := func(d int) []byte {
		b := append([]byte(nil), l...)
		carry := d
		for i := 0; i < 32 && carry != 0; i++ {
			v := int(b[i]) + carry
			b[i] = byte(v)
			carry = v >> 8
			if v < 0 {
				b[i] = byte(v + 256)
				carry = -1
			}
		}
		return b
	}
	zero, one, big := make([]byte, 32), make([]byte, 32), make([]byte, 32)
	one[0] = 1
	big[31] = 0x20
	return [][]byte{zero, one, add(-1), l, add(1), big}
}

// TestKeyVerifierMatchesStdlib: the receipts' verifier accepts exactly
// what crypto/ed25519 accepts: valid signatures, signatures with bits
// flipped anywhere, and the encodings where implementations disagree
// (small-order and non-canonical keys and R, non-canonical S).
func TestKeyVerifierMatchesStdlib(t *testing.T) {
	check := func(v *keyVerifier, key, msg, sig []byte, what string) {
		t.Helper()
		want := ed25519.Verify(key, msg, sig)
		if got := v.verify(key, msg, sig); got != want {
			t.Fatalf("%s: key %x sig %x: verifier says %v, crypto/ed25519 %v", what, key, sig, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(4, 2))
	var v keyVerifier
	accepted := 0
	for i := 0; i < 60; i++ {
		seed := make([]byte, ed25519.SeedSize)
		for j := range seed {
			seed[j] = byte(rng.Uint32())
		}
		key := ed25519.NewKeyFromSeed(seed)
		pub := key.Public().(ed25519.PublicKey)
		msg := []byte(fmt.Sprintf("receipt %d", i))
		sig := ed25519.Sign(key, msg)
		check(&v, pub, msg, sig, "valid")
		accepted++
		for k := 0; k < 8; k++ {
			bad := append([]byte(nil), sig...)
			bad[rng.IntN(len(bad))] ^= 1 << rng.IntN(8)
			check(&v, pub, msg, bad, "flipped signature bit")
			badKey := append(ed25519.PublicKey(nil), pub...)
			badKey[rng.IntN(len(badKey))] ^= 1 << rng.IntN(8)
			check(&v, badKey, msg, sig, "flipped key bit")
		}
		check(&v, pub, append(msg, 0), sig, "other message")
	}
	msg := []byte("m")
	edges := ed25519Edges(t)
	for _, a := range edges {
		var fresh keyVerifier
		for _, r := range edges {
			for _, s := range ed25519Scalars() {
				sig := append(append([]byte(nil), r...), s...)
				check(&fresh, a, msg, sig, "edge")
				if ed25519.Verify(a, msg, sig) {
					accepted++
				}
			}
		}
	}
	if accepted <= 60 {
		t.Fatal("no edge case was accepted by crypto/ed25519: the table tests nothing beyond rejection")
	}
}

// FuzzKeyVerifierMatchesStdlib: for any key, message and signature bytes
// the receipts' verifier and crypto/ed25519 agree, with the key expanded
// afresh and reused from the previous input.
func FuzzKeyVerifierMatchesStdlib(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	f.Add([]byte(pub), []byte("m"), ed25519.Sign(key, []byte("m")))
	for i, e := range ed25519Edges(f) {
		s := ed25519Scalars()[i%6]
		f.Add(e, []byte("m"), append(append([]byte(nil), e...), s...))
	}
	var reused keyVerifier
	f.Fuzz(func(t *testing.T, key, msg, sig []byte) {
		want := ed25519.PublicKeySize == len(key) && ed25519.SignatureSize == len(sig) && ed25519.Verify(key, msg, sig)
		var fresh keyVerifier
		if got := fresh.verify(key, msg, sig); got != want {
			t.Fatalf("key %x sig %x: verifier %v, crypto/ed25519 %v", key, sig, got, want)
		}
		if got := reused.verify(key, msg, sig); got != want {
			t.Fatalf("key %x sig %x: reused verifier %v, crypto/ed25519 %v", key, sig, got, want)
		}
	})
}

// BenchmarkVerifyReceiptSignature: one receipt's signature under a known
// key, the receipts' verifier against crypto/ed25519 in the same run.
func BenchmarkVerifyReceiptSignature(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	msg := (&Receipt{DType: 1, Step: 7, N: 1, Last: 3}).SignedMessage()
	sig := ed25519.Sign(key, msg)
	b.Run("tessera", func(b *testing.B) {
		var v keyVerifier
		for b.Loop() {
			if !v.verify(pub, msg, sig) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("rejected")
			}
		}
	})
}
