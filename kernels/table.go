package kernels

import (
	"math/bits"
	"os"

	"github.com/tessera-net/tessera/quant"
)

// rowDot computes the dot product of one weight row (exactly the row's
// bytes) with a prepared activation vector.
type rowDot func(w []byte, a *actVec) float32

// kernel is how one weight type is computed: the activation format it
// pairs with (ggml's vec_dot_type), the packing its dot reads, and the dot.
type kernel struct {
	act  actFormat
	pack packFormat
	dot  rowDot
	name string // implementation, for tests and benchmarks
}

// kernelTable holds a kernel for each supported type, indexed by type id.
type kernelTable [32]kernel

func (t *kernelTable) get(typ quant.Type) *kernel {
	if int(typ) >= len(t) || t[typ].dot == nil {
		return nil
	}
	return &t[typ]
}

// genericKernels are portable, straightforward loops; they are the
// reference every other implementation is tested against.
var genericKernels = kernelTable{
	quant.F32:  {actF32, packNone, dotF32Bytes, "generic"},
	quant.F16:  {actF16, packNone, dotF16, "generic"},
	quant.BF16: {actBF16, packNone, dotBF16, "generic"},
	quant.Q4_0: {actQ8_0, packNone, dotQ4_0Generic, "generic"},
	quant.Q4_1: {actQ8_1, packNone, dotQ4_1Generic, "generic"},
	quant.Q5_0: {actQ8_0, packNone, dotQ5_0Generic, "generic"},
	quant.Q5_1: {actQ8_1, packNone, dotQ5_1Generic, "generic"},
	quant.Q8_0: {actQ8_0, packNone, dotQ8_0Generic, "generic"},
	quant.Q4_K: {actQ8_K, packNone, dotQ4_KGeneric, "generic"},
	quant.Q5_K: {actQ8_K, packNone, dotQ5_KGeneric, "generic"},
	quant.Q6_K: {actQ8_K, packNone, dotQ6_KGeneric, "generic"},
}

// swarKernels are the plain-Go 64-bit SWAR implementations (dot_swar.go).
var swarKernels = kernelTable{
	quant.F32:  {actF32, packNone, dotF32View, "go64"},
	quant.F16:  {actF16, packNone, dotF16, "go64"},
	quant.BF16: {actBF16, packNone, dotBF16, "go64"},
	quant.Q4_0: {actQ8_0, pack16, dotQ4_0SWAR, "swar"},
	quant.Q4_1: {actQ8_1, pack16, dotQ4_1SWAR, "swar"},
	quant.Q5_0: {actQ8_0, pack16, dotQ5_0SWAR, "swar"},
	quant.Q5_1: {actQ8_1, pack16, dotQ5_1SWAR, "swar"},
	quant.Q8_0: {actQ8_0, pack32, dotQ8_0SWAR, "swar"},
	quant.Q4_K: {actQ8_K, pack16, dotQ4_KSWAR, "swar"},
	quant.Q5_K: {actQ8_K, pack16, dotQ5_KSWAR, "swar"},
	quant.Q6_K: {actQ8_K, pack16, dotQ6_KSWAR, "swar"},
}

// bestKernels is chosen once at start-up: the portable kernels for this
// word size, then archKernels replaces entries it has ISA-specific
// (assembly) versions of, after checking CPU features. Setting
// TESSERA_KERNELS=generic in the environment forces the generic kernels
// (for debugging).
var bestKernels = selectKernels()

// active is the table Pool calls use; tests switch it with useGeneric.
var active = &bestKernels

func selectKernels() kernelTable {
	if os.Getenv("TESSERA_KERNELS") == "generic" {
		return genericKernels
	}
	t := genericKernels
	if bits.UintSize == 64 { // SWAR needs fast 64-bit multiplies
		t = swarKernels
	}
	archKernels(&t)
	return t
}

// useGeneric switches Pool calls to the generic kernels (true) or back to
// the selected ones (false). It is for tests; it must not be called while
// a Pool call is running.
func useGeneric(on bool) {
	if on {
		active = &genericKernels
	} else {
		active = &bestKernels
	}
}
