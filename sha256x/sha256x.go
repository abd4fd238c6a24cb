// Package sha256x hashes many independent messages at once with SHA-256.
//
// A trace commitment hashes dozens to thousands of vectors per forward
// call, each on its own. One message at a time, even the CPU's SHA
// instructions leave most of the core idle; carrying one message in each
// 32-bit lane of a wide vector register computes 16 hashes in the time of
// a few. The result is plain SHA-256, bit for bit, so nothing that reads
// the hashes changes.
package sha256x

import "crypto/sha256"

//go:generate go run gen.go

// Lanes is how many messages the widest kernel hashes side by side:
// batches of at least Lanes messages make the most of it.
const Lanes = 16

// SumMany sets out[i] to the SHA-256 digest of msgs[i] for every i: the
// same bytes crypto/sha256.Sum256 returns. It panics if out is shorter than
// msgs. It starts no goroutines; callers hash separate batches in parallel.
func SumMany(out [][32]byte, msgs [][]byte) {
	out = out[:len(msgs)]
	if useMulti && len(msgs) >= minLanes {
		sumMulti(out, msgs)
		return
	}
	sumEach(out, msgs)
}

// sumEach is the one-message-at-a-time path: the reference and the fallback
// where no multi-buffer kernel runs (or too few messages to fill one).
func sumEach(out [][32]byte, msgs [][]byte) {
	for i, m := range msgs {
		out[i] = sha256.Sum256(m)
	}
}
