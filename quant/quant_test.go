package quant

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// codecTypes are all types Quantize and Dequantize handle.
var codecTypes = []Type{F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K}

func TestSupportedHaveCodecs(t *testing.T) {
	for _, typ := range Supported {
		if !slices.Contains(codecTypes, typ) {
			t.Errorf("%v is Supported but not tested here", typ)
		}
	}
}

type dist struct {
	name string
	gen  func(r *rand.Rand, i int) float32
}

var dists = []dist{
	{"gauss", func(r *rand.Rand, i int) float32 { return float32(r.NormFloat64()) }},
	{"small", func(r *rand.Rand, i int) float32 { return float32(r.NormFloat64() * 1e-3) }},
	{"offset", func(r *rand.Rand, i int) float32 { return float32(1 + 2*r.Float64()) }},
	{"negative", func(r *rand.Rand, i int) float32 { return float32(-1 - 2*r.Float64()) }},
	// Magnitudes differing 1000-fold between 32-value groups.
	{"mixed", func(r *rand.Rand, i int) float32 {
		return float32(r.NormFloat64() * math.Pow(10, float64((i/32)%4-2)))
	}},
}

func randData(d dist, seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 99))
	x := make([]float32, n)
	for i := range x {
		x[i] = d.gen(r, i)
	}
	return x
}

func stats(x []float32) (lo, hi, amax float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range x {
		lo = math.Min(lo, float64(v))
		hi = math.Max(hi, float64(v))
		amax = math.Max(amax, math.Abs(float64(v)))
	}
	return lo, hi, amax
}

// errorBounds returns, for each value of x, the largest round-trip error
// Quantize+Dequantize may make. With h(v) = max(|v|*2^-11, 2^-25), the
// largest error of rounding v to float16 (subnormals included), and a
// float32 slack of 1e-6*amax, the bounds per block (or K-quant sub-block):
//
//	F32: 0.  F16: h(x).  BF16: |x|*2^-8 (normal range).
//	Q8_0, Q8_1: step/2 + 127*h(step), step = amax/127: half a step, plus
//	    the rounding of d to float16 times up to 127 levels.
//	Q8_K: step/2 (d is float32).
//	Q4_0, Q5_0: step + 8*h(step) or step + 16*h(step), step = amax/8 or
//	    amax/16: a full step, since the value opposite the
//	    largest-magnitude one can be clamped.
//	Q4_1, Q5_1: step/2 + nmax*h(step) + h(min), step = (max-min)/nmax,
//	    nmax = 15 or 31.
//	Q4_K, Q5_K: 1.25*step_j + 0.25*step_max, with step_j = (max_j -
//	    min(min_j, 0))/nmax over 32-value sub-block j and step_max the
//	    largest step_j of the super-block (the 6-bit scales are relative to
//	    the super-block's largest, so small sub-blocks beside large ones are
//	    coded with the large ones' resolution).
//	Q6_K: 1.25*step_j + 0.25*step_max with step_j = 2*amax_j/63 over
//	    16-value sub-blocks.
func errorBounds(typ Type, x []float32) []float64 {
	b := make([]float64, len(x))
	fill := func(lo, hi int, v float64) {
		for i := lo; i < hi; i++ {
			b[i] = v
		}
	}
	switch typ {
	case F32:
		return b
	case F16:
		for i, v := range x {
			b[i] = h16(float64(v))
		}
		return b
	case BF16:
		for i, v := range x {
			b[i] = math.Abs(float64(v)) * 0x1p-8
		}
		return b
	}
	bs := typ.BlockSize()
	for s := 0; s < len(x); s += bs {
		blk := x[s : s+bs]
		lo, hi, amax := stats(blk)
		slack := 1e-6 * amax
		switch typ {
		case Q8_0, Q8_1:
			step := amax / 127
			fill(s, s+bs, step/2+127*h16(step)+slack)
		case Q8_K:
			fill(s, s+bs, amax/127/2+slack)
		case Q4_0:
			step := amax / 8
			fill(s, s+bs, step+8*h16(step)+slack)
		case Q5_0:
			step := amax / 16
			fill(s, s+bs, step+16*h16(step)+slack)
		case Q4_1:
			step := (hi - lo) / 15
			fill(s, s+bs, step/2+15*h16(step)+h16(lo)+slack)
		case Q5_1:
			step := (hi - lo) / 31
			fill(s, s+bs, step/2+31*h16(step)+h16(lo)+slack)
		case Q4_K, Q5_K, Q6_K:
			sub, nmax := 32, 15.0
			if typ == Q5_K {
				nmax = 31
			}
			if typ == Q6_K {
				sub, nmax = 16, 63
			}
			steps := make([]float64, bs/sub)
			var stepMax float64
			for j := range steps {
				lo, hi, amax := stats(blk[sub*j : sub*(j+1)])
				if typ == Q6_K {
					steps[j] = 2 * amax / nmax
				} else {
					steps[j] = (hi - math.Min(lo, 0)) / nmax
				}
				stepMax = math.Max(stepMax, steps[j])
			}
			for j, st := range steps {
				fill(s+sub*j, s+sub*(j+1), 1.25*st+0.25*stepMax)
			}
		}
	}
	return b
}

