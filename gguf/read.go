package gguf

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"slices"
	"strconv"

	"github.com/tessera-net/tessera/quant"
)

// Magic is the four bytes every GGUF file starts with.
const Magic = "GGUF"

// DefaultAlignment is the alignment of tensor data when a file has no
// general.alignment key.
const DefaultAlignment = 32

// AlignmentKey is the metadata key that sets the alignment of tensor data.
// Its value must be a uint32 power of two.
const AlignmentKey = "general.alignment"

// MaxDims is the largest number of dimensions a tensor may have (ggml's
// GGML_MAX_DIMS).
const MaxDims = 4

// Minimum encoded sizes, used to bound counts by the bytes that remain
// before anything is allocated.
const (
	minKVBytes     = 8 + 4 + 1         // key length, value type, 1-byte value
	minTensorBytes = 8 + 4 + 8 + 4 + 8 // name length, n_dims, one dim, type, offset
	minArrayBytes  = 4 + 8             // element type, length
	minStringBytes = 8                 // length
)

// ErrKeyNotFound is wrapped by the typed getters of File when the key is
// absent; test for it with errors.Is.
var ErrKeyNotFound = errors.New("key not found")

// ErrClosed is returned by TensorData after Close.
var ErrClosed = errors.New("file is closed")

// FormatError reports a malformed or unsupported file. Offset is the byte
// offset in the file at which the problem was found.
type FormatError struct {
	Path   string // file name, when opened with Open
	Offset int64
	Msg    string
}

// Error returns "gguf: [path: ]msg (at byte offset N)".
func (e *FormatError) Error() string {
	p := ""
	if e.Path != "" {
		p = e.Path + ": "
	}
	return "gguf: " + p + e.Msg + " (at byte offset " + strconv.FormatInt(e.Offset, 10) + ")"
}

// KeyValue is one metadata entry.
type KeyValue struct {
	Key   string
	Value Value
}

// TensorInfo describes one tensor. Dims are in ggml order: Dims[0] is the
// contiguous (row) length, so a matrix of R rows of C values has Dims
// [C R]. Offset is relative to the start of the data section
// (File.DataOffset) and Size is the exact byte size of the data (without
// alignment padding).
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   quant.Type
	Offset uint64
	Size   uint64
}

// NumElements returns the number of values in the tensor (the product of
// Dims).
func (t TensorInfo) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file. Its metadata (KV, Tensors) is held in
// ordinary Go memory and stays valid after Close; tensor data is only
// reachable through TensorData, which returns slices of the file image.
//
// The methods of File may be called concurrently, except Close.
type File struct {
	Version   uint32 // 2 or 3
	Alignment int    // alignment of tensor data (general.alignment or 32)
	KV        []KeyValue
	Tensors   []TensorInfo
	// DataOffset is the byte offset in the file of the data section, to
	// which TensorInfo.Offset is relative.
	DataOffset uint64

	data    []byte
	unmap   func([]byte) error
	closed  bool
	kvIndex map[string]int
	tIndex  map[string]int
}

// Open memory-maps the file at path read-only and parses its header:
// metadata and tensor infos. Tensor data is not read; TensorData returns
// slices of the mapping, so pages of a tensor are only read from disk when
// the caller touches them. (On systems without mmap the file is read into
// memory instead.) Call Close to release the mapping.
func Open(path string) (*File, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer osf.Close()
	st, err := osf.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("gguf: %s: not a regular file", path)
	}
	size := st.Size()
	if uint64(size) > math.MaxInt {
		return nil, fmt.Errorf("gguf: %s: file of %d bytes is too large to map", path, size)
	}
	data, unmap, err := mapFile(osf, int(size))
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	f, err := parse(data)
	if err != nil {
		if unmap != nil {
			unmap(data)
		}
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.Path = path
		}
		return nil, err
	}
	f.unmap = unmap
	return f, nil
}

// Parse parses a GGUF image held in memory, such as a model embedded in the
// binary. TensorData returns sub-slices of data, which must therefore not
// be modified while the File is in use. Parse reads only the header region
// of data.
func Parse(data []byte) (*File, error) {
	return parse(data)
}

