package gguf

import (
	"fmt"
	"strconv"
	"strings"
)

// ValueType is the type id of a metadata value, as stored in GGUF.
type ValueType uint32

// The GGUF metadata value types, with the ids the format assigns them.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

// MaxArrayDepth is the deepest nesting of arrays that Parse accepts and a
// Builder writes: an array of scalars or strings has depth 1, an array of
// such arrays depth 2, and so on.
const MaxArrayDepth = 32

var valueTypeNames = [...]string{
	TypeUint8:   "uint8",
	TypeInt8:    "int8",
	TypeUint16:  "uint16",
	TypeInt16:   "int16",
	TypeUint32:  "uint32",
	TypeInt32:   "int32",
	TypeFloat32: "float32",
	TypeBool:    "bool",
	TypeString:  "string",
	TypeArray:   "array",
	TypeUint64:  "uint64",
	TypeInt64:   "int64",
	TypeFloat64: "float64",
}

// valueTypeSizes holds the encoded size of the fixed-size types (0 for
// string and array).
var valueTypeSizes = [...]int{
	TypeUint8: 1, TypeInt8: 1, TypeUint16: 2, TypeInt16: 2, TypeUint32: 4, TypeInt32: 4,
	TypeFloat32: 4, TypeBool: 1, TypeUint64: 8, TypeInt64: 8, TypeFloat64: 8,
}

// Valid reports whether t is one of the 13 GGUF value types.
func (t ValueType) Valid() bool { return t <= TypeFloat64 }

