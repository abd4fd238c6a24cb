package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tessera-net/tessera/quant"
)

var benchTypes = []quant.Type{quant.Q8_0, quant.Q4_0, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.F32, quant.F16}

// benchMatrix builds a random matrix quickly (random quants with finite
// scales, see randBlocks); speed does not depend on the values.
func benchMatrix(b *testing.B, t quant.Type, rows, cols int) Matrix {
	rng := rand.New(rand.NewPCG(uint64(t), uint64(rows)))
	m, err := NewMatrix(t, rows, cols, randBlocks(rng, t, rows, cols))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkMatVec reports weight bytes per second (the MB/s column).
func BenchmarkMatVec(b *testing.B) {
	for _, shape := range [][2]int{{2048, 2048}, {8192, 2048}} {
		for _, typ := range benchTypes {
			m := benchMatrix(b, typ, shape[0], shape[1])
			x := randValues(rand.New(rand.NewPCG(1, 1)), shape[1])
			y := make([]float32, shape[0])
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%v/%dx%d/t%d", typ, shape[0], shape[1], threads), func(b *testing.B) {
					p := NewPool(threads)
					defer p.Close()
					b.SetBytes(int64(len(m.Data)))
					for b.Loop() {
						p.MatVec(y, m, x)
					}
				})
			}
		}
	}
}

// BenchmarkMatVecDRAM streams 2048×2048 matrices, and 512×8192 ones (the
// shape of a down projection's rows), from a 512 MiB set (in memory
// allocated as Weights.Add does it), so that none is in cache: the weight bytes per second of decode, where memory
// bandwidth is the limit (BenchmarkMatVec's matrices may fit in a large L3
// cache and then measure compute instead). Between passes the same
// threads read the same bytes with StreamRead, the plain read loop; the
// roofline% metric is the read passes' total time over the product
// passes' (each product pass is followed by a read pass of the same
// bytes, so the two are compared over the same minutes), and readGB/s
// the read passes' mean rate. Where the level has an interleaved kernel
// for a type (layout.go), the type runs in both layouts: interleaved, and
// with its rows one after the other ("-rows"), whichever Weights.Add
// would choose for the shape (kernel.ilMaxCols).
func BenchmarkMatVecDRAM(b *testing.B) {
	for _, shape := range [][2]int{{2048, 2048}, {4096, 4096}, {512, 8192}} {
		for _, typ := range []quant.Type{quant.Q8_0, quant.Q4_K, quant.Q4_0} {
			benchMatVecDRAM(b, typ, shape[0], shape[1])
		}
	}
}

func benchMatVecDRAM(b *testing.B, typ quant.Type, rows, cols int) {
	const set = 512 << 20
	rb, _ := typ.RowBytes(cols)
	plain := benchMatrix(b, typ, rows, cols)
	layouts := []Matrix{plain}
	if k := active.get(typ); k.rowsIL != nil {
		// Both layouts, whichever Weights.Add would choose for this
		// shape (kernel.ilMaxCols).
		layouts = []Matrix{interleavedCopy(plain, k.ilUnit), plain}
		if pw := panelWidth(typ, cols, 2048); pw != 0 {
			layouts = append([]Matrix{panelledCopy(plain, pw, k.ilUnit)}, layouts...)
		}
	}
	for _, m0 := range layouts {
		data := allocWeights(set / len(m0.Data) * len(m0.Data))
		for o := 0; o < len(data); o += len(m0.Data) {
			copy(data[o:], m0.Data)
		}
		var ms []Matrix
		for o := 0; o < len(data); o += rows * rb {
			m, err := NewMatrix(typ, rows, cols, data[o:o+rows*rb])
			if err != nil {
				b.Fatal(err)
			}
			m.il, m.panel = m0.il, m0.panel
			ms = append(ms, m)
		}
		name := typ.String()
		switch {
		case m0.panel != 0:
			name += "-panels"
		case m0.il == 0 && len(layouts) > 1:
			name += "-rows"
		}
		x := randValues(rand.New(rand.NewPCG(1, 1)), cols)
		y := make([]float32, rows)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/%dx%d/t%d", name, rows, cols, threads), func(b *testing.B) {
				p := NewPool(threads)
				defer p.Close()
				b.SetBytes(int64(len(data)))
				units := len(data) / readUnit
				var mat, read time.Duration
				passes := 0
				for b.Loop() {
					t0 := time.Now()
					for _, m := range ms {
						p.MatVec(y, m, x)
					}
					t1 := time.Now()
					p.Parallel(units, units/(8*threads)+1, func(lo, hi int) {
						streamSink.Add(StreamRead(data[lo*readUnit : hi*readUnit]))
					})
					mat += t1.Sub(t0)
					read += time.Since(t1)
					passes++
				}
				b.ReportMetric(100*read.Seconds()/mat.Seconds(), "roofline%")
				b.ReportMetric(float64(passes)*float64(len(data))/read.Seconds()/1e9, "readGB/s")
			})
		}
	}
}

