// Package quant holds the block formats of ggml tensor types: their ids,
// block sizes and byte layouts, and reference (plain Go) quantize,
// dequantize and dot-product routines. Fast kernels live in package kernels
// and are tested against the routines here.
package quant

import (
	"fmt"
	"strings"
)

// Type is a ggml tensor type id, as stored in GGUF tensor infos.
type Type uint32

// Tensor types with the ids ggml assigns them. Only the types listed in
// Supported can be read and computed; the others are named so that errors
// can say which unsupported type a file holds.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q4_1 Type = 3
	Q5_0 Type = 6
	Q5_1 Type = 7
	Q8_0 Type = 8
	Q8_1 Type = 9
	Q2_K Type = 10
	Q3_K Type = 11
	Q4_K Type = 12
	Q5_K Type = 13
	Q6_K Type = 14
	Q8_K Type = 15
	BF16 Type = 30
)

// QK is the number of values in one block of the 32-value types;
// QKK the number in one super-block of the K-quants.
const (
	QK  = 32
	QKK = 256
)

type typeInfo struct {
	name       string
	blockSize  int // values per block
	blockBytes int // bytes per block
}

var types = map[Type]typeInfo{
	F32:  {"f32", 1, 4},
	F16:  {"f16", 1, 2},
	BF16: {"bf16", 1, 2},
	Q4_0: {"q4_0", QK, 2 + QK/2},
	Q4_1: {"q4_1", QK, 4 + QK/2},
	Q5_0: {"q5_0", QK, 2 + 4 + QK/2},
	Q5_1: {"q5_1", QK, 4 + 4 + QK/2},
	Q8_0: {"q8_0", QK, 2 + QK},
	Q8_1: {"q8_1", QK, 4 + QK},
	Q2_K: {"q2_k", QKK, QKK/16 + QKK/4 + 4},
	Q3_K: {"q3_k", QKK, QKK/8 + QKK/4 + 12 + 2},
	Q4_K: {"q4_k", QKK, 4 + 12 + QKK/2},
	Q5_K: {"q5_k", QKK, 4 + 12 + QKK/8 + QKK/2},
	Q6_K: {"q6_k", QKK, QKK/2 + QKK/4 + QKK/16 + 2},
	Q8_K: {"q8_k", QKK, 4 + QKK + QKK/16*2},
}

// Supported lists the types Tessera reads, writes and computes with.
var Supported = []Type{F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K}

// Known reports whether t is a type whose block layout is known.
func (t Type) Known() bool { _, ok := types[t]; return ok }

// IsSupported reports whether t is in Supported.
func (t Type) IsSupported() bool {
	for _, s := range Supported {
		if s == t {
			return true
		}
	}
	return false
}

// String returns ggml's lower-case name of the type ("q4_k").
func (t Type) String() string {
	if info, ok := types[t]; ok {
		return info.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of values in one block (1 for F32/F16/BF16).
func (t Type) BlockSize() int { return types[t].blockSize }

// BlockBytes is the number of bytes one block occupies.
func (t Type) BlockBytes() int { return types[t].blockBytes }

// RowBytes returns the bytes of n values of type t, or an error if the type
// is unknown or n is not a whole number of blocks.
func (t Type) RowBytes(n int) (int, error) {
	info, ok := types[t]
	if !ok {
		return 0, fmt.Errorf("quant: unknown tensor type %d", uint32(t))
	}
	if n < 0 || n%info.blockSize != 0 {
		return 0, fmt.Errorf("quant: %d values of %s is not a whole number of %d-value blocks", n, info.name, info.blockSize)
	}
	return n / info.blockSize * info.blockBytes, nil
}

// ParseType maps a ggml type name ("q8_0", "Q4_K", "f16") to its Type.
func ParseType(name string) (Type, error) {
	for t, info := range types {
		if strings.EqualFold(info.name, name) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("quant: unknown type name %q", name)
}
