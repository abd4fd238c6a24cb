package proof

import (
	"crypto/ed25519"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// signEd25519 returns ed25519.Sign(key, msg): the same 64 bytes, since an
// Ed25519 signature is a function of the key and the message alone. It
// signs with curve25519-voi, in ~10 µs where crypto/ed25519 takes ~18:
// the standard library expands the seed and recomputes the public key
// (one more scalar multiplication) on every call, to check the key, and
// a node signs a receipt for every forward call. Verification stays with
// crypto/ed25519, so what any party accepts does not change.
func signEd25519(key ed25519.PrivateKey, msg []byte) []byte {
	return voi.Sign(voi.PrivateKey(key), msg)
}
