// Package kernels holds the compute the model calls: matrix-vector and
// matrix-matrix products of quantized weight matrices with float32
// activations, spread over a pool of persistent worker goroutines.
//
// Weights stay in their ggml block format (package quant) and are read in
// place, at any alignment. Activations are first converted as ggml does
// for the weight type (its vec_dot_type): to Q8_0 for q4_0/q5_0/q8_0, Q8_1
// for q4_1/q5_1, Q8_K for the K-quants, f16 for f16, bf16 for bf16; f32
// weights use the activations as given. Products then run in integer
// arithmetic per block, as in ggml.
//
// Q8_0 and Q8_1 activations are rounded as ggml's x86 (AVX2) code rounds
// them (q = round-half-even(x*127/amax)), which produced the project's
// golden outputs; Q8_K follows quantize_row_q8_K_ref.
//
// Results are deterministic: each output element is computed by one
// goroutine in a fixed order, so it does not depend on the number of
// threads, and MatMul row i equals MatVec of position i bit for bit.
//
// Implementations come in levels, one chosen at start-up from the CPU's
// features (Level reports which; TESSERA_KERNELS=<level> forces one):
//
//   - generic: simple integer loops, the reference for all others;
//   - swar: plain Go on 64-bit machines, several small products per
//     64-bit multiply (dot_swar.go);
//   - avx2 (amd64, AVX2 + F16C): Go assembly for Q8_0, Q4_0, Q4_1, Q5_0,
//     Q5_1, Q4_K, Q5_K, Q6_K, F32, F16 and BF16, four rows per step for
//     one position and (quantized types) tiles of rows × four positions
//     for MatMul;
//   - avxvnni (amd64, AVX2 + AVX-VNNI, e.g. Alder Lake and later desktop
//     CPUs without AVX-512): the avx2 kernels of the quantized types with
//     VEX VPDPBUSD (32-value block types) or VPDPWSSD (K-quants) doing
//     the multiply-adds;
//   - avx512 (amd64, AVX-512 F/BW/VL + VNNI): VPDPBUSD row kernels for
//     Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and Q4_K, and MatMul tiles with
//     sixteen positions in the lanes of a ZMM register (no horizontal
//     sums) for Q8_0, Q4_0, Q4_K, Q5_K and Q6_K (Q4_1, Q5_0, Q5_1: rows
//     × four positions with VPDPBUSD), and Q4_K weights copied by Weights.Add
//     stored with each group of four rows' super-blocks interleaved
//     (layout.go), so that decode reads one stream, not four;
//   - neon and dotprod (arm64, ASIMD with or without the dot-product
//     extension): Q8_0 rows and tiles, Q4_K and Q6_K rows.
//
// Types a level has no assembly for keep the best portable kernel. On
// amd64 with AVX2 the activations are also quantized in assembly. Every
// implementation of a type returns the generic kernel's bits: integer
// block sums are exact in any order, and the float32 operations that
// combine them with the scales are the generic code's, in the same order
// (rows or positions sit in separate SIMD lanes). The purego build tag
// leaves out all assembly.
//
// Besides the products, the package holds the rest of a block's float
// work that has to give the same bits everywhere (attention's dot
// products and weighted sums, a float32 exponential, SwiGLU: AVX2 and
// NEON, else Go), memory for weights backed by huge pages (Weights), and
// the read-bandwidth probe that is decode's roofline (ReadProbe).
package kernels

import (
	"fmt"

	"github.com/tessera-net/tessera/quant"
)

// Matrix is a weight matrix in a ggml block format: Rows rows of Cols
// values each, row r stored in Data[r*RowBytes : (r+1)*RowBytes] where
// RowBytes = Type.RowBytes(Cols). Build one with NewMatrix, which checks
// the sizes; Data may be a sub-slice of a memory-mapped or embedded file.
// A matrix that Weights.Add copied may instead hold its rows interleaved
// in groups of four (Interleaved; take parts of it with RowRange).
type Matrix struct {
	Type       quant.Type
	Rows, Cols int
	Data       []byte
	il         int // bytes per unit of the interleaved layout; 0: rows one after the other
	panel      int // columns per column panel of an interleaved matrix (layout.go); 0: whole rows
}

// NewMatrix returns the rows×cols matrix of type t stored in data. It
// fails if t is not in quant.Supported, rows or cols is not positive, cols
// is not a whole number of t's blocks, or data holds fewer than
// rows*t.RowBytes(cols) bytes. Data is trimmed to exactly that size; it is
// not copied.
func NewMatrix(t quant.Type, rows, cols int, data []byte) (Matrix, error) {
	if !t.IsSupported() || active.get(t) == nil {
		return Matrix{}, fmt.Errorf("kernels: unsupported tensor type %v", t)
	}
	if rows <= 0 || cols <= 0 {
		return Matrix{}, fmt.Errorf("kernels: bad %v matrix shape %d×%d: rows and cols must be positive", t, rows, cols)
	}
	rb, err := t.RowBytes(cols)
	if err != nil {
		return Matrix{}, fmt.Errorf("kernels: %v matrix with %d columns: %w", t, cols, err)
	}
	if rows > len(data)/rb {
		return Matrix{}, fmt.Errorf("kernels: %v matrix %d×%d needs %d bytes (%d per row), data has %d",
			t, rows, cols, int64(rows)*int64(rb), rb, len(data))
	}
	return Matrix{Type: t, Rows: rows, Cols: cols, Data: data[:rows*rb]}, nil
}

// check validates m (which may have been built without NewMatrix) and
// returns its row size and kernel; it panics on an invalid matrix.
func (m *Matrix) check() (int, *kernel) {
	k := active.get(m.Type)
	if k == nil || !m.Type.IsSupported() {
		panic(fmt.Sprintf("kernels: unsupported tensor type %v", m.Type))
	}
	rb, err := m.Type.RowBytes(m.Cols)
	if err != nil || m.Rows < 0 || m.Cols < 0 || (m.Rows > 0 && m.Rows > len(m.Data)/max(rb, 1)) {
		panic(fmt.Sprintf("kernels: invalid %v matrix %d×%d with %d data bytes", m.Type, m.Rows, m.Cols, len(m.Data)))
	}
	return rb, k
}
