package quant

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Errors returned (wrapped, with context) by Dequantize and Quantize; test
// for them with errors.Is.
var (
	// ErrUnsupported means the type has no reference routine here.
	ErrUnsupported = errors.New("unsupported tensor type")
	// ErrLength means a value count is not whole blocks or a byte buffer is
	// too short.
	ErrLength = errors.New("bad length")
	// ErrRange means the input cannot be represented: a NaN or infinity in a
	// block-quantized type, or a block scale that overflows float16.
	ErrRange = errors.New("value out of range")
)

// hasCodec reports whether t is one of the types Dequantize and Quantize handle: Supported plus the
// activation formats Q8_1 and Q8_K.
func hasCodec(t Type) bool {
	switch t {
	case F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K:
		return true
	}
	return false
}

// checkLengths validates a (values, bytes) pair for op on type t and
// returns the number of blocks and bytes per block.
func checkLengths(op string, t Type, values, bytes int, what string) (nb, bb int, err error) {
	if !hasCodec(t) {
		return 0, 0, fmt.Errorf("quant: %s %v: %w", op, t, ErrUnsupported)
	}
	bs, bb := t.BlockSize(), t.BlockBytes()
	if values%bs != 0 {
		return 0, 0, fmt.Errorf("quant: %s %v: %d values is not a whole number of %d-value blocks: %w",
			op, t, values, bs, ErrLength)
	}
	nb = values / bs
	if need := nb * bb; bytes < need {
		return 0, 0, fmt.Errorf("quant: %s %v: %s has %d bytes, %d values need %d: %w",
			op, t, what, bytes, values, need, ErrLength)
	}
	return nb, bb, nil
}

// Dequantize decodes len(dst) values of type t from src into dst. len(dst)
// must be a whole number of blocks of t, and src must hold at least
// t.RowBytes(len(dst)) bytes (extra bytes are ignored). It handles every
// type in Supported plus Q8_1 and Q8_K.
//
// Values are computed as ggml's scalar dequantize_row_* routines compute
// them, in float32 with every operation rounded separately (no fused
// multiply-add), so results are bit-identical to ggml built without
// floating-point contraction.
func Dequantize(t Type, dst []float32, src []byte) error {
	nb, bb, err := checkLengths("dequantize", t, len(dst), len(src), "src")
	if err != nil {
		return err
	}
	bs := t.BlockSize()
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		return nil
	case F16:
		for i := range dst {
			dst[i] = FP16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
		}
		return nil
	case BF16:
		for i := range dst {
			dst[i] = BF16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
		}
		return nil
	}
	var dec func(y []float32, b []byte)
	switch t {
	case Q4_0:
		dec = dequantQ4_0
	case Q4_1:
		dec = dequantQ4_1
	case Q5_0:
		dec = dequantQ5_0
	case Q5_1:
		dec = dequantQ5_1
	case Q8_0:
		dec = dequantQ8_0
	case Q8_1:
		dec = dequantQ8_1
	case Q4_K:
		dec = dequantQ4_K
	case Q5_K:
		dec = dequantQ5_K
	case Q6_K:
		dec = dequantQ6_K
	case Q8_K:
		dec = dequantQ8_K
	}
	for i := 0; i < nb; i++ {
		dec(dst[i*bs:(i+1)*bs], src[i*bb:(i+1)*bb])
	}
	return nil
}

// Quantize encodes the values of src as type t into dst. len(src) must be a
// whole number of blocks of t and dst must hold at least
// t.RowBytes(len(src)) bytes; only that many are written. It handles every
// type in Supported plus Q8_1 and Q8_K, and does not allocate.
//
// F32, F16 and BF16 are plain conversions (round to nearest even). For the
// block types src must be finite, and block scales must fit in float16
// (|x| up to roughly 5e5 for Q4_0, more for the others); otherwise an error
// wrapping ErrRange is returned and dst is left partly written.
//
// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 and Q8_K follow ggml's reference
// quantizers (quantize_row_*_ref) step for step, so they produce the same
// bytes as ggml. Q4_K, Q5_K and Q6_K use ggml's exact block layout, so any
// ggml build decodes them, but their own simpler scale search, so their
// bytes differ from llama-quantize's: per sub-block, a least-squares
// (unweighted RMSE-minimising) fit of scale and min over a grid of 21 step
// sizes (Q6_K: symmetric scale, 19 step sizes); super-block scales set by
// the largest sub-block scale; each 6-bit (Q6_K: int8) sub-block scale and
// min chosen among the neighbours of its rounded value to minimise the
// sub-block's squared error under the exact decoder arithmetic. On Gaussian
// data the relative RMS error is about 0.070 (Q4_K), 0.035 (Q5_K) and
// 0.017 (Q6_K). An all-zero block encodes to zero scales and decodes to
// zeros.
func Quantize(t Type, dst []byte, src []float32) error {
	nb, bb, err := checkLengths("quantize", t, len(src), len(dst), "dst")
	if err != nil {
		return err
	}
	switch t {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
		return nil
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], FP32ToFP16(v))
		}
		return nil
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], FP32ToBF16(v))
		}
		return nil
	}
	for i, v := range src {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("quant: quantize %v: non-finite value %v at index %d: %w", t, v, i, ErrRange)
		}
	}
	var enc func(b []byte, x []float32) bool
	switch t {
	case Q4_0:
		enc = quantizeQ4_0
	case Q4_1:
		enc = quantizeQ4_1
	case Q5_0:
		enc = quantizeQ5_0
	case Q5_1:
		enc = quantizeQ5_1
	case Q8_0:
		enc = quantizeQ8_0
	case Q8_1:
		enc = quantizeQ8_1
	case Q4_K:
		enc = quantizeQ4_K
	case Q5_K:
		enc = quantizeQ5_K
	case Q6_K:
		enc = quantizeQ6_K
	case Q8_K:
		enc = quantizeQ8_K
	}
	bs := t.BlockSize()
	for i := 0; i < nb; i++ {
		if !enc(dst[i*bb:(i+1)*bb], src[i*bs:(i+1)*bs]) {
			return fmt.Errorf("quant: quantize %v: block %d (values %d..%d): scale overflows float16: %w",
				t, i, i*bs, (i+1)*bs-1, ErrRange)
		}
	}
	return nil
}

// DotReference dequantizes len(x) values of type t from w and returns their
// dot product with x, accumulated in float64 in index order. It is the
// oracle that fast kernels are tested against. It allocates a scratch
// buffer and panics if Dequantize would fail (unsupported type, len(x) not
// whole blocks, or w too short), since a bad oracle call is a bug in the
// test.
func DotReference(t Type, w []byte, x []float32) float64 {
	buf := make([]float32, len(x))
	if err := Dequantize(t, buf, w); err != nil {
		panic(fmt.Sprintf("quant.DotReference: %v", err))
	}
	var sum float64
	for i, v := range buf {
		sum += float64(v) * float64(x[i])
	}
	return sum
}

// NearestInt rounds f to the nearest integer, ties to even, like ggml's
// nearest_int (which adds 1.5*2^23 in float32). ggml only uses it for
// |f| < 2^22, where the two agree exactly.
func NearestInt(f float32) int {
	return int(math.RoundToEven(float64(f)))
}

// halfOK reports whether a float16 scale is finite.
func halfOK(h uint16) bool { return h&0x7c00 != 0x7c00 }

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func putHalf(b []byte, h uint16) { binary.LittleEndian.PutUint16(b, h) }

func getHalf(b []byte) float32 { return FP16ToFP32(binary.LittleEndian.Uint16(b)) }
