package kernels

import (
	"math/bits"
	"os"

	"github.com/tessera-net/tessera/quant"
)

// rowDot computes the dot product of one weight row (exactly the row's
// bytes) with a prepared activation vector.
type rowDot func(w []byte, a *actVec) float32

// rowsDot computes y[i] = row i · a for the len(y) consecutive rows of w
// (row i at w[i*rowBytes:]). It exists so that assembly kernels can work
// on several rows per call: the activation block is loaded once for all
// of them and the call overhead is paid once per chunk, not per row.
type rowsDot func(y []float32, w []byte, rowBytes int, a *actVec)

// rowsILDot is rowsDot for rows stored interleaved in groups of four
// (layout.go). With acc, y holds partial sums and each row's sum
// continues from them (over the columns of a later panel) in the
// generic kernel's order, instead of starting from 0.
type rowsILDot func(y []float32, w []byte, rowBytes int, a *actVec, acc bool)

// tileDot computes nrows rows for every position of acts:
// y[p*ystride+i] = row i · acts[p]. Assembly tiles reuse each loaded
// weight block across several positions (prefill).
type tileDot func(y []float32, ystride int, w []byte, rowBytes, nrows int, acts []actVec)

// kernel is how one weight type is computed: the activation format it
// pairs with (ggml's vec_dot_type), the packing its dot reads, and the dot.
// rows and tile are optional faster forms of the same arithmetic: every
// value they produce must be bit-identical to dot's (each output is one
// row and one position, combined in the same order), which the tests
// check for every level.
type kernel struct {
	act  actFormat
	pack packFormat
	dot  rowDot
	rows rowsDot // nil: dot row by row
	// rowsIL, if set, is rows for rows stored interleaved in groups of
	// four with units of ilUnit bytes (layout.go); Weights.Add stores
	// matrices so for it, in column panels if they are wide. tileIL, if
	// set, is tile for them (plain is room for nrows rows, should it need
	// them de-interleaved). Other kernels get such rows de-interleaved.
	rowsIL rowsILDot
	tileIL func(y []float32, ystride int, w []byte, rowBytes, nrows int, acts []actVec, plain []byte)
	ilUnit int
	// ilMaxCols is the widest matrix (in columns) Weights.Add interleaves
	// for rowsIL: beyond it the type's rows stream as well or better one
	// after the other (layout.go).
	ilMaxCols int
	// panelCols, if set, is the widest column panel Weights.Add stores a
	// matrix wider than ilMaxCols in (layout.go). tilePanels, if set, is
	// the prefill tile for rows [r0, r1) of such a matrix (data, rows rows
	// in np panels of rows of prb bytes): positions in whole groups of
	// sixteen; it returns how many positions it computed.
	panelCols  int
	tilePanels func(y []float32, ystride int, data []byte, rows, prb, np, r0, r1 int, acts []actVec) int
	tile       tileDot // nil: rows (or dot) position by position
	// prep, if set, is called with all positions of a multi-position
	// product, after prepTile, to lay out what tile reads.
	prep func(acts []actVec)
	name string // implementation, for tests and benchmarks
}

// rowsEachPosition reports whether k computes a product with a matrix
// stored in layout il (not in panels) by its rows kernel, one position
// after another over each chunk in cache: the layout is k's and k has no
// tile for it (ilQ4KLanes).
func (k *kernel) rowsEachPosition(il int) bool {
	return il != 0 && il == k.ilUnit && k.rowsIL != nil && k.tileIL == nil
}

// kernelTable holds a kernel for each supported type, indexed by type id.
type kernelTable [32]kernel

func (t *kernelTable) get(typ quant.Type) *kernel {
	if int(typ) >= len(t) || t[typ].dot == nil {
		return nil
	}
	return &t[typ]
}

// genericKernels are portable, straightforward loops; they are the
// reference every other implementation is tested against.
var genericKernels = kernelTable{
	quant.F32:  {act: actF32, dot: dotF32Bytes, name: "generic"},
	quant.F16:  {act: actF16, dot: dotF16, name: "generic"},
	quant.BF16: {act: actBF16, dot: dotBF16, name: "generic"},
	quant.Q4_0: {act: actQ8_0, dot: dotQ4_0Generic, name: "generic"},
	quant.Q4_1: {act: actQ8_1, dot: dotQ4_1Generic, name: "generic"},
	quant.Q5_0: {act: actQ8_0, dot: dotQ5_0Generic, name: "generic"},
	quant.Q5_1: {act: actQ8_1, dot: dotQ5_1Generic, name: "generic"},
	quant.Q8_0: {act: actQ8_0, dot: dotQ8_0Generic, name: "generic"},
	quant.Q4_K: {act: actQ8_K, dot: dotQ4_KGeneric, name: "generic"},
	quant.Q5_K: {act: actQ8_K, dot: dotQ5_KGeneric, name: "generic"},
	quant.Q6_K: {act: actQ8_K, dot: dotQ6_KGeneric, name: "generic"},
}

