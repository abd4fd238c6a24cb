package model

import (
	"math"
	"testing"
)

// rope must rotate pair (2i, 2i+1) — or (i, i+d/2) in neox mode — of every
// head by pos·scale·base^(-2i/d)/factor_i, leaving dimensions past RopeDim
// alone.
func TestRopeAgainstFormula(t *testing.T) {
	for _, c := range []struct {
		name    string
		neox    bool
		scale   float64
		freqs   []float32
		ropeDim int
	}{
		{"normal", false, 1, nil, 8},
		{"neox", true, 1, nil, 8},
		{"linear scaling", false, 0.25, nil, 8},
		{"llama3 factors", false, 1, []float32{1, 2, 4, 8}, 8},
		{"partial rotary", true, 1, nil, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{HeadDim: 8, RopeDim: c.ropeDim, RopeBase: 10000, RopeScale: c.scale, RopeNeox: c.neox}
			m := &Model{Config: cfg, ropeFreqs: c.freqs}
			if c.freqs != nil {
				m.ropeFreqs = c.freqs[:c.ropeDim/2]
			}
			const start, n, heads = 5, 3, 2
			var sc scratch
			sc.grow(&sc.cos, n*c.ropeDim/2)
			sc.grow(&sc.sin, n*c.ropeDim/2)
			m.ropeTables(&sc, start, n)
			for p := 0; p < n; p++ {
				v := make([]float32, heads*cfg.HeadDim)
				for i := range v {
					v[i] = float32(i%7) - 2.5
				}
				orig := append([]float32(nil), v...)
				m.rope(&sc, p, v, heads)
				pos := float64(start + p)
				half := c.ropeDim / 2
				for h := 0; h < heads; h++ {
					for i := 0; i < half; i++ {
						a, b := h*8+2*i, h*8+2*i+1
						if c.neox {
							a, b = h*8+i, h*8+i+half
						}
						theta := pos * c.scale * math.Pow(10000, -2*float64(i)/float64(c.ropeDim))
						if c.freqs != nil {
							theta /= float64(c.freqs[i])
						}
						x0, x1 := float64(orig[a]), float64(orig[b])
						want0 := x0*math.Cos(theta) - x1*math.Sin(theta)
						want1 := x0*math.Sin(theta) + x1*math.Cos(theta)
						if math.Abs(float64(v[a])-want0) > 1e-4 || math.Abs(float64(v[b])-want1) > 1e-4 {
							t.Fatalf("pos %d head %d pair %d: got (%v, %v), want (%v, %v)", start+p, h, i, v[a], v[b], want0, want1)
						}
					}
					for d := c.ropeDim; d < 8 && !c.neox; d++ {
						if v[h*8+d] != orig[h*8+d] {
							t.Fatalf("dimension %d past RopeDim changed", d)
						}
					}
				}
			}
		})
	}
}