// BenchmarkMatMul reports weight bytes per second per position.
func BenchmarkMatMul(b *testing.B) {
	const n = 128
	rows, cols := 2048, 2048
	for _, typ := range benchTypes {
		m := benchMatrix(b, typ, rows, cols)
		x := randValues(rand.New(rand.NewPCG(1, 1)), n*cols)
		y := make([]float32, n*rows)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%v/%dx%d/n%d/t%d", typ, rows, cols, n, threads), func(b *testing.B) {
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

// BenchmarkSmallMatVec measures call overhead on a small matrix (dispatch
// cost versus compute).
func BenchmarkSmallMatVec(b *testing.B) {
	for _, rows := range []int{16, 32, 64, 128, 256, 768} {
		m := benchMatrix(b, quant.Q8_0, rows, 768)
		x := randValues(rand.New(rand.NewPCG(1, 1)), 768)
		y := make([]float32, rows)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("q8_0/%dx768/t%d", rows, threads), func(b *testing.B) {
				p := NewPool(threads)
				defer p.Close()
				b.SetBytes(int64(len(m.Data)))
				for b.Loop() {
					p.MatVec(y, m, x)
				}
			})
		}
	}
}

// BenchmarkRowDot compares implementations of the row dots on 64 rows (1
// thread, no pool, in cache), generic versus selected.
func BenchmarkRowDot(b *testing.B) {
	for _, typ := range allTypes {
		cols := 4096
		m := benchMatrix(b, typ, 64, cols)
		x := randValues(rand.New(rand.NewPCG(1, 1)), cols)
		rb, _ := typ.RowBytes(cols)
		for _, tab := range []*kernelTable{&genericKernels, &bestKernels} {
			k := tab.get(typ)
			var a actVec
			quantizeAct(&a, x, k.act, k.pack)
			y := make([]float32, 64)
			b.Run(fmt.Sprintf("%v/%s", typ, k.name), func(b *testing.B) {
				b.SetBytes(int64(len(m.Data)))
				for b.Loop() {
					if k.rows != nil { // assembly kernels work on groups of rows
						k.rows(y, m.Data, rb, &a)
						continue
					}
					for r := 0; r < 64; r++ {
						y[r] = k.dot(m.Data[r*rb:(r+1)*rb], &a)
					}
				}
			})
		}
	}
}

// BenchmarkQuantizeAct measures the per-call activation conversion.
func BenchmarkQuantizeAct(b *testing.B) {
	x := randValues(rand.New(rand.NewPCG(1, 1)), 2048)
	for _, typ := range []quant.Type{quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q4_K, quant.F16} {
		k := bestKernels.get(typ)
		var a actVec
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(4 * int64(len(x)))
			for b.Loop() {
				quantizeAct(&a, x, k.act, k.pack)
			}
		})
	}
}

// BenchmarkForwardTiny runs the products of one decode step of the
// kjv-tiny model shape (dim 256, ffn 768, 6 layers, 4 KV heads of 32,
// vocab 2048) in q8_0: many small products, so pool dispatch matters.
func BenchmarkForwardTiny(b *testing.B) {
	type mat struct{ rows, cols int }
	layer := []mat{{256, 256}, {128, 256}, {128, 256}, {256, 256}, {768, 256}, {768, 256}, {256, 768}}
	var ms []Matrix
	bytes := 0
	for l := 0; l < 6; l++ {
		for _, s := range layer {
			m := benchMatrix(b, quant.Q8_0, s.rows, s.cols)
			ms = append(ms, m)
			bytes += len(m.Data)
		}
	}
	out := benchMatrix(b, quant.Q8_0, 2048, 256)
	ms = append(ms, out)
	bytes += len(out.Data)
	x := randValues(rand.New(rand.NewPCG(1, 1)), 768)
	y := make([]float32, 2048)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("t%d", threads), func(b *testing.B) {
			p := NewPool(threads)
			defer p.Close()
			b.SetBytes(int64(bytes))
			for b.Loop() {
				for _, m := range ms {
					p.MatVec(y[:m.Rows], m, x[:m.Cols])
				}
			}
		})
	}
}