// Close releases the memory mapping (for files from Open). Slices returned
// by TensorData must not be used after Close. Metadata stays available.
// Close is idempotent.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	data := f.data
	f.data = nil
	if f.unmap != nil {
		if err := f.unmap(data); err != nil {
			return fmt.Errorf("gguf: unmap: %w", err)
		}
	}
	return nil
}

// Lookup returns the value of a metadata key.
func (f *File) Lookup(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// TensorData returns the bytes of the named tensor: a sub-slice of the file
// image (of the mapping, for files from Open), not a copy. Its length and
// capacity are the tensor's Size. It must not be modified, nor used after
// Close.
func (f *File) TensorData(name string) ([]byte, error) {
	i, ok := f.tIndex[name]
	if !ok {
		return nil, fmt.Errorf("gguf: tensor %q not found", name)
	}
	if f.closed {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, ErrClosed)
	}
	t := &f.Tensors[i]
	start := f.DataOffset + t.Offset // validated by parse to lie inside data
	end := start + t.Size
	return f.data[start:end:end], nil
}

// Architecture returns general.architecture, or "" if it is absent or not a
// string.
func (f *File) Architecture() string {
	s, _ := f.String("general.architecture")
	return s
}

func (f *File) get(key string) (Value, error) {
	v, ok := f.Lookup(key)
	if !ok {
		return Value{}, fmt.Errorf("gguf: key %q: %w", key, ErrKeyNotFound)
	}
	return v, nil
}

func wrongType(key string, v Value, want string) error {
	return fmt.Errorf("gguf: key %q: has type %s, want %s", key, v.typeName(), want)
}

// String returns the string value of key.
func (f *File) String(key string) (string, error) {
	v, err := f.get(key)
	if err != nil {
		return "", err
	}
	s, ok := v.Data.(string)
	if !ok {
		return "", wrongType(key, v, "string")
	}
	return s, nil
}

// Bool returns the bool value of key.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.get(key)
	if err != nil {
		return false, err
	}
	b, ok := v.Data.(bool)
	if !ok {
		return false, wrongType(key, v, "bool")
	}
	return b, nil
}

// Uint returns the value of key, which may have any integer type but must
// not be negative.
func (f *File) Uint(key string) (uint64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	u, neg, ok := asInt(v.Data)
	if !ok {
		return 0, wrongType(key, v, "an integer")
	}
	if neg {
		return 0, fmt.Errorf("gguf: key %q: value %v is negative", key, v.Data)
	}
	return u, nil
}

// Float returns the value of key, which may be a float32, float64 or any
// integer type.
func (f *File) Float(key string) (float64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	x, ok := asFloat(v.Data)
	if !ok {
		return 0, wrongType(key, v, "a number")
	}
	return x, nil
}

// Strings returns the array-of-strings value of key (a fresh slice).
func (f *File) Strings(key string) ([]string, error) {
	v, err := f.get(key)
	if err != nil {
		return nil, err
	}
	s, ok := v.Data.([]string)
	if !ok {
		return nil, wrongType(key, v, "array[string]")
	}
	return slices.Clone(s), nil
}

// Float32s returns the value of key, an array of any numeric type, as a
// fresh []float32.
func (f *File) Float32s(key string) ([]float32, error) {
	v, err := f.get(key)
	if err != nil {
		return nil, err
	}
	if s, ok := v.Data.([]float32); ok {
		return slices.Clone(s), nil
	}
	if v.Type != TypeArray || v.Elem == TypeArray || v.Elem == TypeString || v.Elem == TypeBool {
		return nil, wrongType(key, v, "a numeric array")
	}
	out := make([]float32, v.Len())
	for i := range out {
		x, _ := asFloat(v.elem(i).Data)
		out[i] = float32(x)
	}
	return out, nil
}

// Int32s returns the value of key, an array of any integer type, as a fresh
// []int32; elements outside the int32 range are an error.
func (f *File) Int32s(key string) ([]int32, error) {
	v, err := f.get(key)
	if err != nil {
		return nil, err
	}
	if s, ok := v.Data.([]int32); ok {
		return slices.Clone(s), nil
	}
	if v.Type != TypeArray {
		return nil, wrongType(key, v, "an integer array")
	}
	switch v.Elem {
	case TypeUint8, TypeInt8, TypeUint16, TypeInt16, TypeUint32, TypeUint64, TypeInt64:
	default:
		return nil, wrongType(key, v, "an integer array")
	}
	out := make([]int32, v.Len())
	for i := range out {
		e := v.elem(i).Data
		u, neg, _ := asInt(e)
		if (neg && int64(u) < math.MinInt32) || (!neg && u > math.MaxInt32) {
			return nil, fmt.Errorf("gguf: key %q: element %d (%v) is out of the int32 range", key, i, e)
		}
		out[i] = int32(u)
	}
	return out, nil
}

