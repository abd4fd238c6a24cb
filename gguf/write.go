package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/tessera-net/tessera/quant"
)

// Builder assembles a GGUF v3 file: metadata in the order added, and
// tensors whose data is streamed by callbacks when the file is written, so
// that even multi-gigabyte files never sit in memory. Tensor data is laid
// out in the order the tensors were added, each at the next multiple of the
// alignment (general.alignment if set, else 32).
//
// The zero Builder is ready to use. A Builder is not safe for concurrent
// use.
type Builder struct {
	kv      []KeyValue
	kvIndex map[string]int
	tensors []builderTensor
	tIndex  map[string]int
}

type builderTensor struct {
	info  TensorInfo
	write func(w io.Writer) error
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{} }

// checkKV validates a key and value for the builder.
func checkKV(key string, v Value) error {
	if err := v.check(0); err != nil {
		return fmt.Errorf("gguf: key %q: %w", key, err)
	}
	if key == AlignmentKey {
		if _, err := checkAlignment(v); err != nil {
			return fmt.Errorf("gguf: key %q: %w", key, err)
		}
	}
	return nil
}

// AddKV appends a metadata entry. It fails if the key is already present
// or the value is malformed (Data not matching Type, arrays nested deeper
// than MaxArrayDepth, a general.alignment that is not a uint32 power of
// two).
func (b *Builder) AddKV(key string, v Value) error {
	if _, dup := b.kvIndex[key]; dup {
		return fmt.Errorf("gguf: key %q: already present", key)
	}
	if err := checkKV(key, v); err != nil {
		return err
	}
	if b.kvIndex == nil {
		b.kvIndex = make(map[string]int)
	}
	b.kvIndex[key] = len(b.kv)
	b.kv = append(b.kv, KeyValue{Key: key, Value: v})
	return nil
}

// SetKV replaces the value of key in place, keeping its position, or
// appends it if absent.
func (b *Builder) SetKV(key string, v Value) error {
	i, ok := b.kvIndex[key]
	if !ok {
		return b.AddKV(key, v)
	}
	if err := checkKV(key, v); err != nil {
		return err
	}
	b.kv[i].Value = v
	return nil
}

// DeleteKV removes key and reports whether it was present.
func (b *Builder) DeleteKV(key string) bool {
	i, ok := b.kvIndex[key]
	if !ok {
		return false
	}
	b.kv = slices.Delete(b.kv, i, i+1)
	delete(b.kvIndex, key)
	for j := i; j < len(b.kv); j++ {
		b.kvIndex[b.kv[j].Key] = j
	}
	return true
}

// Lookup returns the value of key.
func (b *Builder) Lookup(key string) (Value, bool) {
	i, ok := b.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return b.kv[i].Value, true
}

// KV returns the metadata entries in order (a fresh slice).
func (b *Builder) KV() []KeyValue { return slices.Clone(b.kv) }

