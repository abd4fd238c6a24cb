//go:build arm64 && !purego

package kernels

import (
	"github.com/tessera-net/tessera/quant"
	"golang.org/x/sys/cpu"
)

// archLevels returns the arm64 assembly levels:
//
//   - neon: ASIMD, which every arm64 CPU Go runs on has. Signed int8
//     products use SMULL/SMLAL widening multiplies and SADDLP/SADALP.
//   - dotprod: the dot-product extension (SDOT, ARMv8.2 and later, e.g.
//     Cortex-A55/A76 and newer, Apple M1), one instruction per 16 byte
//     products.
//
// Both levels compute Q8_0, Q4_K and Q6_K (the formats of the common
// Q8_0 and Q4_K_M files) in assembly; the other types keep the portable
// kernels.
func archLevels() []level {
	return []level{
		{name: "neon", supported: true, apply: neonKernels},
		{name: "dotprod", supported: cpu.ARM64.HasASIMDDP, apply: dotprodKernels},
	}
}

func neonKernels(t *kernelTable) {
	t[quant.Q8_0] = kernel{act: actQ8_0, dot: dotOne(rowsQ8_0NEON), rows: rowsQ8_0NEON, tile: tileQ8_0NEON, name: "neon"}
	t[quant.Q4_K] = kernel{act: actQ8_K, pack: packK16, dot: dotOne(rowsQ4_KNEON), rows: rowsQ4_KNEON, name: "neon"}
	t[quant.Q6_K] = kernel{act: actQ8_K, pack: packK16, dot: dotOne(rowsQ6_KNEON), rows: rowsQ6_KNEON, name: "neon"}
}

func dotprodKernels(t *kernelTable) {
	t[quant.Q8_0] = kernel{act: actQ8_0, dot: dotOne(rowsQ8_0SDOT), rows: rowsQ8_0SDOT, tile: tileQ8_0SDOT, name: "dotprod"}
	t[quant.Q4_K] = kernel{act: actQ8_K, pack: packK16, dot: dotOne(rowsQ4_KSDOT), rows: rowsQ4_KSDOT, name: "dotprod"}
	t[quant.Q6_K] = kernel{act: actQ8_K, pack: packK16, dot: dotOne(rowsQ6_KSDOT), rows: rowsQ6_KSDOT, name: "dotprod"}
}
