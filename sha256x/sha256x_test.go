package sha256x

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
)

// check hashes msgs through SumMany and, where the CPU runs it, through
// the multi-buffer driver directly (which SumMany skips for small batches),
// and compares both with crypto/sha256.
func check(t *testing.T, msgs [][]byte) {
	t.Helper()
	out := make([][32]byte, len(msgs))
	SumMany(out, msgs)
	multi := make([][32]byte, len(msgs))
	if useMulti {
		sumMulti(multi, msgs)
	} else {
		sumEach(multi, msgs)
	}
	for i, m := range msgs {
		want := sha256.Sum256(m)
		if out[i] != want {
			t.Fatalf("SumMany: message %d of %d (len %d): got %x, want %x", i, len(msgs), len(m), out[i], want)
		}
		if multi[i] != want {
			t.Fatalf("sumMulti: message %d of %d (len %d): got %x, want %x", i, len(msgs), len(m), multi[i], want)
		}
	}
}

// fill returns n bytes that differ between calls with different seeds.
func fill(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// lengths around every padding boundary plus the trace's vector sizes.
var lengths = []int{0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129, 1024, 2048, 8192, 22528}

func TestLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range lengths {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			// One message alone, and 16 equal-length ones filling every lane.
			check(t, [][]byte{fill(r, n)})
			var msgs [][]byte
			for range 16 {
				msgs = append(msgs, fill(r, n))
			}
			check(t, msgs)
		})
	}
}

func TestMixedBatches(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for size := 1; size <= 40; size++ {
		msgs := make([][]byte, size)
		for i := range msgs {
			switch r.IntN(3) {
			case 0:
				msgs[i] = fill(r, lengths[r.IntN(len(lengths))])
			case 1:
				msgs[i] = fill(r, r.IntN(300))
			default:
				msgs[i] = fill(r, r.IntN(100_000))
			}
		}
		check(t, msgs)
	}
}

func TestEqualLengthBatches(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, size := range []int{4, 15, 16, 17, 32, 33, 48} {
		for _, n := range []int{0, 64, 100, 8192} {
			msgs := make([][]byte, size)
			for i := range msgs {
				msgs[i] = fill(r, n)
			}
			check(t, msgs)
		}
	}
}

// TestUnaligned hashes sub-slices at every offset of one buffer, and the
// same slice many times over: lanes must not assume alignment or distinct
// memory.
func TestUnaligned(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	buf := fill(r, 5000)
	var msgs [][]byte
	for off := range 40 {
		msgs = append(msgs, buf[off:off+64*off+off%7])
	}
	for range 20 {
		msgs = append(msgs, buf[3:1003])
	}
	check(t, msgs)
}

// TestTraceMix is the shape the proof package hashes: 11 vectors per cell.
func TestTraceMix(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	cell := []int{8192, 8192, 8192, 8192, 8192, 8192, 8192, 2048, 2048, 22528, 22528}
	var msgs [][]byte
	for range 3 {
		for _, n := range cell {
			msgs = append(msgs, fill(r, n))
		}
	}
	check(t, msgs)
}

// TestGeneric forces the one-at-a-time path that machines without the
// kernel take.
func TestGeneric(t *testing.T) {
	saved := useMulti
	useMulti = false
	defer func() { useMulti = saved }()
	r := rand.New(rand.NewPCG(11, 12))
	msgs := make([][]byte, 20)
	for i := range msgs {
		msgs[i] = fill(r, r.IntN(3000))
	}
	out := make([][32]byte, len(msgs))
	SumMany(out, msgs)
	for i, m := range msgs {
		if out[i] != sha256.Sum256(m) {
			t.Fatalf("message %d: digest differs from crypto/sha256", i)
		}
	}
}

func TestShortOutPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("SumMany with out shorter than msgs did not panic")
		}
	}()
	SumMany(make([][32]byte, 1), make([][]byte, 2))
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	// The decode mix: lanes refill and the longest messages are handed
	// off at the end.
	msgs := batch(3, 8192, 8192, 8192, 8192, 8192, 8192, 8192, 2048, 2048, 22528, 22528)
	out := make([][32]byte, len(msgs))
	SumMany(out, msgs) // warm the pool
	if n := testing.AllocsPerRun(20, func() { SumMany(out, msgs) }); n != 0 {
		t.Fatalf("SumMany allocates %v times per call, want 0", n)
	}
}

// FuzzSumMany splits arbitrary bytes into messages at the cut points the
// fuzzer chooses and checks every digest against crypto/sha256.
func FuzzSumMany(f *testing.F) {
	f.Add([]byte("abc"), []byte{1, 0, 2})
	f.Add(make([]byte, 2000), []byte{55, 56, 63, 64, 65, 119, 120, 127, 128, 200, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		var msgs [][]byte
		rest := data
		for _, c := range cuts {
			// Each cut byte is a length in units of 3 bytes (0..765), so
			// messages cross the 1- and 2-block boundaries often.
			n := min(int(c)*3, len(rest))
			msgs = append(msgs, rest[:n])
			rest = rest[n:]
		}
		msgs = append(msgs, rest)
		check(t, msgs)
	})
}
