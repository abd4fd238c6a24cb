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
// Both levels compute Q8_0, Q4_0, Q4_K, Q5_K and Q6_K (the formats of
// the common Q8_0, Q4_0, Q4_K_M and Q5_K_M files) and the float weight
// types F32, F16 and BF16 in assembly, as rows and as prefill tiles
// (several positions per loaded weight block); the float kernels use no
// integer products, so both levels share them. The other types (Q4_1,
// Q5_0, Q5_1) keep the portable kernels.
func archLevels() []level {
	return []level{
		{name: "neon", supported: true, apply: neonKernels},
		{name: "dotprod", supported: cpu.ARM64.HasASIMDDP, apply: dotprodKernels},
	}
}

func neonKernels(t *kernelTable) {
	t[quant.Q8_0] = kernel{act: actQ8_0, dot: dotOne(rowsQ8_0NEON), rows: rowsQ8_0NEON, tile: tileQ8_0NEON, name: "neon"}
	t[quant.Q4_0] = kernel{act: actQ8_0, dot: dotOne(rowsQ4_0NEON), rows: rowsQ4_0NEON, tile: tileQ4_0NEON, name: "neon"}
	kKernels(t, "neon", kQ4NEON, kQ5NEON, kQ6NEON)
	floatKernels(t, "neon")
}

func dotprodKernels(t *kernelTable) {
	t[quant.Q8_0] = kernel{act: actQ8_0, dot: dotOne(rowsQ8_0SDOT), rows: rowsQ8_0SDOT, tile: tileQ8_0SDOT, name: "dotprod"}
	t[quant.Q4_0] = kernel{act: actQ8_0, dot: dotOne(rowsQ4_0SDOT), rows: rowsQ4_0SDOT, tile: tileQ4_0SDOT, name: "dotprod"}
	kKernels(t, "dotprod", kQ4SDOT, kQ5SDOT, kQ6SDOT)
	floatKernels(t, "dotprod")
}

// floatKernels sets the F32, F16 and BF16 entries of a level.
func floatKernels(t *kernelTable, name string) {
	t[quant.F32] = kernel{act: actF32, dot: dotOne(rowsF32NEON), rows: rowsF32NEON, tile: tileF32NEON, name: name}
	t[quant.F16] = kernel{act: actF16, dot: dotOne(rowsF16NEON), rows: rowsF16NEON, tile: tileF16NEON, name: name}
	t[quant.BF16] = kernel{act: actBF16, dot: dotOne(rowsBF16NEON), rows: rowsBF16NEON, tile: tileBF16NEON, name: name}
}

// kKernels sets the Q4_K, Q5_K and Q6_K entries of a level.
func kKernels(t *kernelTable, name string, q4, q5, q6 kQuant) {
	for typ, k := range map[quant.Type]kQuant{quant.Q4_K: q4, quant.Q5_K: q5, quant.Q6_K: q6} {
		rows := kRows(k)
		t[typ] = kernel{act: actQ8_K, pack: packK16, dot: dotOne(rows), rows: rows, tile: kTile(k, rows), name: name}
	}
}