// h16 bounds the error of rounding v to float16.
func h16(v float64) float64 { return math.Max(math.Abs(v)*0x1p-11, 0x1p-25) }

// maxRelRMS is the largest acceptable sqrt(sum err^2 / sum x^2) for
// Gaussian data over 8 blocks (measured over 51200 values: q4_0 .086,
// q4_1 .078, q5_0 .043, q5_1 .038, q8_0 .0054, q4_k .070, q5_k .035,
// q6_k .017, q8_k .0074).
var maxRelRMS = map[Type]float64{
	F32: 0, F16: 0.0005, BF16: 0.004,
	Q4_0: 0.10, Q4_1: 0.095, Q5_0: 0.05, Q5_1: 0.045, Q8_0: 0.007, Q8_1: 0.007,
	Q4_K: 0.08, Q5_K: 0.04, Q6_K: 0.02, Q8_K: 0.009,
}

func TestRoundTrip(t *testing.T) {
	for _, typ := range codecTypes {
		for _, d := range dists {
			for _, blocks := range []int{1, 3, 8} {
				n := blocks * max(typ.BlockSize(), 32)
				if typ.BlockSize() == QKK {
					n = blocks * QKK
				}
				x := randData(d, uint64(blocks)*31+uint64(typ), n)
				nb, err := typ.RowBytes(n)
				if err != nil {
					t.Fatal(err)
				}
				q := make([]byte, nb)
				if err := Quantize(typ, q, x); err != nil {
					t.Fatalf("%v %s: %v", typ, d.name, err)
				}
				y := make([]float32, n)
				if err := Dequantize(typ, y, q); err != nil {
					t.Fatalf("%v %s: %v", typ, d.name, err)
				}
				bounds := errorBounds(typ, x)
				var se, sx float64
				for i := range x {
					e := math.Abs(float64(y[i]) - float64(x[i]))
					if !(e <= bounds[i]) {
						t.Errorf("%v %s n=%d: value %d: %v decoded as %v, error %.3g > bound %.3g",
							typ, d.name, n, i, x[i], y[i], e, bounds[i])
						break
					}
					se += e * e
					sx += float64(x[i]) * float64(x[i])
				}
				if d.name == "gauss" && blocks == 8 {
					if rel := math.Sqrt(se / sx); rel > maxRelRMS[typ] {
						t.Errorf("%v gauss n=%d: relative RMS error %.4f > %.4f", typ, n, rel, maxRelRMS[typ])
					}
				}
			}
		}
	}
}

// TestQuantizeDeterministic checks that Quantize output depends only on
// the input (so kernels tests and synthetic models are reproducible) and
// that re-quantizing decoded data is stable for the exact-grid types.
func TestQuantizeDeterministic(t *testing.T) {
	x := randData(dists[0], 5, 2*QKK)
	for _, typ := range codecTypes {
		nb, _ := typ.RowBytes(len(x))
		a, b := make([]byte, nb), make([]byte, nb+7)
		for i := range b {
			b[i] = 0xee // stale contents must be overwritten
		}
		if err := Quantize(typ, a, x); err != nil {
			t.Fatal(err)
		}
		if err := Quantize(typ, b, x); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b[:nb]) {
			t.Errorf("%v: quantizing twice gave different bytes", typ)
		}
		if !slices.Equal(b[nb:], []byte{0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee}) {
			t.Errorf("%v: Quantize wrote past RowBytes", typ)
		}
	}
}

