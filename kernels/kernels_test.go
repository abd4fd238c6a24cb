package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-net/tessera/quant"
)

var allTypes = []quant.Type{
	quant.F32, quant.F16, quant.BF16,
	quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1, quant.Q8_0,
	quant.Q4_K, quant.Q5_K, quant.Q6_K,
}

func isK(t quant.Type) bool { return t == quant.Q4_K || t == quant.Q5_K || t == quant.Q6_K }

// testCols are the awkward row lengths for a type.
func testCols(t quant.Type) []int {
	switch {
	case isK(t):
		return []int{256, 512, 768}
	case t.BlockSize() == 32:
		return []int{32, 96, 288, 2080}
	}
	return []int{1, 7, 32, 96, 288, 2081} // float types: any length
}

var testRows = []int{1, 3, 17, 67}

// randValues returns n normal values whose scale varies per 32-value block
// (some blocks are tiny, one may be all zero), as activations do.
func randValues(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for b := 0; b < n; b += 32 {
		scale := math.Exp(rng.NormFloat64() * 1.5)
		if rng.IntN(13) == 0 {
			scale = 0
		}
		for i := b; i < min(b+32, n); i++ {
			x[i] = float32(rng.NormFloat64() * scale)
		}
	}
	return x
}

// quantMatrix quantizes a random rows×cols matrix with quant.Quantize.
func quantMatrix(tb testing.TB, rng *rand.Rand, t quant.Type, rows, cols int) []byte {
	tb.Helper()
	rb, err := t.RowBytes(cols)
	if err != nil {
		tb.Fatal(err)
	}
	data := make([]byte, rows*rb)
	for r := 0; r < rows; r++ {
		src := randValues(rng, cols)
		if err := quant.Quantize(t, data[r*rb:(r+1)*rb], src); err != nil {
			tb.Fatal(err)
		}
	}
	return data
}

// unaligned returns a copy of b starting at an odd address.
func unaligned(b []byte) []byte {
	buf := make([]byte, len(b)+1)
	copy(buf[1:], b)
	return buf[1:]
}

// actDequant returns the activation values the kernels actually use: the
// quantized (or rounded) activations as float64.
func actDequant(k *kernel, x []float32) []float64 {
	var a actVec
	quantizeAct(&a, x, k.act, k.pack)
	out := make([]float64, len(x))
	switch k.act {
	case actF32, actF16, actBF16:
		for i := range x {
			out[i] = float64(a.f[i])
		}
	case actQ8_0, actQ8_1:
		for i := range x {
			out[i] = float64(a.q[i]) * float64(a.d[i/32])
		}
	case actQ8_K:
		for i := range x {
			out[i] = float64(a.q[i]) * float64(a.d[i/256])
		}
	}
	return out
}

// blockMin returns |m| of the 32-value block of a q4_1/q5_1 row holding
// value i (0 for other types): kernels apply the min through Q8_1's s.
func blockMin(t quant.Type, row []byte, i int) float64 {
	if t != quant.Q4_1 && t != quant.Q5_1 {
		return 0
	}
	bb := t.BlockBytes()
	return math.Abs(float64(f16tab[binary.LittleEndian.Uint16(row[(i/32)*bb+2:])]))
}

