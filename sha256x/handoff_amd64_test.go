//go:build !purego

package sha256x

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestStateEncoding checks that the hand-off encodes a state exactly as
// crypto/sha256 does; if it did not, UnmarshalBinary would refuse it and
// hand-offs would silently rehash from the start.
func TestStateEncoding(t *testing.T) {
	h := sha256.New()
	h.Write(bytes.Repeat([]byte{7}, 192))
	want, err := h.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var st [8]uint32
	for w := range st {
		st[w] = binary.BigEndian.Uint32(want[4+4*w:])
	}
	if got := appendState(nil, &st, 192); !bytes.Equal(got, want) {
		t.Fatalf("state encoding\n got %x\nwant %x", got, want)
	}
}

// TestHandOff leaves one long message alone in the lanes, at a block
// boundary in its body and in its tail, so crypto/sha256 finishes it.
func TestHandOff(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, long := range []int{100_000, 100_032, 100_060, 64 * 1000} {
		msgs := [][]byte{fill(r, long)}
		for range 16 {
			msgs = append(msgs, fill(r, 100))
		}
		check(t, msgs)
		// Long messages differing only in the tail.
		msgs = msgs[:0]
		for i := range 5 {
			msgs = append(msgs, fill(r, long+i))
		}
		check(t, msgs)
	}
}
