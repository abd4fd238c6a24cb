package model_test

import (
	"math"
	"testing"

	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/quant"
)

// Tracing must not change the computed bits, and every recorded cell must
// satisfy the relations a verifier checks: the residual chain exactly, and
// the matrix products exactly when recomputed with the same kernels.
func TestTraceRecordsConsistentCells(t *testing.T) {
	f := synthFile(t, smallConfig("qwen2", quant.Q8_0))
	m := mustLoad(t, f, model.Range{First: 1, Last: 3}, false)
	client := mustLoad(t, f, model.Range{}, true)
	dim := m.Config.Dim
	prompt := []int{1, 5, 77, 260}

	run := func(tr *model.Trace) []float32 {
		s, _ := m.NewSession(8)
		h := make([]float32, len(prompt)*dim)
		if err := client.Embed(h, prompt); err != nil {
			t.Fatal(err)
		}
		if err := m.ForwardTrace(s, 0, h, len(prompt), tr); err != nil {
			t.Fatal(err)
		}
		return h
	}
	plain := run(nil)
	var tr model.Trace
	traced := run(&tr)
	if !equalBits(plain, traced) {
		t.Fatal("tracing changed the hidden states")
	}
	if tr.FirstLayer != 1 || tr.Layers != 2 || tr.Start != 0 || tr.N != len(prompt) {
		t.Fatalf("trace covers layers %d+%d positions %d+%d", tr.FirstLayer, tr.Layers, tr.Start, tr.N)
	}
	wDown := matrixOf(t, f, "blk.2.ffn_down.weight", dim, m.Config.FF)
	wQ := matrixOf(t, f, "blk.1.attn_q.weight", dim, dim)
	for pos := 0; pos < len(prompt); pos++ {
		c1, err := tr.Cell(1, pos)
		if err != nil {
			t.Fatal(err)
		}
		c2, _ := tr.Cell(2, pos)
		for i := range c1.H {
			if next := (c1.H[i] + c1.O[i]) + c1.Down[i]; math.Float32bits(next) != math.Float32bits(c2.H[i]) {
				t.Fatalf("pos %d: layer 2 input is not layer 1's H+O+Down", pos)
			}
		}
		out := traced[pos*dim : (pos+1)*dim]
		for i := range out {
			if math.Float32bits((c2.H[i]+c2.O[i])+c2.Down[i]) != math.Float32bits(out[i]) {
				t.Fatalf("pos %d: output is not the last cell's H+O+Down", pos)
			}
		}
		act := make([]float32, len(c2.Gate))
		model.SwiGLU(act, c2.Gate, c2.Up)
		down := make([]float32, dim)
		testPool.MatVec(down, wDown, act)
		if !equalBits(down, c2.Down) {
			t.Fatalf("pos %d: Down is not W_down·(silu(Gate)⊙Up)", pos)
		}
		q := make([]float32, dim)
		testPool.MatVec(q, wQ, c1.X1)
		var moved float64
		for i := range q {
			moved += math.Abs(float64(q[i] - c1.Q[i]))
		}
		if pos > 0 && moved == 0 {
			t.Fatalf("pos %d: recorded q equals W_q·X1 before RoPE: RoPE not applied", pos)
		}
	}
	if _, err := tr.Cell(3, 0); err == nil {
		t.Fatal("a cell outside the trace was returned")
	}
}

func matrixOf(t *testing.T, f interface {
	TensorData(string) ([]byte, error)
}, name string, rows, cols int) kernels.Matrix {
	t.Helper()
	data, err := f.TensorData(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := kernels.NewMatrix(quant.Q8_0, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// BenchmarkDecodeTrace compares a decode step with and without recording
// the trace (the proofs issue asks for < 5% overhead).
func BenchmarkDecodeTrace(b *testing.B) {
	m := loadWhole(b, "kjv-tiny-q8_0.gguf")
	for _, traced := range []bool{false, true} {
		name := "plain"
		if traced {
			name = "traced"
		}
		b.Run(name, func(b *testing.B) {
			var tr *model.Trace
			if traced {
				tr = new(model.Trace)
			}
			h := make([]float32, m.Config.Dim)
			s, _ := m.NewSession(256)
			pos := 0
			for i := 0; i < b.N; i++ {
				if pos == 256 {
					pos = 0
				}
				_ = m.Embed(h, []int{1 + i%100})
				if err := m.ForwardTrace(s, pos, h, 1, tr); err != nil {
					b.Fatal(err)
				}
				pos++
			}
		})
	}
}
