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
// The row dots are plain Go. Quantized rows use SWAR arithmetic (several
// small products per 64-bit multiply, see dot_swar.go) on 64-bit machines
// and simple integer loops elsewhere; the kernel table in table.go is where
// assembly versions will be selected. TESSERA_KERNELS=generic in the
// environment forces the simple loops.
package kernels

import (
	"fmt"

	"github.com/tessera-net/tessera/quant"
)

// Matrix is a weight matrix in a ggml block format: Rows rows of Cols
// values each, row r stored in Data[r*RowBytes : (r+1)*RowBytes] where
// RowBytes = Type.RowBytes(Cols). Build one with NewMatrix, which checks
// the sizes; Data may be a sub-slice of a memory-mapped or embedded file.
type Matrix struct {
	Type       quant.Type
	Rows, Cols int
	Data       []byte
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
