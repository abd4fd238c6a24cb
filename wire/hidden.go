package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/tessera-net/tessera/quant"
)

// ErrNonFinite is wrapped by the errors of EncodeHidden and DecodeHidden for
// NaN and infinite values (and, in f16, finite values beyond its range).
var ErrNonFinite = errors.New("wire: hidden state is not finite")

// HiddenBytes is the payload length of n positions of dim values in dt.
func HiddenBytes(dt DType, n, dim int) int { return n * dim * dt.Size() }

func checkShape(dt DType, values, n, dim int) error {
	if !dt.Valid() {
		return fmt.Errorf("unknown dtype %d", uint8(dt))
	}
	if n < 1 || dim < 1 || n > math.MaxInt32/dim {
		return fmt.Errorf("bad shape %d positions × %d", n, dim)
	}
	if values != n*dim {
		return fmt.Errorf("%d values for %d positions × %d", values, n, dim)
	}
	return nil
}

// EncodeHidden appends hidden, n positions × dim values, to dst in dt.
// F16 rounds to nearest even (quant.FP32ToFP16). NaN and infinite values,
// and values that overflow f16, are refused with an error wrapping
// ErrNonFinite.
func EncodeHidden(dst []byte, dt DType, hidden []float32, n, dim int) ([]byte, error) {
	if err := checkShape(dt, len(hidden), n, dim); err != nil {
		return dst, fmt.Errorf("wire: encode hidden: %w", err)
	}
	off := len(dst)
	dst = grow(dst, len(hidden)*dt.Size())
	out := dst[off:]
	switch dt {
	case DTypeF32:
		for i, v := range hidden {
			b := math.Float32bits(v)
			if b&0x7f800000 == 0x7f800000 {
				return dst[:off], nonFinite("encode", i, dim, v)
			}
			binary.LittleEndian.PutUint32(out[4*i:], b)
		}
	case DTypeF16:
		for i, v := range hidden {
			h := quant.FP32ToFP16(v)
			if h&0x7c00 == 0x7c00 {
				return dst[:off], nonFinite("encode", i, dim, v)
			}
			binary.LittleEndian.PutUint16(out[2*i:], h)
		}
	}
	return dst, nil
}

// DecodeHidden decodes payload, n positions × dim values in dt, into dst,
// which must hold exactly n×dim values. A payload of another length gives
// an error wrapping ErrMalformed; NaN or infinite values give an error
// wrapping both ErrMalformed and ErrNonFinite (dst is then partly written).
func DecodeHidden(dst []float32, dt DType, payload []byte, n, dim int) error {
	if err := checkShape(dt, len(dst), n, dim); err != nil {
		return fmt.Errorf("wire: decode hidden: %w", err)
	}
	if want := len(dst) * dt.Size(); len(payload) != want {
		return fmt.Errorf("%w: hidden payload of %d bytes, want %d (%d×%d %s values)",
			ErrMalformed, len(payload), want, n, dim, dt)
	}
	switch dt {
	case DTypeF32:
		for i := range dst {
			b := binary.LittleEndian.Uint32(payload[4*i:])
			if b&0x7f800000 == 0x7f800000 {
				return nonFinite("decode", i, dim, math.Float32frombits(b))
			}
			dst[i] = math.Float32frombits(b)
		}
	case DTypeF16:
		for i := range dst {
			h := binary.LittleEndian.Uint16(payload[2*i:])
			if h&0x7c00 == 0x7c00 {
				return nonFinite("decode", i, dim, quant.FP16ToFP32(h))
			}
			dst[i] = quant.FP16ToFP32(h)
		}
	}
	return nil
}

// hiddenError is a non-finite value; decoding errors also wrap
// ErrMalformed.
type hiddenError struct {
	msg  string
	errs []error
}

func (e *hiddenError) Error() string   { return e.msg }
func (e *hiddenError) Unwrap() []error { return e.errs }

func nonFinite(op string, i, dim int, v float32) error {
	e := &hiddenError{
		msg:  fmt.Sprintf("wire: %s hidden state: value %v at position %d index %d is not finite", op, v, i/dim, i%dim),
		errs: []error{ErrNonFinite},
	}
	if op == "decode" {
		e.errs = append(e.errs, ErrMalformed)
	}
	return e
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
