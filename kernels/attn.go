package kernels

import (
	"fmt"
	"os"
)

// Attention's float products, exact to the float32 operations of the
// plain loops: each product is rounded to float32 before it is added, and
// every output adds its terms in the loops' order. Vector code keeps that
// order by giving each output its own lane (the loops' outer index runs
// across lanes), so results are the same bits on every CPU, which the
// model's re-execution checks rely on. Go would otherwise be free to fuse
// a multiply and an add (it does on arm64), hence the float32 conversions
// in the reference loops.

// ScoresT sets dst[j] = Σ_d q[d]·kt[d*ld+j] for every j < len(dst): the
// dot products of q with len(dst) keys stored transposed (value d of key
// j at kt[d*ld+j]), summed in order of d from zero. It panics if kt is too
// short.
func ScoresT(dst, q, kt []float32, ld int) {
	if len(dst) == 0 {
		return
	}
	if len(q) > 0 && (ld < len(dst) || len(kt) < (len(q)-1)*ld+len(dst)) {
		panic(fmt.Sprintf("kernels: ScoresT of %d keys of %d values with stride %d: kt has %d values", len(dst), len(q), ld, len(kt)))
	}
	n := 0
	if len(q) > 0 {
		n = scoresTFast(dst, q, kt, ld)
	}
	scoresTGeneric(dst[n:], q, kt[min(n, len(kt)):], ld)
}

// AddWeightedRows adds w[j]·v[j*ld+i] to dst[i] for j = 0, 1, ...,
// len(w)-1 in turn (each product rounded, then added): dst += Σ_j w[j]·row
// j of v. It panics if v is too short.
func AddWeightedRows(dst, w, v []float32, ld int) {
	if len(dst) == 0 || len(w) == 0 {
		return
	}
	if ld < len(dst) || len(v) < (len(w)-1)*ld+len(dst) {
		panic(fmt.Sprintf("kernels: AddWeightedRows of %d rows of %d values with stride %d: v has %d values", len(w), len(dst), ld, len(v)))
	}
	n := addRowsFast(dst, w, v, ld)
	addRowsGeneric(dst[n:], w, v[n:], ld)
}

func scoresTGeneric(dst, q, kt []float32, ld int) {
	for j := range dst {
		var s float32
		for d, qv := range q {
			s += float32(qv * kt[d*ld+j])
		}
		dst[j] = s
	}
}

func addRowsGeneric(dst, w, v []float32, ld int) {
	for j, wj := range w {
		row := v[j*ld : j*ld+len(dst)]
		for i, x := range row {
			dst[i] += float32(wj * x)
		}
	}
}

// scoresTFast and addRowsFast compute a leading part of the outputs with
// vector code where there is some (see attn_*.go) and return how many.
var (
	scoresTFast = func(dst, q, kt []float32, ld int) int { return 0 }
	addRowsFast = func(dst, w, v []float32, ld int) int { return 0 }
)

// attnVector reports whether the vector attention code may be used:
// TESSERA_KERNELS=generic asks for the plain loops everywhere.
func attnVector() bool { return os.Getenv("TESSERA_KERNELS") != "generic" }
