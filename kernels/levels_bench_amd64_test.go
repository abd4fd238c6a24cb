//go:build amd64 && !purego

package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tessera-net/tessera/quant"
)

// BenchmarkLevels runs the same products under every kernel level this
// CPU supports (swar, avx2, avxvnni, avx512), so that each assembly
// level is measured against the portable SWAR kernels in one run: decode
// (MatVec) on 2048×2048 and 8192×2048 matrices, and prefill (MatMul) of
// 128 positions on 2048×2048. The MB/s column is weight bytes per
// second (times the positions for prefill). Select with e.g.
// -bench 'Levels/decode/q4_1/' or -bench 'Levels/.*/t1$'.
func BenchmarkLevels(b *testing.B) {
	defer useLevel("")
	types := []quant.Type{quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1, quant.Q8_0, quant.Q4_K, quant.Q5_K, quant.Q6_K}
	shapes := []struct {
		kind       string
		rows, cols int
		n          int // positions
	}{
		{"decode", 2048, 2048, 1},
		{"decode", 8192, 2048, 1},
		{"prefill", 2048, 2048, 128},
	}
	for _, sh := range shapes {
		for _, typ := range types {
			m := benchMatrix(b, typ, sh.rows, sh.cols)
			x := randValues(rand.New(rand.NewPCG(1, 1)), sh.n*sh.cols)
			y := make([]float32, sh.n*sh.rows)
			for _, l := range levels {
				if !l.supported || l.name == "generic" {
					continue
				}
				for _, threads := range []int{1, 2} {
					name := fmt.Sprintf("%s/%v/%dx%d/%s/t%d", sh.kind, typ, sh.rows, sh.cols, l.name, threads)
					b.Run(name, func(b *testing.B) {
						useLevel(l.name)
						defer useLevel("")
						p := NewPool(threads)
						defer p.Close()
						b.SetBytes(int64(len(m.Data)) * int64(sh.n))
						for b.Loop() {
							if sh.n == 1 {
								p.MatVec(y, m, x)
							} else {
								p.MatMul(y, m, x, sh.n)
							}
						}
					})
				}
			}
		}
	}
}

// BenchmarkFloatPrefill measures prefill (MatMul of 128 positions) of
// 2048×2048 float matrices with the selected level's kernels, once with
// its tile ("tile") and once position by position with its rows kernel
// ("rows", the tile removed from a copy of the table), so that the tile's
// gain is measured against its reference in the same run. The MB/s
// column is weight bytes per second times the positions.
func BenchmarkFloatPrefill(b *testing.B) {
	defer useLevel("")
	const rows, cols, n = 2048, 2048, 128
	for _, typ := range []quant.Type{quant.F32, quant.F16, quant.BF16} {
		m := benchMatrix(b, typ, rows, cols)
		x := randValues(rand.New(rand.NewPCG(1, 1)), n*cols)
		y := make([]float32, n*rows)
		for _, form := range []string{"rows", "tile"} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%v/%s/t%d", typ, form, threads), func(b *testing.B) {
					table := bestKernels
					if form == "rows" {
						table[typ].tile = nil
					} else if table[typ].tile == nil {
						b.Skipf("level %s has no %v tile", bestLevel, typ)
					}
					active = &table
					defer useLevel("")
					p := NewPool(threads)
					defer p.Close()
					b.SetBytes(int64(len(m.Data)) * n)
					for b.Loop() {
						p.MatMul(y, m, x, n)
					}
				})
			}
		}
	}
}