// asInt returns an integer value as its two's complement bits and whether
// it is negative.
func asInt(x any) (u uint64, neg, ok bool) {
	switch x := x.(type) {
	case uint8:
		return uint64(x), false, true
	case uint16:
		return uint64(x), false, true
	case uint32:
		return uint64(x), false, true
	case uint64:
		return x, false, true
	case int8:
		return uint64(int64(x)), x < 0, true
	case int16:
		return uint64(int64(x)), x < 0, true
	case int32:
		return uint64(int64(x)), x < 0, true
	case int64:
		return uint64(x), x < 0, true
	}
	return 0, false, false
}

func asFloat(x any) (float64, bool) {
	switch x := x.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	u, neg, ok := asInt(x)
	if !ok {
		return 0, false
	}
	if neg {
		return float64(int64(u)), true
	}
	return float64(u), true
}

// reader decodes little-endian fields from b, tracking the offset for error
// messages.
type reader struct {
	b   []byte
	off int
}

func (r *reader) errAt(off int, format string, args ...any) error {
	return &FormatError{Offset: int64(off), Msg: fmt.Sprintf(format, args...)}
}

func (r *reader) remaining() int { return len(r.b) - r.off }

// need checks that n more bytes are available.
func (r *reader) need(n uint64, what string) error {
	if n > uint64(r.remaining()) {
		return r.errAt(r.off, "unexpected end of file reading %s: need %d bytes, %d remain", what, n, r.remaining())
	}
	return nil
}

