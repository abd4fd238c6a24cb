package proof

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/tessera-net/tessera/merkle"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/sha256x"
)

// Hash is a SHA-256 hash or a Merkle root (package merkle, RFC 6962).
type Hash = [merkle.Size]byte

// Vector indices of a cell, in the order of model.Cell and of the cell
// hash.
const (
	VecH = iota
	VecX1
	VecQ
	VecK
	VecV
	VecAtt
	VecO
	VecX2
	VecGate
	VecUp
	VecDown
	NumVecs
)

// Mask selects vectors of a cell: bit i is vector i.
type Mask uint16

// Common masks.
const (
	MaskAll Mask = 1<<NumVecs - 1
	MaskKV  Mask = 1<<VecK | 1<<VecV
	MaskH   Mask = 1 << VecH
	// MaskOut holds what the residual into the next layer needs.
	MaskOut Mask = 1<<VecH | 1<<VecO | 1<<VecDown
)

// Has reports whether m selects vector i.
func (m Mask) Has(i int) bool { return m&(1<<i) != 0 }

var vecNames = [NumVecs]string{"h", "x1", "q", "k", "v", "att", "o", "x2", "gate", "up", "down"}

// VecName names vector i of a cell ("h", "x1", "q", …).
func VecName(i int) string {
	if i < 0 || i >= NumVecs {
		return fmt.Sprintf("vec%d", i)
	}
	return vecNames[i]
}

// VecLen is the length of vector i of a cell of a model with config c.
func VecLen(c model.Config, i int) int {
	qDim := c.Heads * c.HeadDim
	switch i {
	case VecH, VecX1, VecO, VecX2, VecDown:
		return c.Dim
	case VecQ, VecAtt:
		return qDim
	case VecK, VecV:
		return c.KVDim()
	case VecGate, VecUp:
		return c.FF
	}
	return 0
}

// CellVectors returns the vectors of c in cell order.
func CellVectors(c model.Cell) [NumVecs][]float32 {
	return [NumVecs][]float32{c.H, c.X1, c.Q, c.K, c.V, c.Att, c.O, c.X2, c.Gate, c.Up, c.Down}
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// f32Bytes returns the little-endian float32 bytes of v, viewing v's
// memory when the machine is little-endian.
func f32Bytes(v []float32, scratch *[]byte) []byte {
	if len(v) == 0 {
		return nil
	}
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
	}
	*scratch = appendF32((*scratch)[:0], v)
	return *scratch
}

// VectorHash is SHA-256 of v serialised as little-endian float32.
func VectorHash(v []float32) Hash {
	var scratch []byte
	return sha256.Sum256(f32Bytes(v, &scratch))
}

const cellDomain = "tessera/cell/v1"

// CellHash is the leaf datum of a cell in a trace tree:
// SHA-256("tessera/cell/v1" || u32 layer || u32 pos || the 11 vector
// hashes in cell order), integers little-endian.
func CellHash(layer, pos int, vh *[NumVecs]Hash) Hash {
	var b [len(cellDomain) + 8 + NumVecs*32]byte
	copy(b[:], cellDomain)
	binary.LittleEndian.PutUint32(b[len(cellDomain):], uint32(layer))
	binary.LittleEndian.PutUint32(b[len(cellDomain)+4:], uint32(pos))
	off := len(cellDomain) + 8
	for i := range vh {
		copy(b[off+32*i:], vh[i][:])
	}
	return sha256.Sum256(b[:])
}

// CellIndex is the leaf index of (layer, pos) in the trace tree of a
// forward call over layers [first, …) and n positions from start: cells
// are ordered layer-major, position-minor.
func CellIndex(first, start, n, layer, pos int) int {
	return (layer-first)*n + (pos - start)
}

// RowHash is the leaf datum of one position of a hidden state: SHA-256 of
// its dim values as little-endian float32.
func RowHash(row []float32) Hash { return VectorHash(row) }

// HiddenRoot is H(hidden) of a receipt: the Merkle root over the row
// hashes of n positions × dim values (position-major). A single row can
// then be shown to belong to a receipt's input or output with a path of
// log2(n) hashes.
func HiddenRoot(hidden []float32, n, dim int) Hash {
	return HiddenTree(hidden, n, dim).Root()
}

// HiddenTree is the Merkle tree behind HiddenRoot.
func HiddenTree(hidden []float32, n, dim int) *merkle.Tree {
	leaves := make([]Hash, n)
	var scratch []byte
	for p := range leaves {
		leaves[p] = sha256.Sum256(f32Bytes(hidden[p*dim:(p+1)*dim], &scratch))
	}
	return merkle.NewTree(leaves)
}

// TraceCommitment is what a node keeps of one forward call's trace to
// answer openings after the vectors are gone: every cell's vector hashes
// and the tree over the cell hashes.
type TraceCommitment struct {
	First, Layers int // layers [First, First+Layers)
	Start, N      int // positions [Start, Start+N)
	Hashes        [][NumVecs]Hash
	Tree          *merkle.Tree
}

