package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// FuzzGenericMatchesSelected feeds arbitrary bytes as one weight row of
// every quantized type (scale fields forced finite) and checks that every
// level this CPU supports returns exactly what the generic kernel does.
func FuzzGenericMatchesSelected(f *testing.F) {
	f.Add([]byte{0xff, 0x80, 0x7f, 0x00}, uint64(1), uint8(0))
	f.Add(make([]byte, 300), uint64(2), uint8(1))
	f.Fuzz(func(t *testing.T, seed []byte, xseed uint64, mode uint8) {
		for _, typ := range allTypes[3:] { // the quantized types
			cols := 256
			rb, _ := typ.RowBytes(cols)
			row := make([]byte, rb)
			for i := range row {
				if len(seed) > 0 {
					row[i] = seed[i%len(seed)] ^ byte(i/len(seed))
				}
			}
			bb := typ.BlockBytes()
			for o := 0; o < rb; o += bb {
				fix := func(at int) {
					h := binary.LittleEndian.Uint16(row[at:])
					if h&0x7c00 == 0x7c00 { // inf or NaN: make finite
						binary.LittleEndian.PutUint16(row[at:], h&^0x4000)
					}
				}
				switch typ.String() {
				case "q6_k":
					fix(o + 208)
				case "q4_1", "q5_1", "q4_k", "q5_k":
					fix(o)
					fix(o + 2)
				default:
					fix(o)
				}
			}
			x := extremeValues(rand.New(rand.NewPCG(xseed, 0)), cols, int(mode%4))
			g := genericKernels.get(typ)
			var ag actVec
			quantizeAct(&ag, x, g.act, g.pack)
			want := g.dot(row, &ag)
			for i := range levels {
				l := &levels[i]
				if !l.supported {
					continue
				}
				s := l.table.get(typ)
				var as actVec
				quantizeAct(&as, x, s.act, s.pack)
				got := s.dot(row, &as)
				if math.Float32bits(want) != math.Float32bits(got) && !(math.IsNaN(float64(want)) && math.IsNaN(float64(got))) {
					t.Fatalf("%v: level %s %g, generic %g", typ, l.name, got, want)
				}
			}
		}
	})
}