func (r *reader) u32(what string) (uint32, error) {
	if err := r.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

func (r *reader) u64(what string) (uint64, error) {
	if err := r.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v, nil
}

// str reads a length-prefixed string.
func (r *reader) str(what string) (string, error) {
	n, err := r.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(r.remaining()) {
		return "", r.errAt(r.off-8, "%s length %d exceeds the %d bytes remaining", what, n, r.remaining())
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

// withContext prefixes the message of a *FormatError with context.
func withContext(err error, format string, args ...any) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		fe.Msg = fmt.Sprintf(format, args...) + ": " + fe.Msg
	}
	return err
}

// value reads a value of type t; depth is the array nesting depth of its
// parent.
func (r *reader) value(t ValueType, depth int) (Value, error) {
	start := r.off
	switch t {
	case TypeString:
		s, err := r.str("string")
		return Value{Type: t, Data: s}, err
	case TypeArray:
		return r.array(depth + 1)
	}
	if !t.Valid() {
		return Value{}, r.errAt(start, "invalid value type %d", uint32(t))
	}
	n := t.size()
	if err := r.need(uint64(n), t.String()+" value"); err != nil {
		return Value{}, err
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	var x any
	switch t {
	case TypeUint8:
		x = b[0]
	case TypeInt8:
		x = int8(b[0])
	case TypeUint16:
		x = binary.LittleEndian.Uint16(b)
	case TypeInt16:
		x = int16(binary.LittleEndian.Uint16(b))
	case TypeUint32:
		x = binary.LittleEndian.Uint32(b)
	case TypeInt32:
		x = int32(binary.LittleEndian.Uint32(b))
	case TypeUint64:
		x = binary.LittleEndian.Uint64(b)
	case TypeInt64:
		x = int64(binary.LittleEndian.Uint64(b))
	case TypeFloat32:
		x = math.Float32frombits(binary.LittleEndian.Uint32(b))
	case TypeFloat64:
		x = math.Float64frombits(binary.LittleEndian.Uint64(b))
	case TypeBool:
		if b[0] > 1 {
			return Value{}, r.errAt(start, "invalid bool value %d", b[0])
		}
		x = b[0] == 1
	}
	return Value{Type: t, Data: x}, nil
}

// decodeFixed decodes n fixed-size elements starting at b.
func decodeFixed[T any](b []byte, n, size int, dec func([]byte) T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = dec(b[i*size:])
	}
	return out
}

// array reads an array (element type, length, elements) at nesting depth
// depth (1 for a top-level array).
func (r *reader) array(depth int) (Value, error) {
	start := r.off
	if depth > MaxArrayDepth {
		return Value{}, r.errAt(start, "arrays nested deeper than %d", MaxArrayDepth)
	}
	et, err := r.u32("array element type")
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(et)
	if !elem.Valid() {
		return Value{}, r.errAt(start, "invalid array element type %d", et)
	}
	n64, err := r.u64("array length")
	if err != nil {
		return Value{}, err
	}
	v := Value{Type: TypeArray, Elem: elem}
	minElem := uint64(elem.size())
	switch elem {
	case TypeString:
		minElem = minStringBytes
	case TypeArray:
		minElem = minArrayBytes
	}
	if n64 > uint64(r.remaining())/minElem {
		return Value{}, r.errAt(start+4, "array of %d %s elements cannot fit in the %d bytes remaining", n64, elem, r.remaining())
	}
	n := int(n64)
	switch elem {
	case TypeString:
		v.Data, err = r.stringArray(n)
		return v, err
	case TypeArray:
		vs := make([]Value, n)
		for i := range vs {
			if vs[i], err = r.array(depth + 1); err != nil {
				return Value{}, withContext(err, "array element %d", i)
			}
		}
		v.Data = vs
		return v, nil
	}
	size := elem.size()
	b := r.b[r.off : r.off+n*size]
	switch elem {
	case TypeUint8:
		v.Data = slices.Clone(b)
	case TypeInt8:
		v.Data = decodeFixed(b, n, 1, func(b []byte) int8 { return int8(b[0]) })
	case TypeUint16:
		v.Data = decodeFixed(b, n, 2, binary.LittleEndian.Uint16)
	case TypeInt16:
		v.Data = decodeFixed(b, n, 2, func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) })
	case TypeUint32:
		v.Data = decodeFixed(b, n, 4, binary.LittleEndian.Uint32)
	case TypeInt32:
		v.Data = decodeFixed(b, n, 4, func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) })
	case TypeUint64:
		v.Data = decodeFixed(b, n, 8, binary.LittleEndian.Uint64)
	case TypeInt64:
		v.Data = decodeFixed(b, n, 8, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) })
	case TypeFloat32:
		v.Data = decodeFixed(b, n, 4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) })
	case TypeFloat64:
		v.Data = decodeFixed(b, n, 8, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) })
	case TypeBool:
		out := make([]bool, n)
		for i, c := range b {
			if c > 1 {
				return Value{}, r.errAt(r.off+i, "array element %d: invalid bool value %d", i, c)
			}
			out[i] = c == 1
		}
		v.Data = out
	}
	r.off += n * size
	return v, nil
}

// stringArray reads n length-prefixed strings. It validates all lengths
// first, then copies the whole region once and slices the strings out of
// it, so a large vocabulary costs two allocations rather than one per
// string.
func (r *reader) stringArray(n int) ([]string, error) {
	start := r.off
	off := start
	for i := range n {
		if len(r.b)-off < 8 {
			r.off = off
			return nil, withContext(r.need(8, "string length"), "array element %d", i)
		}
		l := binary.LittleEndian.Uint64(r.b[off:])
		off += 8
		if l > uint64(len(r.b)-off) {
			return nil, r.errAt(off-8, "array element %d: string length %d exceeds the %d bytes remaining", i, l, len(r.b)-off)
		}
		off += int(l)
	}
	region := string(r.b[start:off])
	out := make([]string, n)
	p := 0
	for i := range out {
		l := int(binary.LittleEndian.Uint64(r.b[start+p:]))
		p += 8
		out[i] = region[p : p+l]
		p += l
	}
	r.off = off
	return out, nil
}

