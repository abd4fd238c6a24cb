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

// ReadProbe measures this machine's memory read bandwidth: decode's
// roofline. It owns a buffer far larger than the last-level cache,
// allocated as Weights memory is (huge pages where the OS has them: the
// fastest a read stream gets) and touched once, so that measurements
// exclude page faults.
type ReadProbe struct {
	buf []byte
}

// NewReadProbe allocates a probe over size bytes (at least readUnit).
func NewReadProbe(size int) (*ReadProbe, error) {
	if size < readUnit {
		return nil, fmt.Errorf("kernels: read probe of %d bytes: too small", size)
	}
	buf := allocWeights(size / readUnit * readUnit)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = byte(i >> 12)
	}
	return &ReadProbe{buf: buf}, nil
}

// MeasureFor returns the mean read bandwidth in bytes per second with the
// pool's threads over whole passes of the buffer that last at least d in
// all (one pass at least, after a warm-up pass). A measurement of
// something else that took d, right before or after, is then compared
// with memory over a window of the same length: the best of many short
// passes would catch this machine's fastest moments and overstate what a
// long run can get.
func (r *ReadProbe) MeasureFor(p *Pool, d time.Duration) float64 {
	r.pass(p)
	var el time.Duration
	n := 0
	for n == 0 || el < d {
		el += r.pass(p)
		n++
	}
	if el <= 0 {
		return 0
	}
	return float64(n) * float64(len(r.buf)) / el.Seconds()
}

// pass streams the whole buffer once with the pool's threads and returns
// how long it took.
func (r *ReadProbe) pass(p *Pool) time.Duration {
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
