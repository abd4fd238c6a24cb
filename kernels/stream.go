package kernels

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"
)

// Memory read bandwidth, the roofline of decode: one decode step reads
// every weight once, so tokens/s cannot exceed read bandwidth ÷ weight
// bytes. The probe is a plain sequential read loop (vector loads XORed
// into a few accumulators, no prefetch hints), as a C STREAM-style read
// test does; copy bandwidth would count the writes too and overstate what
// a read-only stream gets.

// readXOR returns the XOR of the little-endian 64-bit words of b, which
// must be a whole number of readUnit bytes. Architectures with assembly
// replace it with a vector loop.
var readXOR = readXORGeneric

// readUnit is the length readXOR's vector loop needs b to be a multiple of.
const readUnit = 256

func readXORGeneric(b []byte) uint64 {
	var a0, a1, a2, a3 uint64
	for ; len(b) >= 32; b = b[32:] {
		a0 ^= binary.LittleEndian.Uint64(b)
		a1 ^= binary.LittleEndian.Uint64(b[8:])
		a2 ^= binary.LittleEndian.Uint64(b[16:])
		a3 ^= binary.LittleEndian.Uint64(b[24:])
	}
	return a0 ^ a1 ^ a2 ^ a3
}

// streamSink holds the last probe's checksum.
var streamSink atomic.Uint64

// StreamRead reads every byte of b once, front to back, as fast as this
// CPU streams memory, and returns the XOR of its little-endian 64-bit
// words (the last word zero-padded), so that the reads cannot be skipped.
func StreamRead(b []byte) uint64 {
	n := len(b) / readUnit * readUnit
	x := readXOR(b[:n])
	var tail [readUnit]byte
	copy(tail[:], b[n:])
	return x ^ readXORGeneric(tail[:])
}

// ReadProbe measures how fast this machine reads a piece of memory with
// a plain sequential read loop: over a model's weights, decode's
// roofline.
type ReadProbe struct {
	buf []byte
}

// NewReadProbeOver returns a probe that reads mem in place (never writing
// it): a model's weights (Weights.Memory), so that decode is compared
// with a plain read of the very bytes it streams. Memory regions of one
// machine read at different rates (by a tenth on the reference VM), and
// a buffer of the probe's own would measure other ones. The last
// len(mem) mod 256 bytes are left out.
func NewReadProbeOver(mem []byte) (*ReadProbe, error) {
	if len(mem) < readUnit {
		return nil, fmt.Errorf("kernels: read probe over %d bytes: too small", len(mem))
	}
	n := len(mem) / readUnit * readUnit
	return &ReadProbe{buf: mem[:n:n]}, nil
}

// Bytes is how many bytes one pass reads.
func (r *ReadProbe) Bytes() int { return len(r.buf) }

// Pass reads the probe's memory once, front to back, with the pool's
// threads (each a contiguous share, as a product's rows are split), and
// returns how long it took.
func (r *ReadProbe) Pass(p *Pool) time.Duration {
	units := len(r.buf) / readUnit
	var sum atomic.Uint64 // keeps the reads live
	t0 := time.Now()
	p.Parallel(units, units/(8*p.Threads())+1, func(lo, hi int) {
		sum.Add(StreamRead(r.buf[lo*readUnit : hi*readUnit]))
	})
	el := time.Since(t0)
	streamSink.Store(sum.Load())
	return el
}