// parse parses a whole GGUF image. It reads only the header region of data.
func parse(data []byte) (*File, error) {
	r := &reader{b: data}
	if len(data) < 4 {
		return nil, r.errAt(0, "file of %d bytes is too short to be GGUF", len(data))
	}
	if string(data[:4]) != Magic {
		return nil, r.errAt(0, "not a GGUF file: magic is %q, want %q", data[:4], Magic)
	}
	r.off = 4
	version, err := r.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, r.errAt(4, "unsupported version 1 (GGUF v1 files are obsolete; only v2 and v3 are supported)")
	case bits.ReverseBytes32(version) >= 1 && bits.ReverseBytes32(version) <= 3:
		return nil, r.errAt(4, "big-endian GGUF file (version %d byte-swapped); only little-endian files are supported", bits.ReverseBytes32(version))
	default:
		return nil, r.errAt(4, "unsupported version %d (only v2 and v3 are supported)", version)
	}
	tensorCount, err := r.u64("tensor count")
	if err != nil {
		return nil, err
	}
	kvCount, err := r.u64("metadata key count")
	if err != nil {
		return nil, err
	}
	rem := uint64(r.remaining())
	if kvCount > rem/minKVBytes {
		return nil, r.errAt(16, "metadata key count %d cannot fit in the %d bytes remaining", kvCount, rem)
	}
	if tensorCount > (rem-kvCount*minKVBytes)/minTensorBytes {
		return nil, r.errAt(8, "tensor count %d cannot fit in the %d bytes remaining", tensorCount, rem)
	}

	f := &File{
		Version:   version,
		Alignment: DefaultAlignment,
		KV:        make([]KeyValue, 0, kvCount),
		Tensors:   make([]TensorInfo, 0, tensorCount),
		data:      data,
		kvIndex:   make(map[string]int, kvCount),
		tIndex:    make(map[string]int, tensorCount),
	}
	for i := range int(kvCount) {
		kvOff := r.off
		key, err := r.str("key")
		if err != nil {
			return nil, withContext(err, "metadata entry %d", i)
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, r.errAt(kvOff, "duplicate metadata key %q", key)
		}
		typeOff := r.off
		t, err := r.u32("value type")
		if err != nil {
			return nil, withContext(err, "key %q", key)
		}
		if !ValueType(t).Valid() {
			return nil, r.errAt(typeOff, "key %q: invalid value type %d", key, t)
		}
		v, err := r.value(ValueType(t), 0)
		if err != nil {
			return nil, withContext(err, "key %q", key)
		}
		if key == AlignmentKey {
			a, err := checkAlignment(v)
			if err != nil {
				return nil, r.errAt(typeOff, "key %q: %v", key, err)
			}
			f.Alignment = a
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, KeyValue{Key: key, Value: v})
	}

	infoOffs := make([]int, 0, tensorCount)
	for i := range int(tensorCount) {
		infoOffs = append(infoOffs, r.off)
		t, err := r.tensorInfo(f.Alignment)
		if err != nil {
			return nil, withContext(err, "tensor info %d", i)
		}
		if _, dup := f.tIndex[t.Name]; dup {
			return nil, r.errAt(infoOffs[i], "duplicate tensor name %q", t.Name)
		}
		f.tIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}

	// The data section starts at the next multiple of the alignment. A file
	// without tensor data may end before that.
	a := uint64(f.Alignment)
	f.DataOffset = (uint64(r.off) + a - 1) &^ (a - 1)
	size := uint64(len(data))
	for i, t := range f.Tensors {
		if f.DataOffset > size || t.Offset > size-f.DataOffset || t.Size > size-f.DataOffset-t.Offset {
			return nil, r.errAt(infoOffs[i], "tensor %q: data at [%d, %d) of the data section starting at %d extends beyond the end of the %d-byte file",
				t.Name, t.Offset, t.Offset+t.Size, f.DataOffset, size)
		}
	}
	// No two tensors may overlap (empty tensors overlap nothing).
	order := make([]int, 0, len(f.Tensors))
	for i, t := range f.Tensors {
		if t.Size > 0 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(i, j int) int { return cmp.Compare(f.Tensors[i].Offset, f.Tensors[j].Offset) })
	for k := 1; k < len(order); k++ {
		p, q := &f.Tensors[order[k-1]], &f.Tensors[order[k]]
		if p.Offset+p.Size > q.Offset {
			return nil, r.errAt(infoOffs[order[k]], "tensor %q: data at [%d, %d) overlaps tensor %q at [%d, %d)",
				q.Name, q.Offset, q.Offset+q.Size, p.Name, p.Offset, p.Offset+p.Size)
		}
	}
	return f, nil
}

