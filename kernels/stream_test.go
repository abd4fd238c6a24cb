package kernels

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// xorWords is the plain definition of StreamRead's checksum.
func xorWords(b []byte) uint64 {
	var x uint64
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		copy(w[:], b[i:])
		x ^= binary.LittleEndian.Uint64(w[:])
	}
	return x
}

// TestStreamRead checks that the read loop (assembly where there is one)
// reads every byte: its checksum matches the plain one for lengths around
// the loop's unit and at unaligned starts, and flipping any byte changes it.
func TestStreamRead(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 4*readUnit+64)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for _, n := range []int{0, 1, 7, 8, 31, readUnit - 1, readUnit, readUnit + 1, 2*readUnit + 37, 4 * readUnit} {
		for _, off := range []int{0, 1, 5, 32} {
			b := buf[off : off+n]
			if got, want := StreamRead(b), xorWords(b); got != want {
				t.Errorf("len %d at offset %d: StreamRead = %#x, want %#x", n, off, got, want)
			}
			if n == 0 {
				continue
			}
			i := rng.IntN(n)
			b[i] ^= 0x40
			if got, want := StreamRead(b), xorWords(b); got != want || got == xorWords(buf[off:off+0]) && n > 8 {
				t.Errorf("len %d at offset %d, byte %d flipped: StreamRead = %#x, want %#x", n, off, i, got, want)
			}
			b[i] ^= 0x40
		}
	}
}

// BenchmarkStreamRead reports the read bandwidth of one thread over a
// buffer larger than the caches (the MB/s column).
func BenchmarkStreamRead(b *testing.B) {
	buf := make([]byte, 512<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		streamSink.Store(StreamRead(buf))
	}
}

// BenchmarkReadProbe reports the probe's read bandwidth over 512 MiB of
// memory allocated as Weights memory is.
func BenchmarkReadProbe(b *testing.B) {
	mem := allocWeights(512 << 20)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	probe, err := NewReadProbeOver(mem)
	if err != nil {
		b.Fatal(err)
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("t%d", threads), func(b *testing.B) {
			p := NewPool(threads)
			defer p.Close()
			b.SetBytes(int64(probe.Bytes()))
			for b.Loop() {
				probe.Pass(p)
			}
		})
	}
}

func TestReadProbeOver(t *testing.T) {
	mem := make([]byte, 3<<20+100)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range mem {
		mem[i] = byte(rng.Uint32())
	}
	before := xorWords(mem)
	probe, err := NewReadProbeOver(mem)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := probe.Bytes(), len(mem)/readUnit*readUnit; got != want {
		t.Errorf("Bytes() = %d, want %d (whole %d-byte units of %d)", got, want, readUnit, len(mem))
	}
	for _, threads := range []int{1, 2} {
		p := NewPool(threads)
		if el := probe.Pass(p); el <= 0 {
			t.Errorf("%d threads: a pass took %v", threads, el)
		}
		p.Close()
	}
	if xorWords(mem) != before {
		t.Error("reading the memory changed it")
	}
	if _, err := NewReadProbeOver(mem[:readUnit-1]); err == nil {
		t.Errorf("a probe over %d bytes: want an error", readUnit-1)
	}
}
