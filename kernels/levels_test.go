package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tessera-net/tessera/quant"
)

// testLevels returns the supported levels other than generic (the
// reference), logging the ones this CPU cannot run.
func testLevels(t *testing.T) []*level {
	var ls []*level
	for i := range levels {
		l := &levels[i]
		switch {
		case l.name == "generic":
		case !l.supported:
			t.Logf("level %s: not supported by this CPU, not tested", l.name)
		default:
			ls = append(ls, l)
		}
	}
	return ls
}

// levelMatrix returns random rows (randBlocks) with the first row all
// 0xff bytes and the second all zero (scales set to 1), at an odd
// address.
func levelMatrix(rng *rand.Rand, typ quant.Type, rows, cols int) []byte {
	data := randBlocks(rng, typ, rows, cols)
	rb, _ := typ.RowBytes(cols)
	if typ != quant.F32 && typ != quant.F16 && typ != quant.BF16 && rows >= 2 {
		for i := 0; i < rb; i++ {
			data[i] = 0xff
			data[rb+i] = 0
		}
		bb := typ.BlockBytes()
		for o := 0; o < 2*rb; o += bb {
			at := o
			if typ == quant.Q6_K {
				at += 208
			}
			binary.LittleEndian.PutUint16(data[at:], 0x3c00)
		}
	}
	return unaligned(data)
}

// levelActs returns n positions of activations, each in one of the modes
// of extremeValues (all 1, all -1, random ±1, normal) or randValues
// (varying block scales, zero blocks).
func levelActs(rng *rand.Rand, n, cols int) []float32 {
	x := make([]float32, 0, n*cols)
	for j := 0; j < n; j++ {
		if m := rng.IntN(6); m < 4 {
			x = append(x, extremeValues(rng, cols, m)...)
		} else {
			x = append(x, randValues(rng, cols)...)
		}
	}
	return x
}

// genericProduct returns y[j*rows+r] = generic dot of row r with position j.
func genericProduct(typ quant.Type, data []byte, rows, cols int, x []float32, n int) []float32 {
	g := genericKernels.get(typ)
	rb, _ := typ.RowBytes(cols)
	y := make([]float32, n*rows)
	var a actVec
	for j := 0; j < n; j++ {
		quantizeAct(&a, x[j*cols:(j+1)*cols], g.act, g.pack)
		for r := 0; r < rows; r++ {
			y[j*rows+r] = g.dot(data[r*rb:(r+1)*rb], &a)
		}
	}
	return y
}

func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// TestLevelsMatchGeneric checks every path of every level this CPU can
// run — the one-row dot, the multi-row kernel and the multi-position
// tile, called directly and through a Pool — against the generic kernels,
// bit for bit, for every type, on random bytes and extreme activations,
// with row and position counts that leave partial groups of every size.
func TestLevelsMatchGeneric(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	defer useLevel("")
	rowCounts := []int{1, 2, 3, 5, 8, 13, 35}
	posCounts := []int{1, 2, 4, 5, 16, 23, 37}
	if testing.Short() || raceEnabled {
		rowCounts = []int{1, 3, 13}
		posCounts = []int{1, 5, 23}
	}
	for _, l := range testLevels(t) {
		for _, typ := range allTypes {
			k := l.table.get(typ)
			rng := rand.New(rand.NewPCG(uint64(typ), 99))
			for _, cols := range testCols(typ) {
				maxRows := rowCounts[len(rowCounts)-1]
				maxN := posCounts[len(posCounts)-1]
				data := levelMatrix(rng, typ, maxRows, cols)
				x := levelActs(rng, maxN, cols)
				want := genericProduct(typ, data, maxRows, cols, x, maxN)
				rb, _ := typ.RowBytes(cols)
				name := fmt.Sprintf("%s/%v/%s/cols=%d", l.name, typ, k.name, cols)

				// Direct calls on the first rows of the matrix.
				acts := make([]actVec, maxN)
				for j := range acts {
					quantizeAct(&acts[j], x[j*cols:(j+1)*cols], k.act, k.pack)
				}
				for r := 0; r < maxRows; r++ {
					got := k.dot(data[r*rb:(r+1)*rb], &acts[0])
					if !sameBits(got, want[r]) {
						t.Fatalf("%s: dot row %d = %g, generic %g", name, r, got, want[r])
					}
				}
				for _, rows := range rowCounts {
					if k.rows != nil {
						y := make([]float32, rows)
						for j := range acts {
							k.rows(y, data[:rows*rb], rb, &acts[j])
							for r := range y {
								if !sameBits(y[r], want[j*maxRows+r]) {
									t.Fatalf("%s: rows(%d) pos %d row %d = %g, generic %g", name, rows, j, r, y[r], want[j*maxRows+r])
								}
							}
						}
					}
					if k.tile != nil {
						for _, n := range posCounts {
							prepTile(acts[:n])
							if k.prep != nil {
								k.prep(acts[:n])
							}
							y := make([]float32, n*maxRows)
							k.tile(y, maxRows, data[:rows*rb], rb, rows, acts[:n])
							for j := 0; j < n; j++ {
								for r := 0; r < rows; r++ {
									if !sameBits(y[j*maxRows+r], want[j*maxRows+r]) {
										t.Fatalf("%s: tile(%d rows, %d positions) pos %d row %d = %g, generic %g",
											name, rows, n, j, r, y[j*maxRows+r], want[j*maxRows+r])
									}
								}
							}
						}
					}
				}

				// Through the pool (chunking, MatVec and MatMul).
				if !useLevel(l.name) {
					t.Fatalf("level %s not selectable", l.name)
				}
				m, err := NewMatrix(typ, maxRows, cols, data)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range posCounts {
					y := make([]float32, n*maxRows)
					if n == 1 {
						p.MatVec(y, m, x[:cols])
					} else {
						p.MatMul(y, m, x[:n*cols], n)
					}
					for i := range y {
						if !sameBits(y[i], want[i]) {
							t.Fatalf("%s: pool n=%d: y[%d] = %g, generic %g", name, n, i, y[i], want[i])
						}
					}
				}
				useLevel("")
			}
		}
	}
}

// TestUseLevel checks the test hook and the start-up choice.
func TestUseLevel(t *testing.T) {
	defer useLevel("")
	if !useLevel("generic") || active.get(quant.Q8_0).name != "generic" {
		t.Error("useLevel(generic) did not select the generic kernels")
	}
	if useLevel("no-such-level") {
		t.Error("useLevel accepted an unknown level")
	}
	if findLevel(Level()) == nil {
		t.Errorf("Level() = %q, not a supported level", Level())
	}
	var names []string
	for _, l := range levels {
		names = append(names, fmt.Sprintf("%s(supported=%v)", l.name, l.supported))
	}
	t.Logf("levels: %v; selected %s", names, Level())
}
