package model

import (
	"testing"
	"unsafe"

	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/quant"
)

// TestWeightMemoryHoldsDecodeWeights checks that WeightMemory, which the
// bench's roofline probe reads, is the memory every matrix of a decode
// step lives in, and no more than their bytes plus alignment.
func TestWeightMemoryHoldsDecodeWeights(t *testing.T) {
	f := synthModelFile(t, quant.Q8_0)
	for _, tc := range []struct {
		name   string
		layers Range
		client bool
	}{
		{"whole model", Range{First: 0, Last: 2}, true},
		{"one layer, no head", Range{First: 1, Last: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := kernels.NewPool(1)
			defer pool.Close()
			m, err := Load(f, Options{Layers: tc.layers, Client: tc.client, Pool: pool})
			if err != nil {
				t.Fatal(err)
			}
			mem := m.WeightMemory()
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
			hi := lo + uintptr(len(mem))
			var ms []kernels.Matrix
			for _, l := range m.layers {
				ms = append(ms, l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown)
			}
			if tc.client {
				ms = append(ms, m.head)
			}
			for i, w := range ms {
				p := uintptr(unsafe.Pointer(unsafe.SliceData(w.Data)))
				if p < lo || p+uintptr(len(w.Data)) > hi {
					t.Errorf("matrix %d (%d bytes) lies outside the weight memory", i, len(w.Data))
				}
			}
			n := m.WeightBytes()
			if got := int64(len(mem)); got < n || got >= n+64*int64(len(ms)) {
				t.Errorf("weight memory of %d bytes for %d weight bytes in %d matrices", got, n, len(ms))
			}
		})
	}
}
