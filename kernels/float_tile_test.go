package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tessera-net/tessera/quant"
)

// TestFloatLevelsMatMul runs the float types' prefill (MatMul, so their
// tiles where a level has them) on every level this CPU supports, for
// each position count from 1 to 17 (every remainder after the groups of
// four, six, eight or sixteen positions that tiles take) and a few
// larger, row counts around the tiles' row groups, and column counts
// with and without a scalar tail after the runs of eight, on one, two and
// three threads (minThreadBytes 1, so a thread may get a single row and
// row groups split anywhere). Every value must equal the generic
// dot's bit for bit. (The other product tests give the float types so
// few columns — fewer than eight — that the tiles fall back to the rows
// kernels, or cover only some position counts.)
func TestFloatLevelsMatMul(t *testing.T) {
	pools := splitPools(t, 1, 2, 3)
	defer useLevel("")
	const maxN = 49
	cases := []struct{ rows, cols int }{
		{1, 8}, {2, 15}, {3, 64}, {4, 24}, {5, 203}, {7, 8}, {34, 72},
		{1, 1037}, {2, 520}, {17, 520}, {9, 1037},
	}
	var posCounts []int
	for n := 1; n <= 17; n++ {
		posCounts = append(posCounts, n)
	}
	posCounts = append(posCounts, 24, 25, 31, 49)
	for _, l := range testLevels(t) {
		for _, typ := range []quant.Type{quant.F32, quant.F16, quant.BF16} {
			rng := rand.New(rand.NewPCG(uint64(typ), 17))
			for _, c := range cases {
				data := levelMatrix(rng, typ, c.rows, c.cols)
				x := levelActs(rng, maxN, c.cols)
				want := genericProduct(typ, data, c.rows, c.cols, x, maxN)
				m, err := NewMatrix(typ, c.rows, c.cols, data)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("%s/%v/%dx%d", l.name, typ, c.rows, c.cols)
				useLevel(l.name)
				for pi, p := range pools {
					for _, n := range posCounts {
						y := make([]float32, n*c.rows)
						p.MatMul(y, m, x[:n*c.cols], n)
						for j := 0; j < n; j++ {
							for r := 0; r < c.rows; r++ {
								// want is laid out for maxN positions of c.rows rows,
								// as y is for n: the same index.
								i := j*c.rows + r
								if !sameBits(y[i], want[i]) {
									t.Fatalf("%s: pool %d, n=%d: pos %d row %d = %g, generic %g", name, pi, n, j, r, y[i], want[i])
								}
							}
						}
					}
				}
				useLevel("")
			}
		}
	}
}
