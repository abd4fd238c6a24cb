package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/tessera-net/tessera/quant"
)

// raw encodes GGUF fields by hand, to build files the Builder would refuse.
type raw struct{ b []byte }

func (r *raw) u8(v uint8) *raw   { r.b = append(r.b, v); return r }
func (r *raw) u32(v uint32) *raw { r.b = binary.LittleEndian.AppendUint32(r.b, v); return r }
func (r *raw) u64(v uint64) *raw { r.b = binary.LittleEndian.AppendUint64(r.b, v); return r }
func (r *raw) str(s string) *raw { return r.u64(uint64(len(s))).bytes([]byte(s)) }
func (r *raw) bytes(p []byte) *raw {
	r.b = append(r.b, p...)
	return r
}

// pad appends zeros up to a multiple of a.
func (r *raw) pad(a int) *raw {
	for len(r.b)%a != 0 {
		r.b = append(r.b, 0)
	}
	return r
}

// header starts a file: magic, version, counts.
func header(version uint32, tensors, kvs uint64) *raw {
	r := &raw{}
	return r.bytes([]byte("GGUF")).u32(version).u64(tensors).u64(kvs)
}

// tensor appends a tensor info.
func (r *raw) tensor(name string, t quant.Type, offset uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(uint32(t)).u64(offset)
}

// seq returns n bytes 0, 1, 2, ... (mod 251) starting at seed.
func seq(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i + int(seed)) % 251)
	}
	return b
}

// allValues returns a metadata set covering every value type, edge values,
// empty arrays and nested arrays.
func allValues() []KeyValue {
	return []KeyValue{
		{"u8", Uint8Value(255)},
		{"i8", Int8Value(-128)},
		{"u16", Uint16Value(65535)},
		{"i16", Int16Value(-32768)},
		{"u32", Uint32Value(math.MaxUint32)},
		{"i32", Int32Value(math.MinInt32)},
		{"u64", Uint64Value(math.MaxUint64)},
		{"i64", Int64Value(math.MinInt64)},
		{"f32", Float32Value(-1.5e-7)},
		{"f32.inf", Float32Value(float32(math.Inf(1)))},
		{"f64", Float64Value(math.Pi)},
		{"f64.negzero", Float64Value(math.Copysign(0, -1))},
		{"bool.true", BoolValue(true)},
		{"bool.false", BoolValue(false)},
		{"str", StringValue("héllo\x00 wörld")},
		{"str.empty", StringValue("")},
		{"", StringValue("empty key")},
		{"a.u8", ArrayValue([]uint8{0, 1, 255})},
		{"a.i8", ArrayValue([]int8{-1, 0, 127})},
		{"a.u16", ArrayValue([]uint16{1, 65535})},
		{"a.i16", ArrayValue([]int16{-32768, 32767})},
		{"a.u32", ArrayValue([]uint32{1, 2, math.MaxUint32})},
		{"a.i32", ArrayValue([]int32{-5, 0, 5})},
		{"a.u64", ArrayValue([]uint64{math.MaxUint64})},
		{"a.i64", ArrayValue([]int64{math.MinInt64, 7})},
		{"a.f32", ArrayValue([]float32{0.5, -2, 1e30})},
		{"a.f64", ArrayValue([]float64{1e-300, 2})},
		{"a.bool", ArrayValue([]bool{true, false, true})},
		{"a.str", ArrayValue([]string{"a", "", "ccc", "\xff"})},
		{"a.empty", ArrayValue([]float32{})},
		{"a.str.empty", ArrayValue([]string{})},
		{"a.nested", NestedArrayValue(
			ArrayValue([]int32{1, 2}),
			ArrayValue([]string{"x"}),
			ArrayValue([]bool{}),
			NestedArrayValue(ArrayValue([]float64{3}), NestedArrayValue()),
		)},
		{"a.nested.empty", NestedArrayValue()},
	}
}

