package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tessera-net/tessera/quant"
)

// TestFloatLevelsAllPatterns feeds every f16 and bf16 bit pattern
// (subnormals, infinities and NaNs included), and f32 rows of
// subnormals, of normal values and zeros of both signs, and of random
// bits and special values, through each level's rows kernel
// and tile, and requires the generic dot's bits: the SIMD conversions
// (F16C's VCVTPH2PS, arm64's FCVTL, the bf16 shifts) must agree with the
// generic table and shift on every input, not only on the normal values
// the other tests draw.
func TestFloatLevelsAllPatterns(t *testing.T) {
	const rows, cols, n = 64, 1027, 5 // a tail of 3 columns; 4 positions a tile group, 1 left over
	rng := rand.New(rand.NewPCG(11, 12))
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-40, -3e-39}
	for _, typ := range []quant.Type{quant.F32, quant.F16, quant.BF16} {
		rb, _ := typ.RowBytes(cols)
		data := make([]byte, rows*rb)
		switch typ {
		case quant.F32: // by row: tiny (subnormal) values, normal ones with zeros, any bits and specials
			for i := 0; i < len(data); i += 4 {
				v := float32(rng.NormFloat64() * 1e-38)
				switch r := i / rb; {
				case r%3 == 1 && rng.IntN(5) == 0:
					v = float32(math.Copysign(0, rng.NormFloat64()))
				case r%3 == 1:
					v = float32(rng.NormFloat64())
				case r%3 == 2 && rng.IntN(3) == 0:
					v = specials[rng.IntN(len(specials))]
				case r%3 == 2:
					v = math.Float32frombits(rng.Uint32())
				}
				binary.LittleEndian.PutUint32(data[i:], math.Float32bits(v))
			}
		default: // rows*cols >= 1<<16: every pattern, in order
			for i := 0; i < len(data); i += 2 {
				binary.LittleEndian.PutUint16(data[i:], uint16(i/2))
			}
		}
		data = unaligned(data)
		x := levelActs(rng, n, cols)
		want := genericProduct(typ, data, rows, cols, x, n)
		finite := 0
		for _, v := range want {
			if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
				finite++
			}
		}
		if finite < len(want)/4 {
			t.Fatalf("%v: only %d of %d generic results finite: the test data no longer tests much", typ, finite, len(want))
		}
		for _, l := range testLevels(t) {
			k := l.table.get(typ)
			name := fmt.Sprintf("%s/%v/%s", l.name, typ, k.name)
			acts := make([]actVec, n)
			for j := range acts {
				quantizeAct(&acts[j], x[j*cols:(j+1)*cols], k.act, k.pack)
			}
			if k.rows != nil {
				y := make([]float32, rows)
				for j := range acts {
					k.rows(y, data, rb, &acts[j])
					for r := range y {
						if !sameBits(y[r], want[j*rows+r]) {
							t.Fatalf("%s: rows pos %d row %d = %g, generic %g", name, j, r, y[r], want[j*rows+r])
						}
					}
				}
			}
			if k.tile != nil {
				prepTile(acts)
				if k.prep != nil {
					k.prep(acts)
				}
				y := make([]float32, n*rows)
				k.tile(y, rows, data, rb, rows, acts)
				for i := range y {
					if !sameBits(y[i], want[i]) {
						t.Fatalf("%s: tile pos %d row %d = %g, generic %g", name, i/rows, i%rows, y[i], want[i])
					}
				}
			}
		}
	}
}
