package sha256x

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// batch makes cells copies of a per-cell list of message lengths.
func batch(cells int, cell ...int) [][]byte {
	r := rand.New(rand.NewPCG(1, 1))
	var msgs [][]byte
	for range cells {
		for _, n := range cell {
			msgs = append(msgs, fill(r, n))
		}
	}
	return msgs
}

// Batches the proof package hashes per decode step, as float32 vectors.
var benchBatches = []struct {
	name string
	msgs [][]byte
}{
	// 1B shape (dim 2048, ff 5632), 3 cells of 11 vectors.
	{"decode1B", batch(3, 8192, 8192, 8192, 8192, 8192, 8192, 8192, 2048, 2048, 22528, 22528)},
	// kjv-tiny (dim 256, kv 128, ff 768), 6 cells of 11 vectors.
	{"decodeKJV", batch(6, 1024, 1024, 1024, 1024, 512, 512, 3072, 3072, 1024, 1024, 1024)},
	{"16x8K", batch(16, 8192)},
}

func BenchmarkSumMany(b *testing.B) {
	for _, bb := range benchBatches {
		total := 0
		for _, m := range bb.msgs {
			total += len(m)
		}
		out := make([][32]byte, len(bb.msgs))
		b.Run(bb.name+"/sha256x", func(b *testing.B) {
			b.SetBytes(int64(total))
			for b.Loop() {
				SumMany(out, bb.msgs)
			}
		})
		b.Run(bb.name+"/crypto", func(b *testing.B) {
			b.SetBytes(int64(total))
			for b.Loop() {
				for i, m := range bb.msgs {
					out[i] = sha256.Sum256(m)
				}
			}
		})
	}
}

// BenchmarkFewLanes finds where the 16-lane kernel starts to beat one
// message at a time, which sets minLanes.
func BenchmarkFewLanes(b *testing.B) {
	if !useMulti {
		b.Skip("no multi-buffer kernel on this CPU")
	}
	msgs := batch(8, 8192)
	out := make([][32]byte, len(msgs))
	for _, n := range []int{1, 2, 3, 4, 6, 8} {
		b.Run(string(rune('0'+n))+"/multi", func(b *testing.B) {
			b.SetBytes(int64(n * 8192))
			for b.Loop() {
				sumMulti(out[:n], msgs[:n])
			}
		})
		b.Run(string(rune('0'+n))+"/crypto", func(b *testing.B) {
			b.SetBytes(int64(n * 8192))
			for b.Loop() {
				sumEach(out[:n], msgs[:n])
			}
		})
	}
}