// testBuilder returns a Builder with allValues and tensors of several
// types, including a known but unsupported one (q2_k).
func testBuilder(t testing.TB) *Builder {
	t.Helper()
	b := NewBuilder()
	for _, kv := range allValues() {
		if err := b.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	tensors := []struct {
		name string
		typ  quant.Type
		dims []uint64
	}{
		{"f32.vec", quant.F32, []uint64{5}},
		{"f16.mat", quant.F16, []uint64{3, 2}},
		{"q8.mat", quant.Q8_0, []uint64{64, 3}},
		{"q4k.3d", quant.Q4_K, []uint64{256, 2, 2}},
		{"q2k.4d", quant.Q2_K, []uint64{256, 1, 1, 1}},
		{"empty", quant.F32, []uint64{0, 4}},
		{"bf16.last", quant.BF16, []uint64{16}},
	}
	for i, tt := range tensors {
		size, err := tensorSize(tt.typ, tt.dims, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddTensorBytes(tt.name, tt.typ, tt.dims, seq(int(size), byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func build(t testing.TB, b *Builder) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := b.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || n != b.Size() {
		t.Fatalf("WriteTo returned %d, wrote %d, Size %d", n, buf.Len(), b.Size())
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, align := range []int{0, 1, 8, 32, 64, 4096} {
		b := testBuilder(t)
		if align != 0 {
			if err := b.SetAlignment(align); err != nil {
				t.Fatal(err)
			}
		}
		img := build(t, b)
		f, err := Parse(img)
		if err != nil {
			t.Fatalf("align %d: %v", align, err)
		}
		if f.Version != 3 {
			t.Errorf("version %d", f.Version)
		}
		wantAlign := cmpOr(align, 32)
		if f.Alignment != wantAlign || f.DataOffset%uint64(wantAlign) != 0 {
			t.Errorf("alignment %d, data offset %d; want alignment %d", f.Alignment, f.DataOffset, wantAlign)
		}
		want := b.KV()
		if !reflect.DeepEqual(f.KV, want) {
			t.Errorf("align %d: KV mismatch:\n got %v\nwant %v", align, f.KV, want)
		}
		for _, kv := range want {
			v, ok := f.Lookup(kv.Key)
			if !ok || !reflect.DeepEqual(v, kv.Value) {
				t.Errorf("Lookup(%q) = %v, %v", kv.Key, v, ok)
			}
		}
		if !reflect.DeepEqual(f.Tensors, b.Tensors()) {
			t.Errorf("tensors:\n got %v\nwant %v", f.Tensors, b.Tensors())
		}
		for i, ti := range f.Tensors {
			d, err := f.TensorData(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d, seq(int(ti.Size), byte(i))) || cap(d) != len(d) {
				t.Errorf("tensor %q: data mismatch (len %d cap %d)", ti.Name, len(d), cap(d))
			}
			if ti.Offset%uint64(wantAlign) != 0 {
				t.Errorf("tensor %q: offset %d not aligned", ti.Name, ti.Offset)
			}
		}
		// Rewriting the parsed file reproduces it byte for byte.
		b2 := NewBuilder()
		if err := b2.CopyKV(f); err != nil {
			t.Fatal(err)
		}
		for _, ti := range f.Tensors {
			if err := b2.CopyTensor(f, ti.Name); err != nil {
				t.Fatal(err)
			}
		}
		if img2 := build(t, b2); !bytes.Equal(img, img2) {
			t.Errorf("align %d: rewrite differs", align)
		}
	}
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// TestBuilderBytes checks the Builder's output byte for byte against a file
// encoded by hand from the specification.
func TestBuilderBytes(t *testing.T) {
	b := NewBuilder()
	must(t, b.AddKV("general.architecture", StringValue("llama")))
	must(t, b.AddKV("n", NestedArrayValue(ArrayValue([]uint16{7}))))
	must(t, b.AddTensorBytes("a", quant.F32, []uint64{3}, seq(12, 1)))
	must(t, b.AddTensorBytes("b", quant.F16, []uint64{2, 2}, seq(8, 2)))

	w := header(3, 2, 2)
	w.str("general.architecture").u32(uint32(TypeString)).str("llama")
	w.str("n").u32(uint32(TypeArray)).u32(uint32(TypeArray)).u64(1).u32(uint32(TypeUint16)).u64(1).bytes([]byte{7, 0})
	w.tensor("a", quant.F32, 0, 3)
	w.tensor("b", quant.F16, 32, 2, 2)
	w.pad(32).bytes(seq(12, 1)).pad(32).bytes(seq(8, 2)).pad(32)
	if got := build(t, b); !bytes.Equal(got, w.b) {
		t.Fatalf("builder output differs from hand encoding:\n got %x\nwant %x", got, w.b)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestParseV2 parses a hand-made version 2 file.
func TestParseV2(t *testing.T) {
	w := header(2, 2, 3)
	w.str("general.architecture").u32(uint32(TypeString)).str("gpt2")
	w.str("general.alignment").u32(uint32(TypeUint32)).u32(64)
	w.str("scores").u32(uint32(TypeArray)).u32(uint32(TypeFloat32)).u64(2).
		u32(math.Float32bits(1.5)).u32(math.Float32bits(-2))
	w.tensor("w", quant.Q8_0, 64, 32, 2)
	w.tensor("norm", quant.F32, 0, 4)
	w.pad(64)
	dataStart := len(w.b)
	w.bytes(seq(16, 9)).pad(64).bytes(seq(68, 3))

	f, err := Parse(w.b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 2 || f.Alignment != 64 || f.DataOffset != uint64(dataStart) {
		t.Errorf("version %d alignment %d data offset %d, want 2 64 %d", f.Version, f.Alignment, f.DataOffset, dataStart)
	}
	if f.Architecture() != "gpt2" {
		t.Errorf("architecture %q", f.Architecture())
	}
	if s, err := f.Float32s("scores"); err != nil || !slices.Equal(s, []float32{1.5, -2}) {
		t.Errorf("scores %v %v", s, err)
	}
	want := []TensorInfo{
		{Name: "w", Dims: []uint64{32, 2}, Type: quant.Q8_0, Offset: 64, Size: 68},
		{Name: "norm", Dims: []uint64{4}, Type: quant.F32, Offset: 0, Size: 16},
	}
	if !reflect.DeepEqual(f.Tensors, want) {
		t.Errorf("tensors %v, want %v", f.Tensors, want)
	}
	if d, _ := f.TensorData("w"); !bytes.Equal(d, seq(68, 3)) {
		t.Errorf("w data mismatch")
	}
	if d, _ := f.TensorData("norm"); !bytes.Equal(d, seq(16, 9)) {
		t.Errorf("norm data mismatch")
	}
}

// TestKnownUnsupportedType: a file holding a type Tessera cannot compute
// with (q2_k) still opens.
func TestKnownUnsupportedType(t *testing.T) {
	w := header(3, 1, 0)
	w.tensor("q2", quant.Q2_K, 0, 256, 2)
	w.pad(32).bytes(make([]byte, 2*quant.Q2_K.BlockBytes()))
	f, err := Parse(w.b)
	if err != nil {
		t.Fatal(err)
	}
	if ti, _ := f.Tensor("q2"); ti.Type != quant.Q2_K || ti.Type.IsSupported() || ti.Size != 168 {
		t.Errorf("tensor %+v", ti)
	}
}

// TestNoTensorsNoPadding: a metadata-only file may end right after the
// header.
func TestNoTensorsNoPadding(t *testing.T) {
	w := header(3, 0, 1)
	w.str("k").u32(uint32(TypeBool)).u8(1)
	f, err := Parse(w.b)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.Bool("k"); err != nil || !v {
		t.Errorf("k = %v, %v", v, err)
	}
}

// validBase returns a small valid file with one f32 tensor of 32 values.
func validBase() []byte {
	w := header(3, 1, 1)
	w.str("general.architecture").u32(uint32(TypeString)).str("llama")
	w.tensor("t", quant.F32, 0, 32)
	return w.pad(32).bytes(seq(128, 0)).b
}

func TestParseErrors(t *testing.T) {
	kv := func(tensors, kvs uint64) *raw { return header(3, tensors, kvs) }
	withData := func(r *raw, n int) []byte { return r.pad(32).bytes(make([]byte, n)).b }
	base := validBase()
	big := uint64(1) << 40
	// nested returns an array nested depth levels deep.
	nested := func(depth int) []byte {
		r := &raw{}
		for range depth - 1 {
			r.u32(uint32(TypeArray)).u64(1)
		}
		r.u32(uint32(TypeUint8)).u64(0)
		return r.b
	}
	tests := []struct {
		name string
		data []byte
		want string // substring of the error
		off  int64  // byte offset in the error, -1 to skip
	}{
		{"empty", nil, "too short", 0},
		{"three bytes", []byte("GGU"), "too short", 0},
		{"wrong magic", append([]byte("GGML"), base[4:]...), "not a GGUF file", 0},
		{"legacy ggjt", []byte("ggjt\x03\x00\x00\x00"), "not a GGUF file", 0},
		{"truncated version", []byte("GGUF\x03\x00"), "unexpected end of file reading version", 4},
		{"version 1", header(1, 0, 0).b, "unsupported version 1", 4},
		{"version 0", header(0, 0, 0).b, "unsupported version 0", 4},
		{"version 4", header(4, 0, 0).b, "unsupported version 4", 4},
		{"big-endian", append([]byte("GGUF\x00\x00\x00\x03"), make([]byte, 16)...), "big-endian", 4},
		{"truncated tensor count", []byte("GGUF\x03\x00\x00\x00\x01\x00"), "reading tensor count", 8},
		{"truncated kv count", header(3, 0, 0).b[:20], "reading metadata key count", 16},
		{"kv count 2^60", header(3, 0, 1<<60).b, "metadata key count 1152921504606846976 cannot fit", 16},
		{"tensor count 2^60", header(3, 1<<60, 0).b, "tensor count 1152921504606846976 cannot fit", 8},
		{"tensor count max", header(3, math.MaxUint64, 0).b, "tensor count", 8},
		{"kv count max", header(3, 0, math.MaxUint64).b, "metadata key count", 16},
		{"key length 2^40", kv(0, 1).u64(big).bytes(make([]byte, 20)).b, "key length 1099511627776 exceeds the 20 bytes remaining", 24},
		{"truncated key", kv(0, 1).u64(10).bytes([]byte("gen")).u32(0).u8(0).b, "key length 10 exceeds", 24},
		{"string value length 2^40", kv(0, 1).str("k").u32(uint32(TypeString)).u64(big).b, `key "k": string length 1099511627776 exceeds`, 37},
		{"truncated u64 value", kv(0, 1).str("k").u32(uint32(TypeUint64)).u32(1).b, `key "k": unexpected end of file reading uint64 value`, 37},
		{"invalid value type", kv(0, 1).str("k").u32(13).u64(0).b, `key "k": invalid value type 13`, 33},
		{"invalid array elem type", kv(0, 1).str("k").u32(uint32(TypeArray)).u32(99).u64(0).b, "invalid array element type 99", 37},
		{"numeric array too long", kv(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint32)).u64(1000).u32(1).b,
			"array of 1000 uint32 elements cannot fit in the 4 bytes remaining", 41},
		{"array length 2^62", kv(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeFloat64)).u64(1 << 62).b, "cannot fit", 41},
		{"string array too long", kv(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 50).str("a").b, "string elements cannot fit", 41},
		{"string array element too long", kv(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(2).str("a").u64(big).b,
			"array element 1: string length 1099511627776 exceeds", 58},
		{"string array truncated", kv(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(2).str("abcdefgh").u32(0).b,
			"array element 1: unexpected end of file reading string length", 65},
		{"nested array too long", kv(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeArray)).u64(1 << 50).b, "array elements cannot fit", 41},
		{"nested element truncated", kv(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeArray)).u64(1).u32(uint32(TypeInt32)).u64(3).u32(1).u32(2).u32(3).b[:69],
			"array element 0: array of 3 int32 elements cannot fit", 53},
		{"nested too deep", kv(0, 1).str("k").u32(uint32(TypeArray)).bytes(nested(MaxArrayDepth + 1)).b, "nested deeper than 32", -1},
		{"bool value 2", kv(0, 1).str("k").u32(uint32(TypeBool)).u8(2).b, `key "k": invalid bool value 2`, 37},
		{"bool array element", kv(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeBool)).u64(3).u8(1).u8(0).u8(7).b, "array element 2: invalid bool value 7", 51},
		{"duplicate key", kv(0, 2).str("k").u32(uint32(TypeUint8)).u8(1).str("k").u32(uint32(TypeUint8)).u8(2).b, `duplicate metadata key "k"`, 38},
		{"alignment zero", kv(0, 1).str(AlignmentKey).u32(uint32(TypeUint32)).u32(0).b, "alignment 0 is not a power of two", -1},
		{"alignment 48", kv(0, 1).str(AlignmentKey).u32(uint32(TypeUint32)).u32(48).b, "alignment 48 is not a power of two", -1},
		{"alignment wrong type", kv(0, 1).str(AlignmentKey).u32(uint32(TypeUint64)).u64(32).b, "alignment has type uint64, want uint32", -1},
		{"duplicate tensor", withData(kv(2, 0).tensor("t", quant.F32, 0, 8).tensor("t", quant.F32, 32, 8), 64), `duplicate tensor name "t"`, 57},
		{"n_dims 5", withData(kv(1, 0).tensor("t", quant.F32, 0, 1, 1, 1, 1, 1), 4), `tensor "t": n_dims 5 is out of range [1, 4]`, 33},
		{"n_dims 0", withData(kv(1, 0).tensor("t", quant.F32, 0), 4), `tensor "t": n_dims 0 is out of range`, 33},
		{"n_dims huge", kv(1, 0).str("t").u32(1 << 31).bytes(make([]byte, 40)).b, `n_dims 2147483648 is out of range`, 33},
		{"partial block", withData(kv(1, 0).tensor("t", quant.Q8_0, 0, 33, 1), 64), `tensor "t": dims [33 1]: quant: 33 values of q8_0 is not a whole number of 32-value blocks`, 33},
		{"unknown type", withData(kv(1, 0).tensor("blk.0.attn_q.weight", quant.Type(99), 0, 32), 128), `tensor "blk.0.attn_q.weight": unknown tensor type id 99`, 63},
		{"dim over 2^63", withData(kv(1, 0).tensor("t", quant.F32, 0, 1<<63), 4), "larger than 2^63-1", -1},
		{"element count overflow", withData(kv(1, 0).tensor("t", quant.F32, 0, 1<<32, 1<<32, 1<<32), 4), "element count overflows", 33},
		{"row too large", withData(kv(1, 0).tensor("t", quant.F32, 0, 1<<62), 4), "too large", 33},
		{"size beyond file", withData(kv(1, 0).tensor("t", quant.F32, 0, 1<<20, 1<<20), 4), "exceed the", 33},
		{"unaligned offset", withData(kv(1, 0).tensor("t", quant.F32, 16, 4), 64), `tensor "t": data offset 16 is not a multiple of the alignment 32`, 49},
		{"offset outside file", withData(kv(1, 0).tensor("t", quant.F32, 1<<20, 4), 64), `tensor "t": data at [1048576, 1048592) of the data section starting at 64 extends beyond the end of the 128-byte file`, 24},
		{"offset wraps", withData(kv(1, 0).tensor("t", quant.F32, math.MaxUint64-31, 32), 64), "extends beyond the end", 24},
		{"data truncated", base[:len(base)-1], `tensor "t": data at [0, 128)`, -1},
		{"padding truncated", base[:110], `tensor "t": dims [32]: 128 bytes of f32 exceed the 110-byte file`, 78},
		{"overlap", withData(kv(2, 0).tensor("a", quant.F32, 0, 16).tensor("b", quant.F32, 32, 16), 128),
			`tensor "b": data at [32, 96) overlaps tensor "a" at [0, 64)`, -1},
		{"overlap reversed order", withData(kv(2, 0).tensor("a", quant.F32, 32, 16).tensor("b", quant.F32, 0, 16), 128),
			`tensor "a": data at [32, 96) overlaps tensor "b" at [0, 64)`, -1},
		{"truncated tensor info", kv(1, 0).str("a long tensor name").u32(2).u64(4).b, `tensor info 0: tensor "a long tensor name": unexpected end of file reading dimension`, 62},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", f)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FormatError", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "gguf: ") {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.off >= 0 && fe.Offset != tt.off {
				t.Errorf("error %q at offset %d, want %d", err, fe.Offset, tt.off)
			}
		})
	}
}

// TestTruncated cuts a valid file at every length: all cuts before the end
// of the last tensor fail with a FormatError, none panics.
func TestTruncated(t *testing.T) {
	img := build(t, testBuilder(t))
	f, err := Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	need := uint64(0)
	for _, ti := range f.Tensors {
		need = max(need, f.DataOffset+ti.Offset+ti.Size)
	}
	for n := range len(img) {
		_, err := Parse(img[:n])
		if uint64(n) < need {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("cut at %d: error %v, want a FormatError", n, err)
			}
			if fe.Offset > int64(n) {
				t.Fatalf("cut at %d: error offset %d beyond the data", n, fe.Offset)
			}
		} else if err != nil {
			t.Fatalf("cut at %d (in trailing padding): %v", n, err)
		}
	}
}

func TestGetters(t *testing.T) {
	b := NewBuilder()
	for _, kv := range []KeyValue{
		{"general.architecture", StringValue("llama")},
		{"s", StringValue("x")},
		{"u8", Uint8Value(7)},
		{"i64.neg", Int64Value(-3)},
		{"i16", Int16Value(9)},
		{"f32", Float32Value(0.25)},
		{"flag", BoolValue(true)},
		{"toks", ArrayValue([]string{"a", "b"})},
		{"f64s", ArrayValue([]float64{1.5, 2})},
		{"u8s", ArrayValue([]uint8{1, 2})},
		{"i32s", ArrayValue([]int32{-1, 5})},
		{"u32s.big", ArrayValue([]uint32{1, math.MaxUint32})},
		{"i64s.small", ArrayValue([]int64{math.MinInt32 - 1})},
		{"i64s.ok", ArrayValue([]int64{math.MinInt32, math.MaxInt32})},
		{"nested", NestedArrayValue(ArrayValue([]int32{1}))},
	} {
		must(t, b.AddKV(kv.Key, kv.Value))
	}
	f, err := Parse(build(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Architecture(); got != "llama" {
		t.Errorf("Architecture %q", got)
	}
	check := func(name string, got any, err error, want any, wantErr string) {
		t.Helper()
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("%s: error %v, want %q", name, err, wantErr)
			}
			return
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
	s, err := f.String("s")
	check("String(s)", s, err, "x", "")
	s, err = f.String("u8")
	check("String(u8)", s, err, nil, `gguf: key "u8": has type uint8, want string`)
	s, err = f.String("missing")
	check("String(missing)", s, err, nil, `gguf: key "missing": key not found`)
	if !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("missing key error %v does not wrap ErrKeyNotFound", err)
	}
	u, err := f.Uint("u8")
	check("Uint(u8)", u, err, uint64(7), "")
	u, err = f.Uint("i16")
	check("Uint(i16)", u, err, uint64(9), "")
	u, err = f.Uint("i64.neg")
	check("Uint(i64.neg)", u, err, nil, `key "i64.neg": value -3 is negative`)
	u, err = f.Uint("f32")
	check("Uint(f32)", u, err, nil, `key "f32": has type float32, want an integer`)
	x, err := f.Float("f32")
	check("Float(f32)", x, err, 0.25, "")
	x, err = f.Float("i64.neg")
	check("Float(i64.neg)", x, err, -3.0, "")
	x, err = f.Float("s")
	check("Float(s)", x, err, nil, `key "s": has type string, want a number`)
	bo, err := f.Bool("flag")
	check("Bool(flag)", bo, err, true, "")
	bo, err = f.Bool("u8")
	check("Bool(u8)", bo, err, nil, `key "u8": has type uint8, want bool`)
	ss, err := f.Strings("toks")
	check("Strings(toks)", ss, err, []string{"a", "b"}, "")
	ss[0] = "changed" // a fresh slice
	ss, err = f.Strings("toks")
	check("Strings(toks) again", ss, err, []string{"a", "b"}, "")
	ss, err = f.Strings("u8s")
	check("Strings(u8s)", ss, err, nil, `key "u8s": has type array[uint8], want array[string]`)
	fs, err := f.Float32s("f64s")
	check("Float32s(f64s)", fs, err, []float32{1.5, 2}, "")
	fs, err = f.Float32s("i32s")
	check("Float32s(i32s)", fs, err, []float32{-1, 5}, "")
	fs, err = f.Float32s("toks")
	check("Float32s(toks)", fs, err, nil, `key "toks": has type array[string], want a numeric array`)
	fs, err = f.Float32s("f32")
	check("Float32s(f32)", fs, err, nil, `key "f32": has type float32, want a numeric array`)
	is, err := f.Int32s("i32s")
	check("Int32s(i32s)", is, err, []int32{-1, 5}, "")
	is, err = f.Int32s("u8s")
	check("Int32s(u8s)", is, err, []int32{1, 2}, "")
	is, err = f.Int32s("i64s.ok")
	check("Int32s(i64s.ok)", is, err, []int32{math.MinInt32, math.MaxInt32}, "")
	is, err = f.Int32s("u32s.big")
	check("Int32s(u32s.big)", is, err, nil, `key "u32s.big": element 1 (4294967295) is out of the int32 range`)
	is, err = f.Int32s("i64s.small")
	check("Int32s(i64s.small)", is, err, nil, `element 0 (-2147483649) is out of the int32 range`)
	is, err = f.Int32s("f64s")
	check("Int32s(f64s)", is, err, nil, `has type array[float64], want an integer array`)
	is, err = f.Int32s("u8")
	check("Int32s(u8)", is, err, nil, `has type uint8, want an integer array`)
	is, err = f.Int32s("nested")
	check("Int32s(nested)", is, err, nil, `has type array[array], want an integer array`)
	if _, err := f.TensorData("nope"); err == nil || !strings.Contains(err.Error(), `tensor "nope" not found`) {
		t.Errorf("TensorData(nope): %v", err)
	}
	if _, ok := f.Tensor("nope"); ok {
		t.Error("Tensor(nope) found")
	}
}

func TestValueString(t *testing.T) {
	for _, tt := range []struct {
		v    Value
		want string
	}{
		{StringValue("a\"b"), `"a\"b"`},
		{Uint32Value(5), "5"},
		{BoolValue(true), "true"},
		{ArrayValue([]string{"x", "y"}), `array[string](2)["x", "y"]`},
		{ArrayValue([]int8{1, 2, 3, 4, 5, 6, 7, 8, 9}), `array[int8](9)[1, 2, 3, 4, 5, 6, 7, 8, ...]`},
		{NestedArrayValue(ArrayValue([]float32{0.5})), `array[array](1)[array[float32](1)[0.5]]`},
	} {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("String() = %s, want %s", got, tt.want)
		}
	}
	if TypeFloat64.String() != "float64" || ValueType(13).String() != "type(13)" || ValueType(13).Valid() {
		t.Error("ValueType.String")
	}
}

// modelPath returns the path of a model file in ../models, skipping the
// test if it is absent.
func modelPath(t testing.TB, name string) string {
	p := filepath.Join("..", "models", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("model file %s not available: %v", p, err)
	}
	return p
}

func TestRealFiles(t *testing.T) {
	for _, tt := range []struct {
		file     string
		typ      quant.Type
		qSize    uint64
		qOffset  uint64
		nKV      int
		fileType int64 // general.file_type, -1 if absent
	}{
		{"kjv-tiny-q8_0.gguf", quant.Q8_0, 256 * 256 / 32 * 34, 1220608, 21, 7},
		{"kjv-tiny-f32.gguf", quant.F32, 256 * 256 * 4, 4195328, 19, -1},
	} {
		t.Run(tt.file, func(t *testing.T) {
			path := modelPath(t, tt.file)
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Version != 3 || f.Alignment != 32 || len(f.KV) != tt.nKV || len(f.Tensors) != 3+6*9 {
				t.Errorf("version %d alignment %d, %d KVs, %d tensors", f.Version, f.Alignment, len(f.KV), len(f.Tensors))
			}
			if a := f.Architecture(); a != "llama" {
				t.Errorf("architecture %q", a)
			}
			for key, want := range map[string]uint64{
				"llama.block_count": 6, "llama.embedding_length": 256, "llama.feed_forward_length": 768,
				"llama.attention.head_count": 8, "llama.attention.head_count_kv": 4, "llama.context_length": 256,
				"tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
			} {
				if got, err := f.Uint(key); err != nil || got != want {
					t.Errorf("%s = %d, %v; want %d", key, got, err, want)
				}
			}
			if ft, err := f.Uint("general.file_type"); tt.fileType >= 0 && (err != nil || ft != uint64(tt.fileType)) {
				t.Errorf("general.file_type = %d, %v", ft, err)
			} else if tt.fileType < 0 && !errors.Is(err, ErrKeyNotFound) {
				t.Errorf("general.file_type: %v, want not found", err)
			}
			if eps, err := f.Float("llama.attention.layer_norm_rms_epsilon"); err != nil || math.Abs(eps-1e-5) > 1e-9 {
				t.Errorf("rms epsilon %g, %v", eps, err)
			}
			toks, err := f.Strings("tokenizer.ggml.tokens")
			if err != nil || len(toks) != 2048 || toks[0] != "<unk>" || toks[1] != "<s>" || toks[2] != "</s>" || toks[3] != "<0x00>" {
				t.Errorf("tokens: %d entries, %v", len(toks), err)
			}
			if s, err := f.Float32s("tokenizer.ggml.scores"); err != nil || len(s) != 2048 {
				t.Errorf("scores: %d, %v", len(s), err)
			}
			if tt, err := f.Int32s("tokenizer.ggml.token_type"); err != nil || len(tt) != 2048 || tt[0] != 2 || tt[1] != 3 {
				t.Errorf("token types: %v", err)
			}
			if m, err := f.String("tokenizer.ggml.model"); err != nil || m != "llama" {
				t.Errorf("tokenizer model %q, %v", m, err)
			}
			q, ok := f.Tensor("blk.0.attn_q.weight")
			want := TensorInfo{Name: "blk.0.attn_q.weight", Dims: []uint64{256, 256}, Type: tt.typ, Offset: tt.qOffset, Size: tt.qSize}
			if !ok || !reflect.DeepEqual(q, want) {
				t.Errorf("attn_q: %+v, want %+v", q, want)
			}
			for name, dims := range map[string][]uint64{
				"token_embd.weight": {256, 2048}, "output.weight": {256, 2048}, "output_norm.weight": {256},
				"blk.5.attn_k.weight": {256, 128}, "blk.3.ffn_down.weight": {768, 256}, "blk.2.ffn_norm.weight": {256},
			} {
				if ti, ok := f.Tensor(name); !ok || !slices.Equal(ti.Dims, dims) {
					t.Errorf("%s: %+v, want dims %v", name, ti, dims)
				}
			}
			if ti, _ := f.Tensor("blk.4.attn_norm.weight"); ti.Type != quant.F32 {
				t.Errorf("norm type %v", ti.Type)
			}

			// Tensor data aliases the mapping at the right place, and
			// matches the file's bytes.
			whole, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range f.Tensors {
				d, err := f.TensorData(ti.Name)
				if err != nil {
					t.Fatal(err)
				}
				start := f.DataOffset + ti.Offset
				if uint64(len(d)) != ti.Size || cap(d) != len(d) || unsafe.SliceData(d) != &f.data[start] {
					t.Fatalf("%s: TensorData is not the mapping at %d", ti.Name, start)
				}
				if !bytes.Equal(d, whole[start:start+ti.Size]) {
					t.Fatalf("%s: data differs from the file", ti.Name)
				}
			}
			// The Builder reproduces llama.cpp's file byte for byte.
			b := NewBuilder()
			must(t, b.CopyKV(f))
			for _, ti := range f.Tensors {
				must(t, b.CopyTensor(f, ti.Name))
			}
			if got := build(t, b); !bytes.Equal(got, whole) {
				t.Errorf("rewritten file differs from the original")
			}

			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := f.TensorData("output.weight"); !errors.Is(err, ErrClosed) {
				t.Errorf("TensorData after Close: %v", err)
			}
			if a := f.Architecture(); a != "llama" {
				t.Errorf("metadata lost after Close: %q", a)
			}
			must(t, f.Close())
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.gguf")); err == nil || !strings.Contains(err.Error(), "missing.gguf") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	empty := filepath.Join(dir, "empty.gguf")
	must(t, os.WriteFile(empty, nil, 0o644))
	_, err := Open(empty)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Path != empty || !strings.Contains(err.Error(), empty+": file of 0 bytes is too short") {
		t.Errorf("empty file: %v", err)
	}
	bad := filepath.Join(dir, "bad.gguf")
	must(t, os.WriteFile(bad, validBase()[:100], 0o644))
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), "bad.gguf: tensor info 0: ") {
		t.Errorf("truncated file: %v", err)
	}
}

func TestBuilderErrors(t *testing.T) {
	b := NewBuilder()
	must(t, b.AddKV("k", Uint8Value(1)))
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"duplicate key", b.AddKV("k", Uint8Value(2)), `gguf: key "k": already present`},
		{"mismatched data", b.AddKV("x", Value{Type: TypeUint32, Data: int32(1)}), `key "x": uint32 value holds Go type int32`},
		{"nil data", b.AddKV("x", Value{Type: TypeString}), `key "x": string value holds Go type <nil>`},
		{"invalid type", b.AddKV("x", Value{Type: 20, Data: 1}), "invalid value type 20"},
		{"array elem mismatch", b.AddKV("x", Value{Type: TypeArray, Elem: TypeInt8, Data: []uint8{1}}), "array[int8] value holds Go type []uint8"},
		{"nested non-array", b.AddKV("x", NestedArrayValue(Uint8Value(1))), "element 0 of an array of arrays is a uint8"},
		{"too deep", b.AddKV("x", deepArray(MaxArrayDepth+1)), "nested deeper than 32"},
		{"alignment type", b.AddKV(AlignmentKey, Uint64Value(32)), "alignment has type uint64, want uint32"},
		{"alignment value", b.SetAlignment(24), "alignment 24 is not a power of two"},
		{"alignment range", b.SetAlignment(0), "alignment 0 is out of range"},
		{"unknown tensor type", b.AddTensor("t", quant.Type(77), []uint64{4}, func(io.Writer) error { return nil }), `tensor "t": unknown tensor type id 77`},
		{"no dims", b.AddTensor("t", quant.F32, nil, func(io.Writer) error { return nil }), `tensor "t": 0 dims, want 1 to 4`},
		{"five dims", b.AddTensor("t", quant.F32, []uint64{1, 1, 1, 1, 1}, func(io.Writer) error { return nil }), "5 dims"},
		{"partial block", b.AddTensor("t", quant.Q4_0, []uint64{16}, func(io.Writer) error { return nil }), "not a whole number of 32-value blocks"},
		{"nil callback", b.AddTensor("t", quant.F32, []uint64{1}, nil), "nil write function"},
		{"wrong byte count", b.AddTensorBytes("t", quant.F32, []uint64{4}, make([]byte, 15)), `tensor "t": 15 bytes of data, want 16`},
		{"copy missing", b.CopyTensor(&File{}, "zz"), `tensor "zz" not found`},
	} {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, tt.err, tt.want)
		}
	}
	if len(b.KV()) != 1 || len(b.Tensors()) != 0 {
		t.Errorf("failed calls changed the builder: %v %v", b.KV(), b.Tensors())
	}
	must(t, b.AddTensorBytes("t", quant.F32, []uint64{4}, make([]byte, 16)))
	if err := b.AddTensorBytes("t", quant.F32, []uint64{4}, make([]byte, 16)); err == nil || !strings.Contains(err.Error(), `tensor "t": already present`) {
		t.Errorf("duplicate tensor: %v", err)
	}

	// SetKV replaces in place, DeleteKV removes.
	must(t, b.AddKV("a", StringValue("1")))
	must(t, b.AddKV("c", StringValue("3")))
	must(t, b.SetKV("a", StringValue("2")))
	if !b.DeleteKV("k") || b.DeleteKV("k") {
		t.Error("DeleteKV")
	}
	must(t, b.SetKV("d", StringValue("4")))
	var keys []string
	for _, kv := range b.KV() {
		keys = append(keys, kv.Key+"="+kv.Value.Data.(string))
	}
	if strings.Join(keys, ",") != "a=2,c=3,d=4" {
		t.Errorf("keys %v", keys)
	}
	if v, ok := b.Lookup("c"); !ok || v.Data != "3" {
		t.Errorf("Lookup(c) = %v %v", v, ok)
	}
}

func deepArray(depth int) Value {
	v := ArrayValue([]uint8{1})
	for range depth - 1 {
		v = NestedArrayValue(v)
	}
	return v
}

func TestNestingLimit(t *testing.T) {
	b := NewBuilder()
	must(t, b.AddKV("deep", deepArray(MaxArrayDepth)))
	f, err := Parse(build(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Lookup("deep"); !reflect.DeepEqual(v, deepArray(MaxArrayDepth)) {
		t.Errorf("deep array mismatch")
	}
}

func TestWriteCallbacks(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name  string
		write func(w io.Writer) error
		want  string
	}{
		{"short", func(w io.Writer) error { _, err := w.Write(make([]byte, 15)); return err }, `tensor "t": data callback wrote 15 bytes, want 16`},
		{"long", func(w io.Writer) error { _, err := w.Write(make([]byte, 17)); return err }, `tensor "t": data callback wrote more than the tensor's 16 bytes`},
		{"long ignored", func(w io.Writer) error { w.Write(make([]byte, 8)); w.Write(make([]byte, 9)); return nil }, "wrote more than"},
		{"error", func(w io.Writer) error { return boom }, `tensor "t": writing data: boom`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder()
			must(t, b.AddTensor("t", quant.F32, []uint64{4}, tt.write))
			_, err := b.WriteTo(io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("WriteTo: %v, want %q", err, tt.want)
			}
			if tt.name == "error" && !errors.Is(err, boom) {
				t.Errorf("error %v does not wrap the callback's", err)
			}

			// WriteFile leaves neither a partial file nor a temporary.
			dir := t.TempDir()
			path := filepath.Join(dir, "m.gguf")
			must(t, os.WriteFile(path, []byte("old"), 0o644))
			if err := WriteFile(path, b); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("WriteFile: %v", err)
			}
			if got, _ := os.ReadFile(path); string(got) != "old" {
				t.Errorf("target changed to %q", got)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("directory holds %d entries", len(ents))
			}
		})
	}
}