// tolerances bounds |kernel - exact| for one row, where exact is the
// float64 dot of the dequantized row with x.
//
// Activation quantization: a Q8_0/Q8_1 quant is round(x*127/amax) times
// d = f16(amax/127), so |x - q*d| <= amax*(0.5/127 + 2^-11) (rounding plus
// the f16 error of d for |q| <= 127), amax the block's max |x|; Q8_K keeps
// d in float32: amax*0.5/127. f16 activations are off by at most 2^-11
// relative (2^-25 absolute below the normal range), bf16 by 2^-8. Summed
// with weights |w_i| this gives quantTol. For q4_1/q5_1 the min m enters
// through s = f16(d*sum(q)), adding |m| per value to the weight and the f16
// error of s.
//
// Float rounding: blocks (or float lanes) are accumulated in float32, each
// term rounded: about (terms + log) * 2^-24 * sum|w*x|, taken with margin
// as floatTol. The kernel must also agree with the dot of the row and the
// *quantized* activations to within floatTol (plus the s error), which
// checks the arithmetic much more tightly than quantTol.
func tolerances(t quant.Type, row []byte, wf []float32, x []float32, xq []float64) (quantTol, floatTol float64) {
	n := len(x)
	bs := t.BlockSize()
	var sumAbs float64
	for i := range x {
		sumAbs += math.Abs(float64(wf[i])) * math.Abs(float64(x[i]))
	}
	terms := float64(n/bs + 8)
	if bs == 1 {
		terms = float64(n/8 + 8)
	}
	floatTol = 4*terms*math.Pow(2, -24)*sumAbs + 1e-30
	for b := 0; b < n; b += 32 {
		var amax float64
		for i := b; i < min(b+32, n); i++ {
			amax = math.Max(amax, math.Abs(float64(x[i])))
		}
		if isK(t) { // Q8_K scales per 256
			amax = 0
			b0 := b / 256 * 256
			for i := b0; i < b0+256; i++ {
				amax = math.Max(amax, math.Abs(float64(x[i])))
			}
		}
		for i := b; i < min(b+32, n); i++ {
			w := math.Abs(float64(wf[i])) + blockMin(t, row, i)
			var e float64
			switch {
			case t == quant.F32:
			case t == quant.F16:
				e = math.Abs(float64(x[i]))*math.Pow(2, -11) + math.Pow(2, -25)
			case t == quant.BF16:
				e = math.Abs(float64(x[i])) * math.Pow(2, -8)
			case isK(t):
				e = amax * 0.5 / 127 * 1.001
			default:
				e = amax * (0.5/127 + math.Pow(2, -11)) * 1.001
			}
			quantTol += w * e
			if m := blockMin(t, row, i); m != 0 {
				// f16 rounding of s = d*sum(q), relative 2^-11, plus f16(d) vs d.
				floatTol += m * math.Abs(xq[i]) * math.Pow(2, -9)
			}
		}
	}
	return quantTol + floatTol, floatTol
}

// TestMatVecAccuracy checks MatVec, with the selected and with the generic
// kernels, against quant.DotReference (see tolerances).
func TestMatVecAccuracy(t *testing.T) {
	for _, generic := range []bool{false, true} {
		useGeneric(generic)
		testMatVecAccuracy(t, generic)
	}
	useGeneric(false)
}

func testMatVecAccuracy(t *testing.T, generic bool) {
	p := NewPool(2)
	defer p.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, typ := range allTypes {
		for _, cols := range testCols(typ) {
			for _, rows := range testRows {
				t.Run(fmt.Sprintf("%v/%s/%dx%d", typ, active.get(typ).name, rows, cols), func(t *testing.T) {
					data := unaligned(quantMatrix(t, rng, typ, rows, cols))
					m, err := NewMatrix(typ, rows, cols, data)
					if err != nil {
						t.Fatal(err)
					}
					x := randValues(rng, cols)
					y := make([]float32, rows)
					p.MatVec(y, m, x)
					k := active.get(typ)
					xq := actDequant(k, x)
					rb, _ := typ.RowBytes(cols)
					wf := make([]float32, cols)
					for r := 0; r < rows; r++ {
						row := m.Data[r*rb : (r+1)*rb]
						if err := quant.Dequantize(typ, wf, row); err != nil {
							t.Fatal(err)
						}
						want := quant.DotReference(typ, row, x)
						var wantQ float64
						for i := range xq {
							wantQ += float64(wf[i]) * xq[i]
						}
						qt, ft := tolerances(typ, row, wf, x, xq)
						got := float64(y[r])
						if math.Abs(got-want) > qt || math.IsNaN(got) {
							t.Errorf("row %d: got %g, reference %g, |diff| %g > tolerance %g", r, got, want, math.Abs(got-want), qt)
						}
						if math.Abs(got-wantQ) > ft {
							t.Errorf("row %d: got %g, exact dot with quantized activations %g, |diff| %g > %g", r, got, wantQ, math.Abs(got-wantQ), ft)
						}
					}
				})
			}
		}
	}
}