// swarKernels are the plain-Go 64-bit SWAR implementations (dot_swar.go).
var swarKernels = kernelTable{
	quant.F32:  {act: actF32, dot: dotF32View, name: "go64"},
	quant.F16:  {act: actF16, dot: dotF16, name: "go64"},
	quant.BF16: {act: actBF16, dot: dotBF16, name: "go64"},
	quant.Q4_0: {act: actQ8_0, pack: pack16, dot: dotQ4_0SWAR, name: "swar"},
	quant.Q4_1: {act: actQ8_1, pack: pack16, dot: dotQ4_1SWAR, name: "swar"},
	quant.Q5_0: {act: actQ8_0, pack: pack16, dot: dotQ5_0SWAR, name: "swar"},
	quant.Q5_1: {act: actQ8_1, pack: pack16, dot: dotQ5_1SWAR, name: "swar"},
	quant.Q8_0: {act: actQ8_0, pack: pack32, dot: dotQ8_0SWAR, name: "swar"},
	quant.Q4_K: {act: actQ8_K, pack: pack16, dot: dotQ4_KSWAR, name: "swar"},
	quant.Q5_K: {act: actQ8_K, pack: pack16, dot: dotQ5_KSWAR, name: "swar"},
	quant.Q6_K: {act: actQ8_K, pack: pack16, dot: dotQ6_KSWAR, name: "swar"},
}

// A level is one selectable set of kernels: the portable ones, or an
// instruction-set level such as amd64 AVX2 or arm64 NEON. Levels later in
// the list are preferred; a level's table starts from the previous
// supported level's, so types a level has no kernel for keep the best
// portable (or lower-level) one.
type level struct {
	name      string
	supported bool                 // the CPU (and OS) can run it
	apply     func(t *kernelTable) // replaces the entries it implements
	table     kernelTable
}

// levels are built once at start-up; see buildLevels.
var levels = buildLevels()

func buildLevels() []level {
	ls := []level{
		{name: "generic", supported: true, apply: func(t *kernelTable) { *t = genericKernels }},
		// SWAR needs fast 64-bit multiplies.
		{name: "swar", supported: bits.UintSize == 64, apply: func(t *kernelTable) { *t = swarKernels }},
	}
	ls = append(ls, archLevels()...)
	var prev kernelTable
	for i := range ls {
		l := &ls[i]
		l.table = prev
		if l.supported {
			l.apply(&l.table)
			prev = l.table
		}
	}
	return ls
}

// findLevel returns the supported level of that name, or nil.
func findLevel(name string) *level {
	for i := range levels {
		if levels[i].name == name && levels[i].supported {
			return &levels[i]
		}
	}
	return nil
}

// bestKernels is chosen once at start-up: the last supported level (the
// portable kernels for this word size, then the assembly levels whose CPU
// features are present). TESSERA_KERNELS=<level> in the environment
// forces a level instead, if this CPU supports it: "generic" for the
// simple loops (for debugging), "swar", or an assembly level such as
// "avx2", "avxvnni", "avx512" or "neon".
var bestKernels, bestLevel = selectKernels()

// active is the table Pool calls use; tests switch it with useLevel.
var active = &bestKernels

func selectKernels() (kernelTable, string) {
	if l := findLevel(os.Getenv("TESSERA_KERNELS")); l != nil {
		return l.table, l.name
	}
	for i := len(levels) - 1; i >= 0; i-- {
		if levels[i].supported {
			return levels[i].table, levels[i].name
		}
	}
	return genericKernels, "generic"
}

// Level returns the name of the kernel set in use, chosen at start-up
// from the CPU's features (or TESSERA_KERNELS): "generic", "swar",
// "avx2", "avxvnni", "avx512", "neon" or "dotprod". It is for logs and
// benchmark reports.
func Level() string { return bestLevel }

// useLevel switches Pool calls to the kernels of the named level and
// reports whether this CPU supports it; "" restores the selected kernels.
// It is for tests; it must not be called while a Pool call is running.
func useLevel(name string) bool {
	if name == "" {
		active = &bestKernels
		return true
	}
	l := findLevel(name)
	if l == nil {
		return false
	}
	active = &l.table
	return true
}

// useGeneric switches Pool calls to the generic kernels (true) or back to
// the selected ones (false). It is for tests; it must not be called while
// a Pool call is running.
func useGeneric(on bool) {
	if on {
		useLevel("generic")
	} else {
		useLevel("")
	}
}