// checkAlignment validates a general.alignment value.
func checkAlignment(v Value) (int, error) {
	a, ok := v.Data.(uint32)
	if !ok || v.Type != TypeUint32 {
		return 0, fmt.Errorf("alignment has type %s, want uint32", v.typeName())
	}
	if a == 0 || a&(a-1) != 0 {
		return 0, fmt.Errorf("alignment %d is not a power of two", a)
	}
	if uint64(a) > math.MaxInt {
		return 0, fmt.Errorf("alignment %d is too large", a)
	}
	return int(a), nil
}

// tensorInfo reads one tensor info and computes its size.
func (r *reader) tensorInfo(alignment int) (TensorInfo, error) {
	var t TensorInfo
	name, err := r.str("tensor name")
	if err != nil {
		return t, err
	}
	t.Name = name
	ndOff := r.off
	nd, err := r.u32("n_dims")
	if err != nil {
		return t, withContext(err, "tensor %q", name)
	}
	if nd < 1 || nd > MaxDims {
		return t, r.errAt(ndOff, "tensor %q: n_dims %d is out of range [1, %d]", name, nd, MaxDims)
	}
	t.Dims = make([]uint64, nd)
	for i := range t.Dims {
		d, err := r.u64("dimension")
		if err != nil {
			return t, withContext(err, "tensor %q", name)
		}
		if d > math.MaxInt64 {
			return t, r.errAt(r.off-8, "tensor %q: dimension %d is %d, larger than 2^63-1", name, i, d)
		}
		t.Dims[i] = d
	}
	typeOff := r.off
	typ, err := r.u32("tensor type")
	if err != nil {
		return t, withContext(err, "tensor %q", name)
	}
	t.Type = quant.Type(typ)
	if !t.Type.Known() {
		return t, r.errAt(typeOff, "tensor %q: unknown tensor type id %d", name, typ)
	}
	size, err := tensorSize(t.Type, t.Dims, uint64(len(r.b)))
	if err != nil {
		return t, r.errAt(ndOff, "tensor %q: %v", name, err)
	}
	t.Size = size
	offOff := r.off
	if t.Offset, err = r.u64("tensor data offset"); err != nil {
		return t, withContext(err, "tensor %q", name)
	}
	if t.Offset%uint64(alignment) != 0 {
		return t, r.errAt(offOff, "tensor %q: data offset %d is not a multiple of the alignment %d", name, t.Offset, alignment)
	}
	return t, nil
}

// tensorSize returns the byte size of a tensor of type t and the given
// dims, or an error if Dims[0] is not a whole number of blocks or the size
// overflows or exceeds limit.
func tensorSize(t quant.Type, dims []uint64, limit uint64) (uint64, error) {
	elems := uint64(1)
	for _, d := range dims {
		hi, lo := bits.Mul64(elems, d)
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("dims %v: element count overflows", dims)
		}
		elems = lo
	}
	bs, bb := uint64(t.BlockSize()), uint64(t.BlockBytes())
	hi, rowBytes := bits.Mul64(dims[0]/bs, bb)
	if hi != 0 || rowBytes > math.MaxInt || dims[0] > math.MaxInt {
		return 0, fmt.Errorf("dims %v: row of %d %s values is too large", dims, dims[0], t)
	}
	rb, err := t.RowBytes(int(dims[0]))
	if err != nil {
		return 0, fmt.Errorf("dims %v: %v", dims, err)
	}
	size := uint64(rb)
	for _, d := range dims[1:] {
		hi, lo := bits.Mul64(size, d)
		if hi != 0 {
			return 0, fmt.Errorf("dims %v: byte size overflows", dims)
		}
		size = lo
	}
	if size > limit {
		return 0, fmt.Errorf("dims %v: %d bytes of %s exceed the %d-byte file", dims, size, t, limit)
	}
	return size, nil
}

// Release tells the operating system that the tensor's pages need not stay
// resident in this process, after a one-off pass over it (hashing a whole
// model, say), so that a node serving a few layers of a large file keeps
// only those layers in memory. The data stays readable: a later TensorData
// access reads it again. It does nothing for in-memory images.
func (f *File) Release(name string) {
	i, ok := f.tIndex[name]
	if !ok || f.closed || f.unmap == nil {
		return
	}
	t := &f.Tensors[i]
	start := f.DataOffset + t.Offset
	dropPages(f.data[start : start+t.Size])
}
