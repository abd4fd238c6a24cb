package proof

import (
	"bytes"
	"crypto/ed25519"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// signEd25519 returns ed25519.Sign(key, msg): the same 64 bytes, since an
// Ed25519 signature is a function of the key and the message alone. It
// signs with curve25519-voi, in ~10 µs where crypto/ed25519 takes ~18:
// the standard library expands the seed and recomputes the public key
// (one more scalar multiplication) on every call, to check the key, and
// a node signs a receipt for every forward call.
func signEd25519(key ed25519.PrivateKey, msg []byte) []byte {
	return voi.Sign(voi.PrivateKey(key), msg)
}

// stdlibRules makes curve25519-voi accept exactly what crypto/ed25519
// accepts (cofactorless equation, canonical S, the same point decoding).
var stdlibRules = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// keyVerifier verifies signatures under one public key, decompressed
// once: a client checks every receipt of a hop under the key the node
// announced, 28 µs a signature this way against 45 µs for
// crypto/ed25519.Verify, which decodes the key each time. Its verdicts
// are crypto/ed25519's (TestKeyVerifierMatchesStdlib,
// FuzzKeyVerifierMatchesStdlib); the ledger and offline checks use
// crypto/ed25519 itself. The zero value is ready to use; a key
// curve25519-voi will not expand is checked with crypto/ed25519.
type keyVerifier struct {
	key ed25519.PublicKey
	exp *voi.ExpandedPublicKey
}

// verify reports whether sig is a valid signature of msg under key.
func (v *keyVerifier) verify(key ed25519.PublicKey, msg, sig []byte) bool {
	if len(key) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	if !bytes.Equal(v.key, key) {
		v.key = append(v.key[:0], key...)
		v.exp = nil
		// A key voi will not expand goes to crypto/ed25519.
		if exp, err := voi.NewExpandedPublicKey(voi.PublicKey(key)); err == nil {
			v.exp = exp
		}
	}
	if v.exp == nil {
		return ed25519.Verify(key, msg, sig)
	}
	return voi.VerifyExpandedWithOptions(v.exp, msg, sig, stdlibRules)
}
