//go:build unix

package gguf

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"unsafe"

	"github.com/tessera-net/tessera/quant"
	"golang.org/x/sys/unix"
)

// pagedBuilder returns a Builder whose tensors ("t0".."t3", two pages
// each) start on page boundaries, so that each can be protected alone.
func pagedBuilder(t *testing.T) *Builder {
	page := os.Getpagesize()
	b := NewBuilder()
	must(t, b.SetAlignment(page))
	must(t, b.AddKV("general.architecture", StringValue("llama")))
	must(t, b.AddKV("tokenizer.ggml.tokens", ArrayValue([]string{"<unk>", "<s>", "</s>"})))
	for i := range 4 {
		must(t, b.AddTensorBytes(fmt.Sprintf("t%d", i), quant.F32, []uint64{uint64(page / 4), 2}, seq(2*page, byte(i))))
	}
	return b
}

// sink keeps reads from being optimized away.
var sink byte

// guarded runs fn and returns a non-nil error if it touched protected
// memory.
func guarded(fn func()) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("memory fault: %v", r)
		}
	}()
	fn()
	return nil
}

func protect(t *testing.T, b []byte, prot int) {
	t.Helper()
	if err := unix.Mprotect(b, prot); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
}

// checkOnlyTensor protects the whole data section of img, then checks that
// parse reads none of it, and that reading tensor t2 (after unprotecting
// its pages alone) touches no other tensor.
func checkOnlyTensor(t *testing.T, img []byte, parseFn func() (*File, error)) {
	ref, err := Parse(bytes.Clone(img))
	if err != nil {
		t.Fatal(err)
	}
	protect(t, img[ref.DataOffset:], unix.PROT_NONE)
	defer protect(t, img[ref.DataOffset:], unix.PROT_READ)

	var f *File
	if err := guarded(func() { f, err = parseFn() }); err != nil {
		t.Fatalf("parsing touched tensor data: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The guard is not vacuous: touching another tensor faults.
	if err := guarded(func() {
		d, _ := f.TensorData("t0")
		sink = d[0]
	}); err == nil {
		t.Fatal("reading a protected tensor did not fault")
	}
	ti, _ := f.Tensor("t2")
	start := f.DataOffset + ti.Offset
	protect(t, img[start:start+ti.Size], unix.PROT_READ)
	if err := guarded(func() {
		d, err := f.TensorData("t2")
		if err != nil {
			t.Error(err)
		}
		if !bytes.Equal(d, seq(int(ti.Size), 2)) {
			t.Error("t2 data mismatch")
		}
		if toks, err := f.Strings("tokenizer.ggml.tokens"); err != nil || len(toks) != 3 {
			t.Errorf("tokens %v %v", toks, err)
		}
	}); err != nil {
		t.Fatalf("reading t2 touched other tensors: %v", err)
	}
}

// TestParseReadsOnlyHeader parses an image whose data section is
// inaccessible (PROT_NONE): parsing must succeed without touching it, and
// reading one tensor touches only that tensor's pages.
func TestParseReadsOnlyHeader(t *testing.T) {
	img := build(t, pagedBuilder(t))
	mem, err := unix.Mmap(-1, 0, len(img), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Skipf("anonymous mmap: %v", err)
	}
	defer unix.Munmap(mem)
	copy(mem, img)
	checkOnlyTensor(t, mem, func() (*File, error) { return Parse(mem) })
}

// TestOpenMapsFile checks that Open memory-maps the file (TensorData
// aliases the mapping) and that reading one tensor touches no other.
func TestOpenMapsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "paged.gguf")
	must(t, WriteFile(path, pagedBuilder(t)))
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.unmap == nil || len(f.data) == 0 || uintptr(unsafe.Pointer(&f.data[0]))%uintptr(os.Getpagesize()) != 0 {
		t.Fatal("Open did not map the file")
	}
	checkOnlyTensor(t, f.data, func() (*File, error) { return f, nil })
}