// String returns the name of the type ("uint32", "array"), or "type(N)" for
// an invalid id.
func (t ValueType) String() string {
	if t.Valid() {
		return valueTypeNames[t]
	}
	return "type(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// size returns the encoded size of a fixed-size type, 0 for string and array.
func (t ValueType) size() int {
	if t.Valid() {
		return valueTypeSizes[t]
	}
	return 0
}

// Value is one metadata value. Type says which of the 13 GGUF types it is;
// for arrays (Type == TypeArray) Elem gives the element type and is
// otherwise unused.
//
// Data holds a scalar as the Go type of the same name (uint8, int8, uint16,
// int16, uint32, int32, uint64, int64, float32, float64, bool, string), an
// array of scalars or strings as the typed slice ([]uint8, ..., []string),
// and an array of arrays (Elem == TypeArray) as []Value, each element itself
// an array Value. Values returned by Parse must not be modified.
type Value struct {
	Type ValueType
	Elem ValueType
	Data any
}

// Uint8Value returns a uint8 Value.
func Uint8Value(v uint8) Value { return Value{Type: TypeUint8, Data: v} }

// Int8Value returns an int8 Value.
func Int8Value(v int8) Value { return Value{Type: TypeInt8, Data: v} }

// Uint16Value returns a uint16 Value.
func Uint16Value(v uint16) Value { return Value{Type: TypeUint16, Data: v} }

// Int16Value returns an int16 Value.
func Int16Value(v int16) Value { return Value{Type: TypeInt16, Data: v} }

// Uint32Value returns a uint32 Value.
func Uint32Value(v uint32) Value { return Value{Type: TypeUint32, Data: v} }

// Int32Value returns an int32 Value.
func Int32Value(v int32) Value { return Value{Type: TypeInt32, Data: v} }

// Uint64Value returns a uint64 Value.
func Uint64Value(v uint64) Value { return Value{Type: TypeUint64, Data: v} }

// Int64Value returns an int64 Value.
func Int64Value(v int64) Value { return Value{Type: TypeInt64, Data: v} }

// Float32Value returns a float32 Value.
func Float32Value(v float32) Value { return Value{Type: TypeFloat32, Data: v} }

// Float64Value returns a float64 Value.
func Float64Value(v float64) Value { return Value{Type: TypeFloat64, Data: v} }

// BoolValue returns a bool Value.
func BoolValue(v bool) Value { return Value{Type: TypeBool, Data: v} }

// StringValue returns a string Value.
func StringValue(v string) Value { return Value{Type: TypeString, Data: v} }

// ArrayElem is the set of Go element types of typed (non-nested) arrays.
type ArrayElem interface {
	uint8 | int8 | uint16 | int16 | uint32 | int32 | uint64 | int64 |
		float32 | float64 | bool | string
}

// ArrayValue returns an array Value holding s (not a copy: s must not be
// modified afterwards). The element type follows from T, e.g.
// ArrayValue([]string{"a", "b"}) is an array of strings.
func ArrayValue[T ArrayElem](s []T) Value {
	_, elem, _ := dataType(s)
	return Value{Type: TypeArray, Elem: elem, Data: s}
}

// NestedArrayValue returns an array of arrays; each element must itself be
// an array Value (built with ArrayValue or NestedArrayValue). The elements
// may have different element types and lengths.
func NestedArrayValue(arrays ...Value) Value {
	if arrays == nil {
		arrays = []Value{}
	}
	return Value{Type: TypeArray, Elem: TypeArray, Data: arrays}
}

// dataType returns the value type of a Go value as used in Value.Data: for
// a scalar its type, for a typed slice TypeArray and its element type.
func dataType(x any) (t, elem ValueType, ok bool) {
	switch x.(type) {
	case uint8:
		return TypeUint8, 0, true
	case int8:
		return TypeInt8, 0, true
	case uint16:
		return TypeUint16, 0, true
	case int16:
		return TypeInt16, 0, true
	case uint32:
		return TypeUint32, 0, true
	case int32:
		return TypeInt32, 0, true
	case uint64:
		return TypeUint64, 0, true
	case int64:
		return TypeInt64, 0, true
	case float32:
		return TypeFloat32, 0, true
	case float64:
		return TypeFloat64, 0, true
	case bool:
		return TypeBool, 0, true
	case string:
		return TypeString, 0, true
	case []uint8:
		return TypeArray, TypeUint8, true
	case []int8:
		return TypeArray, TypeInt8, true
	case []uint16:
		return TypeArray, TypeUint16, true
	case []int16:
		return TypeArray, TypeInt16, true
	case []uint32:
		return TypeArray, TypeUint32, true
	case []int32:
		return TypeArray, TypeInt32, true
	case []uint64:
		return TypeArray, TypeUint64, true
	case []int64:
		return TypeArray, TypeInt64, true
	case []float32:
		return TypeArray, TypeFloat32, true
	case []float64:
		return TypeArray, TypeFloat64, true
	case []bool:
		return TypeArray, TypeBool, true
	case []string:
		return TypeArray, TypeString, true
	case []Value:
		return TypeArray, TypeArray, true
	}
	return 0, 0, false
}

// check reports whether Data holds what Type (and Elem) say, recursively;
// depth is the array nesting depth of v's parent (0 at the top level).
func (v Value) check(depth int) error {
	t, elem, ok := dataType(v.Data)
	switch {
	case !v.Type.Valid():
		return fmt.Errorf("invalid value type %d", uint32(v.Type))
	case !ok:
		return fmt.Errorf("%s value holds Go type %T", v.typeName(), v.Data)
	case v.Type != TypeArray:
		if t != v.Type {
			return fmt.Errorf("%s value holds Go type %T", v.Type, v.Data)
		}
		return nil
	}
	if depth+1 > MaxArrayDepth {
		return fmt.Errorf("arrays nested deeper than %d", MaxArrayDepth)
	}
	if !v.Elem.Valid() {
		return fmt.Errorf("array has invalid element type %d", uint32(v.Elem))
	}
	if t != TypeArray || elem != v.Elem {
		return fmt.Errorf("%s value holds Go type %T", v.typeName(), v.Data)
	}
	if elem == TypeArray {
		for i, e := range v.Data.([]Value) {
			if e.Type != TypeArray {
				return fmt.Errorf("element %d of an array of arrays is a %s", i, e.typeName())
			}
			if err := e.check(depth + 1); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
	}
	return nil
}

// typeName returns "uint32" for scalars and "array[string]" for arrays.
func (v Value) typeName() string {
	if v.Type == TypeArray {
		return "array[" + v.Elem.String() + "]"
	}
	return v.Type.String()
}

// Len returns the number of elements of an array Value, or 0 for a scalar.
func (v Value) Len() int {
	switch d := v.Data.(type) {
	case []uint8:
		return len(d)
	case []int8:
		return len(d)
	case []uint16:
		return len(d)
	case []int16:
		return len(d)
	case []uint32:
		return len(d)
	case []int32:
		return len(d)
	case []uint64:
		return len(d)
	case []int64:
		return len(d)
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []bool:
		return len(d)
	case []string:
		return len(d)
	case []Value:
		return len(d)
	}
	return 0
}

// maxShown is how many array elements String prints.
const maxShown = 8

// String formats v for humans: scalars as Go literals (strings quoted),
// arrays as their type, length and first few elements.
func (v Value) String() string {
	if v.Type != TypeArray {
		if s, ok := v.Data.(string); ok {
			return strconv.Quote(s)
		}
		return fmt.Sprint(v.Data)
	}
	var sb strings.Builder
	n := v.Len()
	fmt.Fprintf(&sb, "%s(%d)[", v.typeName(), n)
	for i := range min(n, maxShown) {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(v.elem(i).String())
	}
	if n > maxShown {
		sb.WriteString(", ...")
	}
	sb.WriteString("]")
	return sb.String()
}

// elem returns element i of an array Value as a Value.
func (v Value) elem(i int) Value {
	if vs, ok := v.Data.([]Value); ok {
		return vs[i]
	}
	var x any
	switch d := v.Data.(type) {
	case []uint8:
		x = d[i]
	case []int8:
		x = d[i]
	case []uint16:
		x = d[i]
	case []int16:
		x = d[i]
	case []uint32:
		x = d[i]
	case []int32:
		x = d[i]
	case []uint64:
		x = d[i]
	case []int64:
		x = d[i]
	case []float32:
		x = d[i]
	case []float64:
		x = d[i]
	case []bool:
		x = d[i]
	case []string:
		x = d[i]
	}
	return Value{Type: v.Elem, Data: x}
}