func TestQuantizeDegenerate(t *testing.T) {
	for _, typ := range codecTypes {
		n := max(QKK, typ.BlockSize())
		x := make([]float32, n)
		nb, _ := typ.RowBytes(n)
		q := make([]byte, nb)
		for i := range q {
			q[i] = 0xff // NaN scales if left unwritten
		}
		if err := Quantize(typ, q, x); err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		y := make([]float32, n)
		if err := Dequantize(typ, y, q); err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		for i, v := range y {
			if v != 0 {
				t.Fatalf("%v: zero block decodes to %v at %d", typ, v, i)
			}
		}
		// Tiny values (float32 subnormals, where 1/d overflows) decode to
		// (about) zero, without NaN.
		for i := range x {
			x[i] = float32(i%3-1) * 1e-42
		}
		if err := Quantize(typ, q, x); err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		if err := Dequantize(typ, y, q); err != nil {
			t.Fatal(err)
		}
		for i, v := range y {
			if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 1e-41 {
				t.Fatalf("%v: tiny block decodes to %v at %d", typ, v, i)
			}
		}
		// A block of one repeated value must not give NaN either.
		for i := range x {
			x[i] = -0.75
		}
		if err := Quantize(typ, q, x); err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		if err := Dequantize(typ, y, q); err != nil {
			t.Fatal(err)
		}
		for i, v := range y {
			if math.IsNaN(float64(v)) || math.Abs(float64(v)+0.75) > 0.01 {
				t.Fatalf("%v: constant -0.75 block decodes to %v at %d", typ, v, i)
			}
		}
	}
}

// TestQuantizeGGMLExact pins Quantize to ggml's reference quantizers on
// inputs where the result can be worked out by hand, including the rounding
// rules (truncation of x/d+8.5 for q4_0, roundf ties away from zero for
// q8_0, nearest_int ties to even for q8_k).
func TestQuantizeGGMLExact(t *testing.T) {
	t.Run("q4_0", func(t *testing.T) {
		// Largest magnitude is x[0] = -8, so d = -8/-8 = 1 and q = trunc(x+8.5).
		x := seqFloats(32, func(j int) float32 { return float32(j%16 - 8) })
		x[31] = 7.6 // trunc(16.1) = 16, clamped to 15
		q := make([]byte, 18)
		if err := Quantize(Q4_0, q, x); err != nil {
			t.Fatal(err)
		}
		want := cat(le16(h1), seqBytes(16, func(j int) byte { return byte(j) | byte(j)<<4 }))
		want[17] = 0xff
		if !slices.Equal(q, want) {
			t.Errorf("got % x\nwant % x", q, want)
		}
		// Positive largest value: d = 8/-8 = -1; x=8 -> trunc(-8+8.5)=0.
		x[0] = 8
		if err := Quantize(Q4_0, q, x); err != nil {
			t.Fatal(err)
		}
		if binary.LittleEndian.Uint16(q) != hMinus || q[2]&0xf != 0 {
			t.Errorf("d=%#04x q[0]=%d, want d=-1, q=0", binary.LittleEndian.Uint16(q), q[2]&0xf)
		}
	})
	t.Run("q8_0 roundf", func(t *testing.T) {
		x := make([]float32, 32)
		x[0], x[1], x[2], x[3] = 127, 2.5, -2.5, 0.49
		q := make([]byte, 34)
		if err := Quantize(Q8_0, q, x); err != nil {
			t.Fatal(err)
		}
		if got := []int8{int8(q[2]), int8(q[3]), int8(q[4]), int8(q[5])}; !slices.Equal(got, []int8{127, 3, -3, 0}) {
			t.Errorf("qs = %v, want [127 3 -3 0]", got)
		}
		if binary.LittleEndian.Uint16(q) != h1 {
			t.Errorf("d = %#04x, want 1.0", binary.LittleEndian.Uint16(q))
		}
	})
	t.Run("q8_1 sum", func(t *testing.T) {
		x := make([]float32, 32)
		x[0], x[1], x[2] = 127, 2.5, -100
		q := make([]byte, 36)
		if err := Quantize(Q8_1, q, x); err != nil {
			t.Fatal(err)
		}
		// qs = 127, 3, -100 -> s = 30 * d(=1)
		if s := FP16ToFP32(binary.LittleEndian.Uint16(q[2:])); s != 30 {
			t.Errorf("s = %v, want 30", s)
		}
	})
	t.Run("q8_k nearest even", func(t *testing.T) {
		// max = -127 -> iscale = 1, d = 1; 2.5 -> 2 and 3.5 -> 4 (ties to even).
		x := make([]float32, QKK)
		x[0], x[1], x[2], x[17] = -127, 2.5, 3.5, 5
		q := make([]byte, Q8_K.BlockBytes())
		if err := Quantize(Q8_K, q, x); err != nil {
			t.Fatal(err)
		}
		if d := math.Float32frombits(binary.LittleEndian.Uint32(q)); d != 1 {
			t.Errorf("d = %v, want 1", d)
		}
		if got := []int8{int8(q[4]), int8(q[5]), int8(q[6])}; !slices.Equal(got, []int8{-127, 2, 4}) {
			t.Errorf("qs = %v, want [-127 2 4]", got)
		}
		b0 := int16(binary.LittleEndian.Uint16(q[260:]))
		b1 := int16(binary.LittleEndian.Uint16(q[262:]))
		if b0 != -121 || b1 != 5 {
			t.Errorf("bsums[0..1] = %d %d, want -121 5", b0, b1)
		}
	})
}

