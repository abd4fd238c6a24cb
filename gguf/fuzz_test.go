package gguf

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/tessera-net/tessera/quant"
)

// FuzzParse checks that Parse never panics, returns only FormatErrors, and
// that whatever it accepts is self-consistent and survives a rewrite with
// the Builder: parse → rebuild → parse → rebuild gives identical bytes and
// the same metadata and tensors.
func FuzzParse(f *testing.F) {
	small := NewBuilder()
	must(f, small.AddKV("general.architecture", StringValue("llama")))
	must(f, small.AddKV("n", NestedArrayValue(ArrayValue([]int32{1, 2}), ArrayValue([]string{"a"}))))
	must(f, small.AddKV("b", ArrayValue([]bool{true, false})))
	must(f, small.AddKV("u64", Uint64Value(1<<40)))
	must(f, small.AddKV("f", Float32Value(0.5)))
	must(f, small.AddTensorBytes("w", quant.Q8_0, []uint64{32, 2}, seq(68, 1)))
	must(f, small.AddTensorBytes("v", quant.F32, []uint64{3}, seq(12, 2)))
	img := build(f, small)
	f.Add(img)
	for _, n := range []int{0, 4, 8, 23, 24, 60, len(img) / 2, len(img) - 1} {
		f.Add(img[:n])
	}
	aligned := NewBuilder()
	must(f, aligned.SetAlignment(8))
	must(f, aligned.AddTensorBytes("a", quant.F16, []uint64{2}, seq(4, 3)))
	f.Add(build(f, aligned))
	f.Add(validBase())

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		for _, ti := range file.Tensors {
			d, err := file.TensorData(ti.Name)
			if err != nil || uint64(len(d)) != ti.Size {
				t.Fatalf("tensor %q: %d bytes, %v", ti.Name, len(d), err)
			}
		}
		img1, ok := rebuild(t, file)
		if !ok {
			return
		}
		f1, err := Parse(img1)
		if err != nil {
			t.Fatalf("rebuilt file does not parse: %v", err)
		}
		if len(f1.KV) != len(file.KV) || len(f1.Tensors) != len(file.Tensors) {
			t.Fatalf("rebuilt file has %d KVs, %d tensors; want %d, %d", len(f1.KV), len(f1.Tensors), len(file.KV), len(file.Tensors))
		}
		for i, ti := range file.Tensors {
			ti1 := f1.Tensors[i]
			if ti1.Name != ti.Name || ti1.Type != ti.Type || ti1.Size != ti.Size || !reflect.DeepEqual(ti1.Dims, ti.Dims) {
				t.Fatalf("tensor %d: %+v, want %+v", i, ti1, ti)
			}
			d, _ := file.TensorData(ti.Name)
			d1, _ := f1.TensorData(ti.Name)
			if !bytes.Equal(d, d1) {
				t.Fatalf("tensor %q: data differs", ti.Name)
			}
		}
		img2, _ := rebuild(t, f1)
		if !bytes.Equal(img1, img2) {
			t.Fatal("rebuilding is not a fixed point")
		}
	})
}

// rebuild writes the contents of f with a Builder. It reports false if the
// result would be unreasonably large (a huge alignment pads a lot).
func rebuild(t *testing.T, f *File) ([]byte, bool) {
	b := NewBuilder()
	if err := b.CopyKV(f); err != nil {
		t.Fatalf("CopyKV: %v", err)
	}
	for _, ti := range f.Tensors {
		if err := b.CopyTensor(f, ti.Name); err != nil {
			t.Fatalf("CopyTensor: %v", err)
		}
	}
	if b.Size() > 1<<24 {
		return nil, false
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	return buf.Bytes(), true
}