// errWriter fails after n bytes.
type errWriter struct{ n int }

func (e *errWriter) Write(p []byte) (int, error) {
	if len(p) > e.n {
		k := e.n
		e.n = 0
		return k, errors.New("disk full")
	}
	e.n -= len(p)
	return len(p), nil
}

func TestWriteToError(t *testing.T) {
	b := testBuilder(t)
	for _, n := range []int{0, 100, int(b.Size()) - 1} {
		_, err := b.WriteTo(&errWriter{n: n})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("limit %d: %v", n, err)
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.gguf")
	b := testBuilder(t)
	must(t, WriteFile(path, b))
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != b.Size() || st.Mode().Perm() != 0o644 {
		t.Errorf("size %d mode %v", st.Size(), st.Mode())
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !reflect.DeepEqual(f.KV, b.KV()) || !reflect.DeepEqual(f.Tensors, b.Tensors()) {
		t.Error("file differs from builder")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries", len(ents))
	}
	if err := WriteFile(filepath.Join(dir, "no", "such", "dir.gguf"), b); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

// TestConcurrentReads exercises the read-only methods from several
// goroutines (run with -race).
func TestConcurrentReads(t *testing.T) {
	f, err := Parse(build(t, testBuilder(t)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, ti := range f.Tensors {
				d, err := f.TensorData(ti.Name)
				if err != nil || uint64(len(d)) != ti.Size {
					t.Error(err)
				}
			}
			if _, err := f.Strings("a.str"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func BenchmarkOpen(b *testing.B) {
	for _, name := range []string{"kjv-tiny-q8_0.gguf", "kjv-tiny-f32.gguf"} {
		b.Run(name, func(b *testing.B) {
			path := modelPath(b, name)
			for b.Loop() {
				f, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(modelPath(b, "kjv-tiny-q8_0.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(49088) // header bytes parsed
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
