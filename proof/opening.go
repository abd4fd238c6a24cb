package proof

import (
	"crypto/sha256"
	"fmt"

	"github.com/tessera-net/tessera/merkle"
	"github.com/tessera-net/tessera/model"
)

// CellRef names vectors of one cell of one forward call's trace.
type CellRef struct {
	Step       uint64
	Layer, Pos int
	Mask       Mask
}

// CellOpening is the answer to a CellRef: the selected vectors, the hashes
// of the others, and the Merkle path of the cell in its trace tree.
type CellOpening struct {
	Step       uint64
	Layer, Pos int
	Mask       Mask
	Vecs       [NumVecs][]float32 // the vectors in Mask
	Hashes     [NumVecs]Hash      // the hashes of the vectors not in Mask
	Path       []Hash
}

// Ref is the CellRef that o answers.
func (o *CellOpening) Ref() CellRef {
	return CellRef{Step: o.Step, Layer: o.Layer, Pos: o.Pos, Mask: o.Mask}
}

// Size is the length of o's encoding.
func (o *CellOpening) Size() int {
	n := 8 + 4 + 4 + 2 + 4 + 32*len(o.Path)
	for i := range o.Vecs {
		if o.Mask.Has(i) {
			n += 4 + 4*len(o.Vecs[i])
		} else {
			n += 32
		}
	}
	return n
}

// OpeningSize is the encoded size of an opening of mask for a model with
// config c, with a path of pathLen hashes.
func OpeningSize(c model.Config, mask Mask, pathLen int) int {
	n := 8 + 4 + 4 + 2 + 4 + 32*pathLen
	for i := 0; i < NumVecs; i++ {
		if mask.Has(i) {
			n += 4 + 4*VecLen(c, i)
		} else {
			n += 32
		}
	}
	return n
}

func (o *CellOpening) encode(e *enc) {
	e.u64(o.Step)
	e.u32(uint32(o.Layer))
	e.u32(uint32(o.Pos))
	e.u16(uint16(o.Mask))
	for i := range o.Vecs {
		if o.Mask.Has(i) {
			e.f32s(o.Vecs[i])
		} else {
			e.hash(o.Hashes[i])
		}
	}
	e.hashes(o.Path)
}

func (o *CellOpening) decode(d *dec) {
	o.Step = d.u64()
	o.Layer, o.Pos = int(d.u32()), int(d.u32())
	o.Mask = Mask(d.u16())
	if o.Mask&^MaskAll != 0 {
		d.fail("mask %#x selects unknown vectors", uint16(o.Mask))
		return
	}
	for i := range o.Vecs {
		if o.Mask.Has(i) {
			o.Vecs[i] = d.f32s(MaxVector)
		} else {
			o.Hashes[i] = d.hash()
		}
	}
	o.Path = d.hashes(MaxPath)
}

const (
	requestMagic  = "TSOREQ1\n"
	openingsMagic = "TSOPEN1\n"
)

// MarshalRequest encodes a list of cell references (the body of an
// opening request).
func MarshalRequest(refs []CellRef) []byte {
	e := enc{b: make([]byte, 0, len(requestMagic)+4+len(refs)*18)}
	e.raw([]byte(requestMagic))
	e.u32(uint32(len(refs)))
	for _, r := range refs {
		e.u64(r.Step)
		e.u32(uint32(r.Layer))
		e.u32(uint32(r.Pos))
		e.u16(uint16(r.Mask))
	}
	return e.b
}

// UnmarshalRequest decodes MarshalRequest's encoding.
func UnmarshalRequest(b []byte) ([]CellRef, error) {
	d := dec{b: b, what: "opening request"}
	d.magic(requestMagic)
	n := d.count(MaxItems, 18)
	refs := make([]CellRef, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		r := CellRef{Step: d.u64(), Layer: int(d.u32()), Pos: int(d.u32()), Mask: Mask(d.u16())}
		if r.Mask == 0 || r.Mask&^MaskAll != 0 {
			d.fail("reference %d: mask %#x", i, uint16(r.Mask))
		}
		refs = append(refs, r)
	}
	d.done()
	if d.err != nil {
		return nil, d.err
	}
	return refs, nil
}

// MarshalOpenings encodes openings (the body of an opening answer).
func MarshalOpenings(ops []*CellOpening) []byte {
	size := len(openingsMagic) + 4
	for _, o := range ops {
		size += o.Size()
	}
	e := enc{b: make([]byte, 0, size)}
	e.raw([]byte(openingsMagic))
	e.u32(uint32(len(ops)))
	for _, o := range ops {
		o.encode(&e)
	}
	return e.b
}

// UnmarshalOpenings decodes MarshalOpenings's encoding.
func UnmarshalOpenings(b []byte) ([]*CellOpening, error) {
	d := dec{b: b, what: "openings"}
	d.magic(openingsMagic)
	n := d.count(MaxItems, 18+4)
	ops := make([]*CellOpening, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		o := new(CellOpening)
		o.decode(&d)
		ops = append(ops, o)
	}
	d.done()
	if d.err != nil {
		return nil, d.err
	}
	return ops, nil
}