// splitPools returns pools of the given thread counts that split every
// product as finely as its rows allow (minThreadBytes 1, so a thread may
// get a single row), and closes them and restores minThreadBytes when t
// ends.
func splitPools(t *testing.T, threads ...int) []*Pool {
	saved := minThreadBytes
	minThreadBytes = 1
	var pools []*Pool
	for _, n := range threads {
		pools = append(pools, NewPool(n))
	}
	t.Cleanup(func() {
		for _, p := range pools {
			p.Close()
		}
		minThreadBytes = saved
	})
	return pools
}

// TestThreadInvariance checks that 1, 2, 3 and 7 threads give bit-identical
// results (also with more threads than rows), for every kernel level.
func TestThreadInvariance(t *testing.T) {
	// Every product on as many threads as it has rows.
	pools := splitPools(t, 1, 2, 3, 7)
	defer useLevel("")
	for _, l := range append([]*level{findLevel("generic")}, testLevels(t)...) {
		useLevel(l.name)
		testThreadInvariance(t, pools)
	}
}

func testThreadInvariance(t *testing.T, pools []*Pool) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, typ := range allTypes {
		for _, rows := range []int{1, 5, 67, 1031} {
			cols := testCols(typ)[1]
			m, err := NewMatrix(typ, rows, cols, quantMatrix(t, rng, typ, rows, cols))
			if err != nil {
				t.Fatal(err)
			}
			x := randValues(rng, 17*cols)
			var ref []float32
			for _, p := range pools {
				for _, n := range []int{1, 3, 17} {
					y := make([]float32, n*rows)
					if n == 1 {
						p.MatVec(y, m, x[:cols])
					} else {
						p.MatMul(y, m, x, n)
					}
					if n == 1 && ref == nil {
						ref = y
						continue
					}
					for r := 0; r < rows; r++ {
						if math.Float32bits(y[r]) != math.Float32bits(ref[r]) {
							t.Fatalf("%v %dx%d, %d threads, n=%d: y[%d] = %g, want %g (1 thread)", typ, rows, cols, p.Threads(), n, r, y[r], ref[r])
						}
					}
				}
			}
		}
	}
}

// TestMatMulMatchesMatVec checks MatMul row j against MatVec of position j,
// bit for bit, for row counts that do and do not fill whole row blocks.
func TestMatMulMatchesMatVec(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p := NewPool(3)
	defer p.Close()
	for _, typ := range allTypes {
		for _, rows := range []int{1, 17, 400} {
			cols := testCols(typ)[0]
			m, err := NewMatrix(typ, rows, cols, quantMatrix(t, rng, typ, rows, cols))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 2, 5, 33} {
				x := randValues(rng, n*cols)
				y := make([]float32, n*rows)
				p.MatMul(y, m, x, n)
				yv := make([]float32, rows)
				for j := 0; j < n; j++ {
					p.MatVec(yv, m, x[j*cols:(j+1)*cols])
					for r := range yv {
						if math.Float32bits(yv[r]) != math.Float32bits(y[j*rows+r]) {
							t.Fatalf("%v %dx%d n=%d: MatMul[%d][%d] = %g, MatVec = %g", typ, rows, cols, n, j, r, y[j*rows+r], yv[r])
						}
					}
				}
			}
		}
	}
}

// randBlocks returns rows of random bytes with every f16 scale field set to
// a finite value: arbitrary quants, qh bits, K-quant scales and mins,
// including q8_0 weights of -128, to exercise every lane bound.
func randBlocks(rng *rand.Rand, t quant.Type, rows, cols int) []byte {
	rb, _ := t.RowBytes(cols)
	data := make([]byte, rows*rb)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	half := func(b []byte) {
		binary.LittleEndian.PutUint16(b, fp32ToFP16(float32(rng.NormFloat64()*0.01)))
	}
	switch t {
	case quant.F32:
		for i := 0; i < len(data); i += 4 {
			binary.LittleEndian.PutUint32(data[i:], math.Float32bits(float32(rng.NormFloat64())))
		}
	case quant.F16:
		for i := 0; i < len(data); i += 2 {
			half(data[i:])
		}
	case quant.BF16:
		for i := 0; i < len(data); i += 2 {
			binary.LittleEndian.PutUint16(data[i:], fp32ToBF16(float32(rng.NormFloat64())))
		}
	default:
		bb := t.BlockBytes()
		for o := 0; o < len(data); o += bb {
			switch t {
			case quant.Q6_K:
				half(data[o+208:])
			case quant.Q4_1, quant.Q5_1, quant.Q4_K, quant.Q5_K:
				half(data[o:])
				half(data[o+2:])
			default:
				half(data[o:])
			}
		}
	}
	return data
}

