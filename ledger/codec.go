package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The canonical binary encoding used for transactions, state records and
// block records: fixed-width big-endian integers, booleans as one byte 0 or
// 1, byte strings and lists prefixed by their length in a fixed-width
// integer. Every value has exactly one encoding, so Decode followed by
// Encode reproduces the input byte for byte, and a hash of the encoding is a
// hash of the value.

// enc appends canonical encodings to a byte slice.
type enc struct{ b []byte }

func (e *enc) u8(v uint8)       { e.b = append(e.b, v) }
func (e *enc) u16(v uint16)     { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *enc) u32(v uint32)     { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64)     { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *enc) i64(v int64)      { e.u64(uint64(v)) }
func (e *enc) raw(p []byte)     { e.b = append(e.b, p...) }
func (e *enc) key(k PubKey)     { e.b = append(e.b, k[:]...) }
func (e *enc) hash(h Hash)      { e.b = append(e.b, h[:]...) }
func (e *enc) str8(s string)    { e.u8(uint8(len(s))); e.b = append(e.b, s...) }
func (e *enc) str16(s string)   { e.u16(uint16(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes32(p []byte) { e.u32(uint32(len(p))); e.b = append(e.b, p...) }
func (e *enc) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

// errShort and friends are the decoder's failures; Decode* functions wrap
// them with what was being decoded.
var (
	errShort    = errors.New("truncated")
	errTrailing = errors.New("trailing bytes")
)

// dec reads canonical encodings; the first failure sticks in err and every
// later read returns zero values, so callers check err once at the end.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *dec) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail(errShort)
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) u8() uint8 {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *dec) u16() uint16 {
	if p := d.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (d *dec) u32() uint32 {
	if p := d.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (d *dec) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (d *dec) i64() int64 { return int64(d.u64()) }

func (d *dec) key() (k PubKey) {
	copy(k[:], d.take(len(k)))
	return k
}

func (d *dec) hash() (h Hash) {
	copy(h[:], d.take(len(h)))
	return h
}

func (d *dec) sig() (s Signature) {
	copy(s[:], d.take(len(s)))
	return s
}

func (d *dec) bool() bool {
	switch d.u8() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail(errors.New("boolean not 0 or 1"))
		return false
	}
}

func (d *dec) str8() string  { return string(d.take(int(d.u8()))) }
func (d *dec) str16() string { return string(d.take(int(d.u16()))) }

// bytes32 reads a u32-prefixed byte string of at most max bytes. The result
// is a copy, never aliasing the input.
func (d *dec) bytes32(max int) []byte {
	n := d.u32()
	if d.err == nil && uint64(n) > uint64(max) {
		d.fail(fmt.Errorf("byte string of %d bytes exceeds the limit of %d", n, max))
		return nil
	}
	p := d.take(int(n))
	if p == nil {
		return nil
	}
	return append([]byte{}, p...)
}

// count reads a list length and checks it against max and against the
// bytes left (each element takes at least minElem bytes), so a forged
// length cannot make the decoder allocate more than the input justifies.
func (d *dec) count(n uint64, max, minElem int) int {
	if d.err != nil {
		return 0
	}
	if n > uint64(max) {
		d.fail(fmt.Errorf("list of %d elements exceeds the limit of %d", n, max))
		return 0
	}
	if minElem > 0 && n > uint64(len(d.b)/minElem) {
		d.fail(errShort)
		return 0
	}
	return int(n)
}

// end reports the first failure, or trailing bytes.
func (d *dec) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(errTrailing)
	}
	return d.err
}
