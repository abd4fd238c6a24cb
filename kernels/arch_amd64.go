//go:build amd64 && !purego

package kernels

import (
	"os"

	"github.com/tessera-net/tessera/quant"
	"golang.org/x/sys/cpu"
)

// archLevels returns the amd64 assembly levels:
//
//   - avx2: AVX2 with F16C (every AVX2 CPU has it; it converts the f16
//     block scales). Signed int8 products use VPSIGNB + VPMADDUBSW +
//     VPMADDWD. FMA is not used: the kernels multiply and add in
//     separate roundings, as the generic code does.
//   - avxvnni: AVX2 plus AVX-VNNI (Intel Alder Lake and later consumer
//     parts, AMD Zen 5), for the many desktop CPUs without AVX-512:
//     VEX-encoded VPDPBUSD multiplies and accumulates bytes into int32
//     in one instruction on YMM registers, where AVX2 needs VPMADDUBSW
//     and VPMADDWD. Q8_0 weights are then made unsigned (w XOR 0x80)
//     rather than sign-flipped into the quants (VPSIGNB). The K-quants
//     keep the AVX2 byte products (their int16 pairs are then scaled per
//     sub-block) but scale and add them in one VPDPWSSD.
//   - avx512: AVX-512 F/BW/VL with VNNI. Row kernels as avx2, but
//     VPDPBUSD multiplies and accumulates bytes in one instruction (Q4_K
//     works on 64 bytes at a time); MatMul tiles keep sixteen positions
//     in the lanes of a ZMM register and broadcast the weights, so no
//     horizontal sums are needed (dot_avx512_amd64.go).
//
// x/sys/cpu reports a feature only if the OS saves the registers it needs
// (XSAVE state for YMM, and for ZMM and the mask registers).
func archLevels() []level {
	avx2 := cpu.X86.HasAVX2 && cpu.X86.HasF16C
	avxvnni := avx2 && cpu.X86.HasAVXVNNI
	avx512 := avx2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI
	return []level{
		{name: "avx2", supported: avx2, apply: avx2Kernels},
		{name: "avxvnni", supported: avxvnni, apply: avxvnniKernels},
		{name: "avx512", supported: avx512, apply: avx512Kernels},
	}
}

func init() {
	// The activation quantizers serve every level (they are bit-identical
	// to the Go code) unless the simple loops were asked for.
	if cpu.X86.HasAVX2 && cpu.X86.HasF16C && os.Getenv("TESSERA_KERNELS") != "generic" {
		quantQ8_0Fast = quantQ8_0AVX2Act
		quantQ8_KFast = quantQ8_KAVX2Act
	}
}

func avx2Kernels(t *kernelTable) {
	t[quant.Q8_0] = kernel{act: actQ8_0, dot: dotQ8_0AVX2, rows: rowsQ8_0AVX2, tile: tileQ8_0AVX2, name: "avx2"}
	t[quant.Q4_K] = kernel{act: actQ8_K, pack: packK16, dot: dotQ4_KAVX2, rows: rowsQ4_KAVX2, tile: tileQ4_KAVX2, name: "avx2"}
	t[quant.Q6_K] = kernel{act: actQ8_K, pack: packK16, dot: dotQ6_KAVX2, rows: rowsQ6_KAVX2, tile: tileQ6_KAVX2, name: "avx2"}
	t[quant.Q5_K] = kernel{act: actQ8_K, pack: packK16, dot: dotQ5_KAVX2, rows: rowsQ5_KAVX2, tile: tileQ5_KAVX2, name: "avx2"}
	t[quant.Q4_0] = legacyKernel(lQ4_0, isaAVX2, "avx2")
	t[quant.Q4_1] = legacyKernel(lQ4_1, isaAVX2, "avx2")
	t[quant.Q5_0] = legacyKernel(lQ5_0, isaAVX2, "avx2")
	t[quant.Q5_1] = legacyKernel(lQ5_1, isaAVX2, "avx2")
	t[quant.F32] = kernel{act: actF32, dot: dotF32AVX2, rows: rowsF32AVX2, tile: tileF32AVX2, name: "avx2"}
	t[quant.F16] = kernel{act: actF16, dot: dotF16AVX2, rows: rowsF16AVX2, tile: tileF16AVX2, name: "avx2"}
	t[quant.BF16] = kernel{act: actBF16, dot: dotBF16AVX2, rows: rowsBF16AVX2, tile: tileBF16AVX2, name: "avx2"}
}