// extremeValues returns activations that quantize to ±127 in every
// position (or random ones), to push the SWAR lane sums to their bounds.
func extremeValues(rng *rand.Rand, n int, mode int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch mode {
		case 0:
			x[i] = 1
		case 1:
			x[i] = -1
		case 2:
			x[i] = float32(1 - 2*float64(rng.IntN(2)))
		default:
			x[i] = float32(rng.NormFloat64())
		}
	}
	return x
}

// TestGenericMatchesSelected checks the selected kernels against the
// generic ones, bit for bit, on random bytes and extreme activations.
func TestGenericMatchesSelected(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := NewPool(2)
	defer p.Close()
	defer useGeneric(false)
	for _, typ := range allTypes {
		t.Logf("%v: selected %s", typ, bestKernels.get(typ).name)
		for _, cols := range testCols(typ) {
			rows := 19
			data := randBlocks(rng, typ, rows, cols)
			if typ != quant.F32 && typ != quant.F16 && typ != quant.BF16 {
				// And some all-max / all-zero blocks.
				rb, _ := typ.RowBytes(cols)
				for i := 0; i < rb; i++ {
					data[i] = 0xff
				}
				half := typ.BlockBytes()
				for o := 0; o < rb; o += half {
					switch typ {
					case quant.Q6_K:
						binary.LittleEndian.PutUint16(data[o+208:], 0x3c00)
					default:
						binary.LittleEndian.PutUint16(data[o:], 0x3c00)
					}
				}
				for i := rb; i < 2*rb; i++ {
					data[i] = 0
				}
			}
			m, err := NewMatrix(typ, rows, cols, unaligned(data))
			if err != nil {
				t.Fatal(err)
			}
			for mode := 0; mode < 4; mode++ {
				x := extremeValues(rng, cols, mode)
				ys := make([]float32, rows)
				yg := make([]float32, rows)
				useGeneric(false)
				p.MatVec(ys, m, x)
				useGeneric(true)
				p.MatVec(yg, m, x)
				for r := range ys {
					if math.Float32bits(ys[r]) != math.Float32bits(yg[r]) {
						t.Fatalf("%v cols %d mode %d row %d: selected %g, generic %g", typ, cols, mode, r, ys[r], yg[r])
					}
				}
			}
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	defer useLevel("")
	rng := rand.New(rand.NewPCG(9, 10))
	for _, l := range testLevels(t) {
		useLevel(l.name)
		for _, threads := range []int{1, 2} {
			p := NewPool(threads)
			for _, typ := range allTypes {
				// 3 rows: the scratch paths for fewer rows than a group.
				rows, cols := 67, 512
				if typ.BlockSize() == 32 || typ == quant.F32 {
					rows = 3
				}
				m, err := NewMatrix(typ, rows, cols, quantMatrix(t, rng, typ, rows, cols))
				if err != nil {
					t.Fatal(err)
				}
				ms := []Matrix{m}
				if k := active.get(typ); k.rowsIL != nil {
					// Interleaved rows, with 3 after the last group.
					il, err := NewMatrix(typ, 67, cols, quantMatrix(t, rng, typ, 67, cols))
					if err != nil {
						t.Fatal(err)
					}
					ms = append(ms, interleavedCopy(il, k.ilUnit))
				}
				if k := active.get(typ); k.rowsIL != nil && k.ilUnit > 0 {
					// In two column panels (of the layouts with units of
					// bytes; ilQ4KLanes is never panelled).
					pm, err := NewMatrix(typ, 67, 2*cols, quantMatrix(t, rng, typ, 67, 2*cols))
					if err != nil {
						t.Fatal(err)
					}
					ms = append(ms, panelledCopy(pm, cols, k.ilUnit))
				}
				for _, m := range ms {
					const n = 21 // a group of 16, one of 4, one left over
					x := randValues(rng, n*m.Cols)
					y := make([]float32, n*m.Rows)
					p.MatVec(y, m, x[:m.Cols]) // warm up: grows the scratch buffers
					p.MatMul(y, m, x, n)
					if a := testing.AllocsPerRun(20, func() { p.MatVec(y, m, x[:m.Cols]) }); a != 0 {
						t.Errorf("%s %v (interleaved %v, panels of %d), %d threads: MatVec allocates %v times per call", l.name, typ, m.Interleaved(), m.panel, threads, a)
					}
					if a := testing.AllocsPerRun(5, func() { p.MatMul(y, m, x, n) }); a != 0 {
						t.Errorf("%s %v (interleaved %v, panels of %d), %d threads: MatMul allocates %v times per call", l.name, typ, m.Interleaved(), m.panel, threads, a)
					}
				}
			}
			p.Close()
		}
	}
}

func TestNewMatrixErrors(t *testing.T) {
	ok := make([]byte, 4*34)
	cases := []struct {
		name       string
		typ        quant.Type
		rows, cols int
		data       []byte
		want       string
	}{
		{"unsupported q8_1", quant.Q8_1, 1, 32, ok, "unsupported"},
		{"unsupported q2_k", quant.Q2_K, 1, 256, make([]byte, 1000), "unsupported"},
		{"unknown type", quant.Type(99), 1, 32, ok, "unsupported"},
		{"zero rows", quant.Q8_0, 0, 32, ok, "positive"},
		{"negative cols", quant.Q8_0, 1, -32, ok, "positive"},
		{"partial block", quant.Q8_0, 1, 48, ok, "whole number"},
		{"short data", quant.Q8_0, 5, 32, ok, "needs 170 bytes"},
		{"short k-quant", quant.Q4_K, 2, 256, make([]byte, 287), "needs 288 bytes"},
		{"nil data", quant.F32, 1, 1, nil, "needs 4 bytes"},
	}
	for _, c := range cases {
		_, err := NewMatrix(c.typ, c.rows, c.cols, c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one containing %q", c.name, err, c.want)
		}
	}
	m, err := NewMatrix(quant.Q8_0, 4, 32, append(ok, 1, 2, 3))
	if err != nil || len(m.Data) != 4*34 || m.Rows != 4 || m.Cols != 32 || m.Type != quant.Q8_0 {
		t.Errorf("valid matrix: %+v, %v", m, err)
	}
}

func mustPanic(t *testing.T, name, want string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic", name)
		} else if !strings.Contains(fmt.Sprint(r), want) {
			t.Errorf("%s: panic %q, want one containing %q", name, r, want)
		}
	}()
	f()
}