// Open builds the opening of ref from a trace commitment and the cell's
// vectors (vecs needs only the vectors in ref.Mask).
func Open(tc *TraceCommitment, step uint64, ref CellRef, vecs [NumVecs][]float32) (*CellOpening, error) {
	i := tc.Index(ref.Layer, ref.Pos)
	if i < 0 {
		return nil, fmt.Errorf("proof: cell (%d, %d) is not in the trace of step %d", ref.Layer, ref.Pos, step)
	}
	o := &CellOpening{Step: step, Layer: ref.Layer, Pos: ref.Pos, Mask: ref.Mask, Path: tc.Tree.Proof(i)}
	for k := 0; k < NumVecs; k++ {
		if ref.Mask.Has(k) {
			if vecs[k] == nil {
				return nil, fmt.Errorf("proof: vector %s of cell (%d, %d) is not available", VecName(k), ref.Layer, ref.Pos)
			}
			o.Vecs[k] = vecs[k]
		} else {
			o.Hashes[k] = tc.Hashes[i][k]
		}
	}
	return o, nil
}

// VerifyOpening checks that o opens a cell of receipt r's trace with the
// vector lengths of config c: the cell is inside the receipt, every
// opened vector has its length, and the cell hash with the Merkle path
// leads to r.TraceRoot.
func VerifyOpening(c model.Config, r *Receipt, o *CellOpening) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("proof: opening of cell (%d, %d) of step %d: %s", o.Layer, o.Pos, o.Step, fmt.Sprintf(format, args...))
	}
	if o.Step != r.Step {
		return bad("checked against the receipt of step %d", r.Step)
	}
	if o.Layer < r.First || o.Layer >= r.Last || o.Pos < r.Start || o.Pos >= r.Start+r.N {
		return bad("outside the receipt's layers %d:%d and positions %d+%d", r.First, r.Last, r.Start, r.N)
	}
	var vh [NumVecs]Hash
	var scratch []byte
	for k := 0; k < NumVecs; k++ {
		if o.Mask.Has(k) {
			if len(o.Vecs[k]) != VecLen(c, k) {
				return bad("vector %s has %d values, want %d", VecName(k), len(o.Vecs[k]), VecLen(c, k))
			}
			if !finite(o.Vecs[k]) {
				return bad("vector %s is not finite", VecName(k))
			}
			vh[k] = sha256.Sum256(f32Bytes(o.Vecs[k], &scratch))
		} else {
			vh[k] = o.Hashes[k]
		}
	}
	leaf := CellHash(o.Layer, o.Pos, &vh)
	idx := CellIndex(r.First, r.Start, r.N, o.Layer, o.Pos)
	if !merkle.Verify(r.TraceRoot, leaf, idx, r.Cells(), o.Path) {
		return bad("does not lead to the receipt's trace root")
	}
	return nil
}

// RowOpening shows one position of a receipt's input or output hidden
// state: the row and its Merkle path to HIn or HOut.
type RowOpening struct {
	Output bool // false: the input
	Pos    int
	Row    []float32
	Path   []Hash
}

// OpenRow builds the opening of position pos of a call's hidden state
// (n positions from start).
func OpenRow(hidden []float32, start, n, dim, pos int, output bool) *RowOpening {
	i := pos - start
	t := HiddenTree(hidden, n, dim)
	return &RowOpening{Output: output, Pos: pos, Row: append([]float32(nil), hidden[i*dim:(i+1)*dim]...), Path: t.Proof(i)}
}

// VerifyRow checks a row opening against receipt r.
func VerifyRow(r *Receipt, dim int, ro *RowOpening) error {
	if ro.Pos < r.Start || ro.Pos >= r.Start+r.N {
		return fmt.Errorf("proof: row %d is outside the receipt's positions %d+%d", ro.Pos, r.Start, r.N)
	}
	if len(ro.Row) != dim || !finite(ro.Row) {
		return fmt.Errorf("proof: row %d has %d values (want %d) or is not finite", ro.Pos, len(ro.Row), dim)
	}
	root := r.HIn
	if ro.Output {
		root = r.HOut
	}
	if !merkle.Verify(root, RowHash(ro.Row), ro.Pos-r.Start, r.N, ro.Path) {
		return fmt.Errorf("proof: row %d does not lead to the receipt's H(%s)", ro.Pos, map[bool]string{false: "in", true: "out"}[ro.Output])
	}
	return nil
}

func (ro *RowOpening) encode(e *enc) {
	e.bool(ro.Output)
	e.u32(uint32(ro.Pos))
	e.f32s(ro.Row)
	e.hashes(ro.Path)
}

func (ro *RowOpening) decode(d *dec) {
	ro.Output = d.bool()
	ro.Pos = int(d.u32())
	ro.Row = d.f32s(MaxVector)
	ro.Path = d.hashes(MaxPath)
}