func avxvnniKernels(t *kernelTable) {
	t[quant.Q8_0] = legacyKernel(lQ8_0, isaAVXVNNI, "avxvnni")
	t[quant.Q4_0] = legacyKernel(lQ4_0, isaAVXVNNI, "avxvnni")
	t[quant.Q4_1] = legacyKernel(lQ4_1, isaAVXVNNI, "avxvnni")
	t[quant.Q5_0] = legacyKernel(lQ5_0, isaAVXVNNI, "avxvnni")
	t[quant.Q5_1] = legacyKernel(lQ5_1, isaAVXVNNI, "avxvnni")
	t[quant.Q4_K] = kernel{act: actQ8_K, pack: packK16, dot: dotOne(rowsQ4_KAVXVNNI), rows: rowsQ4_KAVXVNNI, tile: tile8Q4_KAVXVNNI, prep: prepTile16, name: "avxvnni"}
	t[quant.Q5_K] = kernel{act: actQ8_K, pack: packK16, dot: dotOne(rowsQ5_KAVXVNNI), rows: rowsQ5_KAVXVNNI, tile: tileQ5_KAVXVNNI, name: "avxvnni"}
	t[quant.Q6_K] = kernel{act: actQ8_K, pack: packK16, dot: dotOne(rowsQ6_KAVXVNNI), rows: rowsQ6_KAVXVNNI, tile: tileQ6_KAVXVNNI, name: "avxvnni"}
}

func avx512Kernels(t *kernelTable) {
	t[quant.Q8_0] = kernel{act: actQ8_0, dot: dotQ8_0VNNI, rows: rowsQ8_0VNNI, rowsIL: rowsQ8_0VNNIIL, tileIL: tileQ8_0VNNIIL, ilUnit: 34, ilMaxCols: 4096, panelCols: 2048, tilePanels: tilePanelsQ8_0VNNI, tile: tileQ8_0VNNI, prep: prepTile16, name: "avx512"}
	t[quant.Q4_0] = kernel{act: actQ8_0, dot: dotOne(rowsQ4_0VNNI), rows: rowsQ4_0VNNI, rowsIL: rowsQ4_0VNNIIL, tileIL: tileQ4_0VNNIIL, ilUnit: 18, ilMaxCols: 8192, tilePanels: tilePanelsQ4_0VNNI, tile: tileQ4_0VNNI, prep: prepTile16, name: "avx512"}
	t[quant.Q4_1] = legacyKernel(lQ4_1, isaVNNI, "avx512")
	t[quant.Q5_0] = legacyKernel(lQ5_0, isaVNNI, "avx512")
	t[quant.Q5_1] = legacyKernel(lQ5_1, isaVNNI, "avx512")
	t[quant.Q4_K] = kernel{act: actQ8_K, pack: packK16Z, dot: dotQ4_KVNNI, rows: rowsQ4_KVNNI, rowsIL: rowsQ4_KLanesVNNI, ilUnit: ilQ4KLanes, ilMaxCols: 16384, tile: tileQ4_KVNNI, prep: prepTile16, name: "avx512"}
	// Q6_K and Q5_K rows are the previous level's: avxvnni's where the
	// CPU has AVX-VNNI too, else avx2's.
	t[quant.Q6_K] = kernel{act: actQ8_K, pack: packK16, dot: t[quant.Q6_K].dot, rows: t[quant.Q6_K].rows, tile: tileQ6_KVNNI, prep: prepTile16, name: "avx512"}
	t[quant.Q5_K] = kernel{act: actQ8_K, pack: packK16, dot: t[quant.Q5_K].dot, rows: t[quant.Q5_K].rows, tile: tileQ5_KVNNI, prep: prepTile16, name: "avx512"}
}
