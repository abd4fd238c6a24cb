package proof_test

import (
	"math/rand/v2"
	"testing"

	"github.com/tessera-net/tessera/proof"
)

// BenchmarkObserve: the auditor's bookkeeping for 64 decode receipts of
// kjv-tiny layers 0:3 at a budget that audits none of them: what every
// receipt costs the client besides its audits.
func BenchmarkObserve(b *testing.B) {
	fx := kjv(b, "kjv-tiny-q8_0.gguf")
	in := make([]float32, fx.cfg.Dim)
	for b.Loop() {
		a, _ := proof.NewAuditor(fx.vk, 0, 3, proof.AuditConfig{Budget: 1e-9}, rand.New(rand.NewPCG(1, 2)))
		for s := 0; s < 64; s++ {
			r := &proof.Receipt{Step: uint64(s), Start: s, N: 1, First: 0, Last: 3}
			a.Observe(r, in, in)
		}
	}
}
