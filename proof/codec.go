package proof

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrMalformed is wrapped by every error about bytes that do not decode to
// a valid receipt, opening, verification key, certificate or evidence.
var ErrMalformed = errors.New("proof: malformed encoding")

// Decoding limits: larger values are refused before anything is allocated
// for them.
const (
	// MaxVector bounds the length of one vector (floats).
	MaxVector = 1 << 24
	// MaxPath bounds a Merkle path (hashes); 64 covers any tree.
	MaxPath = 64
	// MaxItems bounds the count of any list (openings, receipts, rows).
	MaxItems = 1 << 22
	// MaxString bounds a string (peer ids, names, messages).
	MaxString = 4096
)

// enc appends little-endian fixed-width values.
type enc struct{ b []byte }

func (e *enc) u8(v uint8)   { e.b = append(e.b, v) }
func (e *enc) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *enc) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) f64(v float64) {
	e.u64(math.Float64bits(v))
}
func (e *enc) hash(h Hash)    { e.b = append(e.b, h[:]...) }
func (e *enc) raw(b []byte)   { e.b = append(e.b, b...) }
func (e *enc) bytes(b []byte) { e.u32(uint32(len(b))); e.raw(b) }
func (e *enc) str(s string)   { e.u32(uint32(len(s))); e.b = append(e.b, s...) }
func (e *enc) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

// f32s appends a count and the values as little-endian float32.
func (e *enc) f32s(v []float32) {
	e.u32(uint32(len(v)))
	e.b = appendF32(e.b, v)
}

func (e *enc) hashes(h []Hash) {
	e.u32(uint32(len(h)))
	for _, x := range h {
		e.hash(x)
	}
}

func appendF32(b []byte, v []float32) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// dec reads what enc wrote. The first error sticks: later reads return
// zero values, so a decoder reads a whole structure and checks d.err once.
type dec struct {
	b    []byte
	what string
	err  error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", ErrMalformed, d.what, fmt.Sprintf(format, args...))
	}
}

func (d *dec) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated: need %d bytes, %d left", n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) u8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *dec) u16() uint16 {
	if b := d.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *dec) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *dec) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// f64 reads a float64 and refuses NaN and infinities.
func (d *dec) f64() float64 {
	v := math.Float64frombits(d.u64())
	if math.IsNaN(v) || math.IsInf(v, 0) {
		d.fail("non-finite number")
		return 0
	}
	return v
}

func (d *dec) hash() Hash {
	var h Hash
	copy(h[:], d.take(len(h)))
	return h
}

func (d *dec) bool() bool {
	switch d.u8() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("boolean is neither 0 nor 1")
	return false
}

// count reads a list length and checks that at least min bytes per item
// remain, so that a forged count cannot make the decoder allocate.
func (d *dec) count(limit, minItemBytes int) int {
	n := d.u32()
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(limit) {
		d.fail("count %d exceeds %d", n, limit)
		return 0
	}
	if minItemBytes > 0 && uint64(n)*uint64(minItemBytes) > uint64(len(d.b)) {
		d.fail("count %d needs at least %d bytes, %d left", n, uint64(n)*uint64(minItemBytes), len(d.b))
		return 0
	}
	return int(n)
}

func (d *dec) bytes(limit int) []byte {
	n := d.count(limit, 1)
	return d.take(n)
}

func (d *dec) str(limit int) string {
	return string(d.bytes(limit))
}

// f32s reads a float32 vector, refusing NaN and infinities.
func (d *dec) f32s(limit int) []float32 {
	n := d.count(limit, 4)
	b := d.take(4 * n)
	if b == nil {
		return nil
	}
	v := make([]float32, n)
	for i := range v {
		bits := binary.LittleEndian.Uint32(b[4*i:])
		if bits&0x7f800000 == 0x7f800000 {
			d.fail("non-finite value at index %d", i)
			return nil
		}
		v[i] = math.Float32frombits(bits)
	}
	return v
}

func (d *dec) hashes(limit int) []Hash {
	n := d.count(limit, len(Hash{}))
	if d.err != nil {
		return nil
	}
	out := make([]Hash, n)
	for i := range out {
		out[i] = d.hash()
	}
	return out
}

// magic checks a fixed prefix.
func (d *dec) magic(m string) {
	b := d.take(len(m))
	if d.err == nil && string(b) != m {
		d.fail("bad magic %q, want %q", b, m)
	}
}

// done fails if bytes remain.
func (d *dec) done() {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
}