// Root is the trace root signed in the receipt.
func (t *TraceCommitment) Root() Hash { return t.Tree.Root() }

// Index is the leaf index of (layer, pos), or -1 outside the trace.
func (t *TraceCommitment) Index(layer, pos int) int {
	if layer < t.First || layer >= t.First+t.Layers || pos < t.Start || pos >= t.Start+t.N {
		return -1
	}
	return CellIndex(t.First, t.Start, t.N, layer, pos)
}

// Parallel runs f over contiguous ranges that together cover [0, n)
// exactly once, each holding at least grain indices (but perhaps the
// last), possibly concurrently, and returns when all are done:
// kernels.Pool.Parallel's contract.
type Parallel func(n, grain int, f func(lo, hi int))

// CommitTrace hashes every cell of tr and builds its tree, spreading the
// hashing over up to GOMAXPROCS goroutines (CommitTraceOn with nil).
func CommitTrace(tr *model.Trace) (*TraceCommitment, error) {
	return CommitTraceOn(tr, nil)
}

// commitGrain is the least trace bytes one thread hashes in a call: below
// it, handing work to another thread costs more than it saves.
const commitGrain = 16 << 10

// CommitTraceOn is CommitTrace with the hashing run by par, or on
// goroutines when par is nil; the result does not depend on how the work
// is split. A node commits to several hundred kilobytes per decode step
// of a large layer: running that on its kernel pool uses the threads the
// node computes with, already awake, instead of waking others that then
// compete with the pool's for the same cores.
func CommitTraceOn(tr *model.Trace, par Parallel) (*TraceCommitment, error) {
	tc := &TraceCommitment{First: tr.FirstLayer, Layers: tr.Layers, Start: tr.Start, N: tr.N}
	cells := tr.Layers * tr.N
	tc.Hashes = make([][NumVecs]Hash, cells)
	vecs := make([][NumVecs][]float32, cells)
	total := 0
	for li := 0; li < tr.Layers; li++ {
		for pi := 0; pi < tr.N; pi++ {
			c, err := tr.Cell(tr.FirstLayer+li, tr.Start+pi)
			if err != nil {
				return nil, err
			}
			vecs[li*tr.N+pi] = CellVectors(c)
			for _, v := range vecs[li*tr.N+pi] {
				total += 4 * len(v)
			}
		}
	}
	jobs := cells * NumVecs
	hashRange := func(lo, hi int) {
		if !littleEndian {
			// f32Bytes reuses one scratch buffer per call here.
			var scratch []byte
			for j := lo; j < hi; j++ {
				tc.Hashes[j/NumVecs][j%NumVecs] = sha256.Sum256(f32Bytes(vecs[j/NumVecs][j%NumVecs], &scratch))
			}
			return
		}
		// The vectors are independent messages: hashed side by side in
		// vector lanes, a batch costs a fraction of one at a time.
		var msgs [4 * sha256x.Lanes][]byte
		var sums [4 * sha256x.Lanes]Hash
		for ; lo < hi; lo += len(msgs) {
			n := min(hi-lo, len(msgs))
			for k := range n {
				msgs[k] = f32Bytes(vecs[(lo+k)/NumVecs][(lo+k)%NumVecs], nil)
			}
			sha256x.SumMany(sums[:n], msgs[:n])
			for k := range n {
				tc.Hashes[(lo+k)/NumVecs][(lo+k)%NumVecs] = sums[k]
			}
		}
	}
	// A range fills the hashing lanes at least once.
	grain := max(sha256x.Lanes, jobs*commitGrain/max(total, 1))
	if par == nil {
		par = goroutines
	}
	par(jobs, grain, hashRange)
	leaves := make([]Hash, cells)
	for li := 0; li < tr.Layers; li++ {
		for pi := 0; pi < tr.N; pi++ {
			i := li*tr.N + pi
			leaves[i] = CellHash(tr.FirstLayer+li, tr.Start+pi, &tc.Hashes[i])
		}
	}
	tc.Tree = merkle.NewTree(leaves)
	return tc, nil
}

// finite reports whether every value of v is finite.
func finite(v []float32) bool {
	for _, x := range v {
		if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
			return false
		}
	}
	return true
}

// Serial is a Parallel that runs f over the whole range on the calling
// goroutine: a node committing a decode step's trace while the client
// works on the next call leaves the other cores to the parties on the
// critical path.
func Serial(n, _ int, f func(lo, hi int)) { f(0, n) }

// goroutines is a Parallel on up to GOMAXPROCS goroutines.
func goroutines(n, grain int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n/max(grain, 1))
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(n*w/workers, n*(w+1)/workers)
		}()
	}
	f(0, n/workers)
	wg.Wait()
}