// CopyKV copies all metadata of f into b, in f's order, as SetKV does:
// keys b already has are overwritten in place. Values are shared, not
// deep-copied; they are never modified by this package. Typical use, to
// write a slice of a model:
//
//	b := gguf.NewBuilder()
//	b.CopyKV(f)
//	b.SetKV("llama.block_count", gguf.Uint32Value(n))
//	for _, t := range f.Tensors { if keep(t.Name) { b.CopyTensor(f, t.Name) } }
//	gguf.WriteFile(path, b)
func (b *Builder) CopyKV(f *File) error {
	for _, kv := range f.KV {
		if err := b.SetKV(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}

// SetAlignment sets general.alignment (a power of two) to n.
func (b *Builder) SetAlignment(n int) error {
	if n <= 0 || uint64(n) > math.MaxUint32 {
		return fmt.Errorf("gguf: alignment %d is out of range", n)
	}
	return b.SetKV(AlignmentKey, Uint32Value(uint32(n)))
}

// alignment returns the alignment the file will have.
func (b *Builder) alignment() uint64 {
	if v, ok := b.Lookup(AlignmentKey); ok {
		return uint64(v.Data.(uint32)) // validated by AddKV/SetKV
	}
	return DefaultAlignment
}

// AddTensor appends a tensor of type t and dims (ggml order, Dims[0] the
// row length, 1 to 4 dims) whose data is produced, when the file is
// written, by write: it must write exactly the tensor's size in bytes
// (Dims[0] must be a whole number of t's blocks) to w and return nil.
// Types whose layout is known (quant.Type.Known) are accepted even if
// Tessera cannot compute with them.
func (b *Builder) AddTensor(name string, t quant.Type, dims []uint64, write func(w io.Writer) error) error {
	if _, dup := b.tIndex[name]; dup {
		return fmt.Errorf("gguf: tensor %q: already present", name)
	}
	if write == nil {
		return fmt.Errorf("gguf: tensor %q: nil write function", name)
	}
	if !t.Known() {
		return fmt.Errorf("gguf: tensor %q: unknown tensor type id %d", name, uint32(t))
	}
	if len(dims) < 1 || len(dims) > MaxDims {
		return fmt.Errorf("gguf: tensor %q: %d dims, want 1 to %d", name, len(dims), MaxDims)
	}
	for i, d := range dims {
		if d > math.MaxInt64 {
			return fmt.Errorf("gguf: tensor %q: dimension %d is %d, larger than 2^63-1", name, i, d)
		}
	}
	size, err := tensorSize(t, dims, math.MaxInt64)
	if err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	if b.tIndex == nil {
		b.tIndex = make(map[string]int)
	}
	b.tIndex[name] = len(b.tensors)
	b.tensors = append(b.tensors, builderTensor{
		info:  TensorInfo{Name: name, Dims: slices.Clone(dims), Type: t, Size: size},
		write: write,
	})
	return nil
}

// AddTensorBytes appends a tensor whose data is already in memory; len(data)
// must be the tensor's size. data is not copied and must stay unchanged
// until the file is written.
func (b *Builder) AddTensorBytes(name string, t quant.Type, dims []uint64, data []byte) error {
	if err := b.AddTensor(name, t, dims, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return err
	}
	if want := b.tensors[len(b.tensors)-1].info.Size; uint64(len(data)) != want {
		b.removeLastTensor()
		return fmt.Errorf("gguf: tensor %q: %d bytes of data, want %d", name, len(data), want)
	}
	return nil
}

func (b *Builder) removeLastTensor() {
	last := len(b.tensors) - 1
	delete(b.tIndex, b.tensors[last].info.Name)
	b.tensors = b.tensors[:last]
}

// CopyTensor appends the tensor name of f, with its type, dims and data.
// The data is read from f when the file is written, so f must stay open
// until then.
func (b *Builder) CopyTensor(f *File, name string) error {
	t, ok := f.Tensor(name)
	if !ok {
		return fmt.Errorf("gguf: tensor %q not found", name)
	}
	return b.AddTensor(name, t.Type, t.Dims, func(w io.Writer) error {
		data, err := f.TensorData(name)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
}

// layout encodes the header and assigns tensor offsets.
func (b *Builder) layout() (header []byte, tensors []TensorInfo, dataOffset, end uint64) {
	a := b.alignment()
	align := func(x uint64) uint64 { return (x + a - 1) &^ (a - 1) }
	tensors = make([]TensorInfo, len(b.tensors))
	off := uint64(0)
	for i, t := range b.tensors {
		tensors[i] = t.info
		tensors[i].Offset = off
		off = align(off + t.info.Size)
	}
	le := binary.LittleEndian
	h := []byte(Magic)
	h = le.AppendUint32(h, 3)
	h = le.AppendUint64(h, uint64(len(tensors)))
	h = le.AppendUint64(h, uint64(len(b.kv)))
	for _, kv := range b.kv {
		h = appendString(h, kv.Key)
		h = le.AppendUint32(h, uint32(kv.Value.Type))
		h = appendValue(h, kv.Value)
	}
	for _, t := range tensors {
		h = appendString(h, t.Name)
		h = le.AppendUint32(h, uint32(len(t.Dims)))
		for _, d := range t.Dims {
			h = le.AppendUint64(h, d)
		}
		h = le.AppendUint32(h, uint32(t.Type))
		h = le.AppendUint64(h, t.Offset)
	}
	dataOffset = align(uint64(len(h)))
	return h, tensors, dataOffset, dataOffset + off
}

// Tensors returns the tensor infos in order, with the offsets they will
// have in the written file.
func (b *Builder) Tensors() []TensorInfo {
	_, t, _, _ := b.layout()
	return t
}

// Size returns the number of bytes WriteTo will write.
func (b *Builder) Size() int64 {
	_, _, _, end := b.layout()
	return int64(end)
}

func appendString(h []byte, s string) []byte {
	h = binary.LittleEndian.AppendUint64(h, uint64(len(s)))
	return append(h, s...)
}

// appendValue encodes the payload of a value (validated by check) without
// its type.
func appendValue(h []byte, v Value) []byte {
	le := binary.LittleEndian
	switch d := v.Data.(type) {
	case uint8:
		return append(h, d)
	case int8:
		return append(h, byte(d))
	case uint16:
		return le.AppendUint16(h, d)
	case int16:
		return le.AppendUint16(h, uint16(d))
	case uint32:
		return le.AppendUint32(h, d)
	case int32:
		return le.AppendUint32(h, uint32(d))
	case uint64:
		return le.AppendUint64(h, d)
	case int64:
		return le.AppendUint64(h, uint64(d))
	case float32:
		return le.AppendUint32(h, math.Float32bits(d))
	case float64:
		return le.AppendUint64(h, math.Float64bits(d))
	case bool:
		if d {
			return append(h, 1)
		}
		return append(h, 0)
	case string:
		return appendString(h, d)
	}
	// An array: element type, length, elements.
	h = le.AppendUint32(h, uint32(v.Elem))
	n := v.Len()
	h = le.AppendUint64(h, uint64(n))
	switch d := v.Data.(type) {
	case []uint8:
		return append(h, d...)
	case []Value:
		for _, e := range d {
			h = appendValue(h, e)
		}
		return h
	}
	for i := range n {
		h = appendValue(h, v.elem(i))
	}
	return h
}

// countWriter counts the bytes written to w.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// errTooMuch is returned to a tensor callback that writes past its size.
var errTooMuch = errors.New("wrote more than the tensor's size")

// tensorWriter passes at most n bytes to w.
type tensorWriter struct {
	w        io.Writer
	n        uint64 // bytes still allowed
	written  uint64
	overflow bool // a write went past the size
}

func (t *tensorWriter) Write(p []byte) (int, error) {
	if uint64(len(p)) > t.n {
		t.overflow = true
		return 0, errTooMuch
	}
	n, err := t.w.Write(p)
	t.n -= uint64(n)
	t.written += uint64(n)
	return n, err
}

var zeros [4096]byte

func writeZeros(w io.Writer, n uint64) error {
	for n > 0 {
		k := min(n, uint64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// WriteTo writes the file, GGUF version 3, to w: the header, then each
// tensor's data as produced by its callback, padded to the alignment. It
// checks that each callback wrote exactly the tensor's size. It returns
// the number of bytes written to w.
func (b *Builder) WriteTo(w io.Writer) (int64, error) {
	header, tensors, dataOffset, end := b.layout()
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	fail := func(err error) (int64, error) {
		bw.Flush()
		return cw.n, err
	}
	if _, err := bw.Write(header); err != nil {
		return fail(fmt.Errorf("gguf: writing header: %w", err))
	}
	pos := uint64(len(header))
	for i, t := range tensors {
		if err := writeZeros(bw, dataOffset+t.Offset-pos); err != nil {
			return fail(fmt.Errorf("gguf: writing padding: %w", err))
		}
		tw := &tensorWriter{w: bw, n: t.Size}
		err := b.tensors[i].write(tw)
		if tw.overflow {
			return fail(fmt.Errorf("gguf: tensor %q: data callback wrote more than the tensor's %d bytes", t.Name, t.Size))
		}
		if err != nil {
			return fail(fmt.Errorf("gguf: tensor %q: writing data: %w", t.Name, err))
		}
		if tw.written != t.Size {
			return fail(fmt.Errorf("gguf: tensor %q: data callback wrote %d bytes, want %d", t.Name, tw.written, t.Size))
		}
		pos = dataOffset + t.Offset + t.Size
	}
	if err := writeZeros(bw, end-pos); err != nil {
		return fail(fmt.Errorf("gguf: writing padding: %w", err))
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("gguf: %w", err)
	}
	return cw.n, nil
}

// WriteFile writes the file built by b to path atomically: it writes a
// temporary file in the same directory, syncs it to disk and renames it
// over path, so that path never holds a partial file. On error the
// temporary file is removed.
func WriteFile(path string, b *Builder) error {
	return writeFile(path, b)
}

func writeFile(path string, b *Builder) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				tmp.Close()
			}
			os.Remove(tmp.Name())
		}
	}()
	if _, err = b.WriteTo(tmp); err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	closed = true
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable where the system supports it;
// failures are ignored (the data itself is already synced).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