func TestPoolMisuse(t *testing.T) {
	m, err := NewMatrix(quant.F32, 2, 4, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	p := NewPool(2)
	if p.Threads() != 2 {
		t.Errorf("Threads = %d", p.Threads())
	}
	mustPanic(t, "short x", "x has 3", func() { p.MatVec(make([]float32, 2), m, make([]float32, 3)) })
	mustPanic(t, "short y", "y has 1", func() { p.MatVec(make([]float32, 1), m, make([]float32, 4)) })
	mustPanic(t, "short MatMul x", "x has 4", func() { p.MatMul(make([]float32, 4), m, make([]float32, 4), 2) })
	bad := m
	bad.Data = bad.Data[:31]
	mustPanic(t, "bad matrix", "invalid", func() { p.MatVec(make([]float32, 2), bad, make([]float32, 4)) })
	p.Close()
	p.Close() // idempotent
	mustPanic(t, "after Close", "closed Pool", func() { p.MatVec(make([]float32, 2), m, make([]float32, 4)) })
	if q := NewPool(0); q.Threads() < 1 {
		t.Errorf("NewPool(0).Threads() = %d", q.Threads())
	} else {
		q.Close()
	}
}

// TestConcurrentCalls runs calls on one Pool from several goroutines; they
// are serialized and must give the same answers.
func TestConcurrentCalls(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	p := NewPool(2)
	defer p.Close()
	rows, cols := 300, 256
	m, _ := NewMatrix(quant.Q4_K, rows, cols, quantMatrix(t, rng, quant.Q4_K, rows, cols))
	x := randValues(rng, cols)
	want := make([]float32, rows)
	p.MatVec(want, m, x)
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			y := make([]float32, rows)
			for it := 0; it < 50; it++ {
				p.MatVec(y, m, x)
				for r := range y {
					if y[r] != want[r] {
						errs <- fmt.Errorf("row %d: %g != %g", r, y[r], want[r])
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestActivationQuantization checks the activation formats against the
// reference quantizers in package quant.
func TestActivationQuantization(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := randValues(rng, 2048)
	x[5] = -x[5] * 100 // a negative maximum, for Q8_K's sign trick
	// Q8_K: same algorithm as quantize_row_q8_K_ref, byte for byte.
	var a actVec
	quantizeAct(&a, x, actQ8_K, packNone)
	ref := make([]byte, quant.Q8_K.BlockBytes()*8)
	if err := quant.Quantize(quant.Q8_K, ref, x); err != nil {
		t.Fatal(err)
	}
	for b := 0; b < 8; b++ {
		blk := ref[b*292:]
		if d := math.Float32frombits(binary.LittleEndian.Uint32(blk)); d != a.d[b] {
			t.Errorf("Q8_K block %d: d %g, reference %g", b, a.d[b], d)
		}
		for i := 0; i < 256; i++ {
			if int8(blk[4+i]) != a.q[b*256+i] {
				t.Fatalf("Q8_K block %d quant %d: %d, reference %d", b, i, a.q[b*256+i], int8(blk[4+i]))
			}
		}
		for k := 0; k < 16; k++ {
			if s := int16(binary.LittleEndian.Uint16(blk[260+2*k:])); int32(s) != a.sum[b*16+k] {
				t.Errorf("Q8_K block %d bsum %d: %d, reference %d", b, k, a.sum[b*16+k], s)
			}
		}
	}
	// Q8_0/Q8_1: the x86 variant (x*127/amax, ties to even) may differ from
	// the reference (x*(1/d), ties away) by one step, rarely.
	quantizeAct(&a, x, actQ8_1, packNone)
	ref = make([]byte, quant.Q8_1.BlockBytes()*64)
	if err := quant.Quantize(quant.Q8_1, ref, x); err != nil {
		t.Fatal(err)
	}
	diffs := 0
	for b := 0; b < 64; b++ {
		blk := ref[b*36:]
		if d := f16tab[binary.LittleEndian.Uint16(blk)]; d != a.d[b] {
			t.Errorf("Q8_1 block %d: d %g, reference %g", b, a.d[b], d)
		}
		var sum int32
		for i := 0; i < 32; i++ {
			q := a.q[b*32+i]
			sum += int32(q)
			if r := int8(blk[4+i]); r != q {
				diffs++
				if r-q > 1 || q-r > 1 {
					t.Errorf("Q8_1 block %d quant %d: %d, reference %d", b, i, q, r)
				}
			}
		}
		if sum != a.sum[b] {
			t.Errorf("block %d sum %d, want %d", b, a.sum[b], sum)
		}
	}
	if diffs > 2 {
		t.Errorf("%d quants differ from the reference quantizer", diffs)
	}
}

func TestFP16Conversions(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got, want := f16tab[h], quant.FP16ToFP32(h)
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("f16 %#04x: %g, quant %g", h, got, want)
		}
		if bf := bf16ToFP32(h); math.Float32bits(bf) != math.Float32bits(quant.BF16ToFP32(h)) {
			t.Fatalf("bf16 %#04x", h)
		}
	}
	rng := rand.New(rand.NewPCG(15, 16))
	for i := 0; i < 1<<20; i++ {
		f := math.Float32frombits(rng.Uint32())
		if i < 1<<16 { // f16 range and its edges
			f = math.Float32frombits(uint32(i)<<13 + rng.Uint32()&0x1fff + 0x33000000)
		}
		if g, w := fp32ToFP16(f), quant.FP32ToFP16(f); g != w {
			t.Fatalf("fp32ToFP16(%g) = %#04x, quant %#04x", f, g, w)
		}
		if g, w := roundF16(f), quant.FP16ToFP32(quant.FP32ToFP16(f)); math.Float32bits(g) != math.Float32bits(w) && !math.IsNaN(float64(f)) {
			t.Fatalf("roundF16(%g) = %g, want %g", f, g, w)
		}
		if g, w := fp32ToBF16(f), quant.FP32ToBF16(f); g != w {
			t.Fatalf("fp32ToBF16(%g) = %#04x, quant %#04x", f, g, w)
		}
	}
	for _, f := range []float32{0, 0.5, 1.5, 2.5, -2.5, 126.5, 127.49, -127.5, 1e6} {
		if g, w := roundEven(f), int32(math.RoundToEven(float64(f))); g != w {
			t.Errorf("roundEven(%g) = %d, want %d", f, g, w)
		}
	}
}

// TestPoolCleanup checks that the workers of an unreachable Pool are
// stopped by its cleanup.
func TestPoolCleanup(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		p := NewPool(5)
		m, _ := NewMatrix(quant.F32, 64, 256, make([]byte, 64*256*4))
		p.MatVec(make([]float32, 64), m, make([]float32, 256))
	}()
	for i := 0; i < 200; i++ {
		runtime.GC()
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("goroutines: %d before, %d after dropping a Pool", before, runtime.NumGoroutine())
}

// TestParallel checks that Parallel covers every index exactly once for
// any thread count, including ranges smaller than a grain, and runs small
// jobs on the caller alone.
func TestParallel(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 7} {
		p := NewPool(threads)
		for _, n := range []int{0, 1, 5, 64, 1000, 4099} {
			for _, grain := range []int{0, 1, 16, 5000} {
				hits := make([]int32, n)
				var calls atomic.Int32
				p.Parallel(n, grain, func(lo, hi int) {
					calls.Add(1)
					if hi-lo < max(grain, 1) && hi != n {
						t.Errorf("n=%d grain=%d: range [%d,%d) below the grain", n, grain, lo, hi)
					}
					for i := lo; i < hi; i++ {
						hits[i]++ // disjoint ranges: no race
					}
				})
				for i, h := range hits {
					if h != 1 {
						t.Fatalf("%d threads, n=%d grain=%d: index %d covered %d times", threads, n, grain, i, h)
					}
				}
				if n > 0 && n < 2*max(grain, 1) && calls.Load() != 1 {
					t.Errorf("n=%d grain=%d: %d calls, want 1", n, grain, calls.Load())
				}
			}
		}
		p.Close()
	}
}

// TestPoolHandOff drives the pool's hand-offs through the paths where a
// lost wake-up would hang: callers that outlast their spin and park while
// workers finish slow chunks, and workers that park between calls. Under
// qemu-user (an arm64 guest on an x86 host) a plain store followed by a
// load of another flag may be reordered, which hung this test before the
// park paths used swaps; a hang here fails through the runtime's deadlock
// detector or the test timeout.
func TestPoolHandOff(t *testing.T) {
	calls := 2000
	if testing.Short() {
		calls = 200
	}
	for _, threads := range []int{2, 3, 5} {
		p := NewPool(threads)
		for i := range calls {
			n := threads * 2
			hits := make([]int32, n)
			p.Parallel(n, 1, func(lo, hi int) {
				// Chunks of 0 to 2 spin times, so that the last worker
				// finishes before, during and after the caller parks.
				busy(time.Duration((lo*7919+i*104729)%200) * spinTime / 100)
				for j := lo; j < hi; j++ {
					hits[j]++
				}
			})
			for j, h := range hits {
				if h != 1 {
					t.Fatalf("%d threads, call %d: index %d covered %d times", threads, i, j, h)
				}
			}
			if i%4 == 0 {
				busy(spinTime * 2) // workers park before the next call
			}
		}
		p.Close()
	}
}

// busy keeps the CPU for d without parking, as a slow chunk would.
func busy(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}