func TestErrors(t *testing.T) {
	buf := make([]byte, 1024)
	vals := make([]float32, 512)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"dequantize unknown type", Dequantize(Type(99), vals[:32], buf), ErrUnsupported},
		{"dequantize q2_k", Dequantize(Q2_K, vals[:256], buf), ErrUnsupported},
		{"quantize unknown type", Quantize(Type(99), buf, vals[:32]), ErrUnsupported},
		{"dequantize partial block", Dequantize(Q4_0, vals[:33], buf), ErrLength},
		{"dequantize partial k block", Dequantize(Q4_K, vals[:128], buf), ErrLength},
		{"dequantize short src", Dequantize(Q8_0, vals[:64], buf[:67]), ErrLength},
		{"dequantize short f32 src", Dequantize(F32, vals[:3], buf[:11]), ErrLength},
		{"quantize partial block", Quantize(Q6_K, buf, vals[:255]), ErrLength},
		{"quantize short dst", Quantize(Q4_K, buf[:143], vals[:256]), ErrLength},
		{"quantize NaN", Quantize(Q8_0, buf, append(make([]float32, 31), float32(math.NaN()))), ErrRange},
		{"quantize Inf", Quantize(Q4_K, buf, append(make([]float32, 255), float32(math.Inf(-1)))), ErrRange},
		{"quantize overflow", Quantize(Q4_0, buf, append(make([]float32, 31), 1e6)), ErrRange},
		{"quantize k overflow", Quantize(Q4_K, buf, append(make([]float32, 255), 1e9)), ErrRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) {
				t.Fatalf("error = %v, want %v", tc.err, tc.want)
			}
			t.Log(tc.err)
		})
	}
	// Exactly enough and more than enough bytes both work.
	if err := Dequantize(Q8_0, vals[:64], buf[:68]); err != nil {
		t.Errorf("exact src: %v", err)
	}
	if err := Dequantize(Q8_0, vals[:0], nil); err != nil {
		t.Errorf("zero values: %v", err)
	}
	// Non-finite values are fine for the float types.
	if err := Quantize(F16, buf, []float32{float32(math.Inf(1))}); err != nil {
		t.Errorf("f16 inf: %v", err)
	}
}

func TestDotReference(t *testing.T) {
	x := randData(dists[0], 11, 2*QKK)
	w := randData(dists[0], 12, 2*QKK)
	for _, typ := range codecTypes {
		nb, _ := typ.RowBytes(len(w))
		q := make([]byte, nb)
		if err := Quantize(typ, q, w); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(w))
		if err := Dequantize(typ, y, q); err != nil {
			t.Fatal(err)
		}
		var want float64
		for i := range y {
			want += float64(y[i]) * float64(x[i])
		}
		if got := DotReference(typ, q, x); got != want {
			t.Errorf("%v: DotReference = %v, want %v", typ, got, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("DotReference with a short buffer did not panic")
		}
	}()
	DotReference(Q8_0, make([]byte, 10), x[:32])
}

// TestQuantizeNoAlloc matters for kernels that quantize activations with
// Quantize in steady state.
func TestQuantizeNoAlloc(t *testing.T) {
	x := randData(dists[0], 3, QKK)
	for _, typ := range []Type{Q8_0, Q8_1, Q8_K, F16, BF16, Q4_K, Q6_K} {
		nb, _ := typ.RowBytes(len(x))
		q := make([]byte, nb)
		y := make([]float32, len(x))
		if n := testing.AllocsPerRun(10, func() { _ = Quantize(typ, q, x) }); n != 0 {
			t.Errorf("Quantize %v: %v allocations", typ, n)
		}
		if n := testing.AllocsPerRun(10, func() { _ = Dequantize(typ, y, q) }); n != 0 {
			t.Errorf("Dequantize %v: %v allocations", typ, n)
		}
	}
}

func TestNearestInt(t *testing.T) {
	for _, tc := range []struct {
		f    float32
		want int
	}{{0.5, 0}, {1.5, 2}, {2.5, 2}, {-2.5, -2}, {-0.49, 0}, {126.7, 127}, {-127.5, -128}} {
		if got := NearestInt(tc.f); got != tc.want {
			t.Errorf("NearestInt(%v) = %d, want %d", tc.f, got, tc.want)
		}
	}
}
