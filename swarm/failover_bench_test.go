package swarm_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/synth"
)

// benchModel is a model whose layers a failover benchmark serves.
type benchModel struct {
	name   string
	cfg    model.Config
	commit [32]byte
	load   func(tb testing.TB, r model.Range) *model.Model
}

func kjvBench() benchModel {
	return benchModel{name: "kjv-tiny", cfg: testConfig, commit: testCommit,
		load: func(tb testing.TB, r model.Range) *model.Model { return layers(tb, r.First, r.Last) }}
}

// synthBench is an 8-layer model with the layer shape of a 1.1B-parameter
// Llama (dim 2048, FF 5632, 32 heads, 4 KV heads), Q8_0, random weights.
func synthBench(tb testing.TB) benchModel {
	c := synth.Config{Dim: 2048, Layers: 8, Heads: 32, KVHeads: 4, FF: 5632, Vocab: 512, ContextLen: 1024, Type: quant.Q8_0, Seed: 3}
	bld, err := synth.Builder(c)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := bld.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		tb.Fatal(err)
	}
	loaded := map[model.Range]*model.Model{}
	return benchModel{name: "synth 1B-layer shape", cfg: cfg, commit: [32]byte{1},
		load: func(tb testing.TB, r model.Range) *model.Model {
			if m := loaded[r]; m != nil {
				return m
			}
			m, err := model.Load(f, model.Options{Layers: r, Pool: testPool})
			if err != nil {
				tb.Fatal(err)
			}
			loaded[r] = m
			return m
		}}
}

// BenchmarkFailover measures one failover: a chain A, B, C over TCP on
// 127.0.0.1 holds a session of `history` positions (a 16-position prefill,
// then one decode call per position); B's connections are reset (its
// process died) and the next decode step goes through a spare D, which
// replays the history first. ns/op is that decode step; ms/recovery is
// the chain's own measure (from the failure to the replacement's answer);
// ms/local-prefill, the reference, is the same positions computed as one
// prefill by a local copy of B's layers (the replay's compute floor).
//
//	go test ./swarm -run '^$' -bench Failover -benchtime 5x
func BenchmarkFailover(b *testing.B) {
	vk := verificationKey(b)
	cases := []struct {
		m       func(testing.TB) benchModel
		history int
		verify  bool
	}{
		{func(testing.TB) benchModel { return kjvBench() }, 64, false},
		{func(testing.TB) benchModel { return kjvBench() }, 240, false},
		{func(testing.TB) benchModel { return kjvBench() }, 64, true},
		{func(testing.TB) benchModel { return kjvBench() }, 240, true},
		{synthBench, 128, false},
	}
	for _, bc := range cases {
		bm := bc.m(b)
		b.Run(fmt.Sprintf("%s/history=%d/verify=%v", bm.name, bc.history, bc.verify), func(b *testing.B) {
			L := bm.cfg.Layers
			a, mid := L/3, 2*L/3
			dim := bm.cfg.Dim
			rng := rand.New(rand.NewPCG(1, 2))
			input := make([]float32, (bc.history+1)*dim)
			for i := range input {
				input[i] = float32(rng.NormFloat64())
			}
			var recovery, floor time.Duration
			var replayed int
			for b.Loop() {
				b.StopTimer()
				f := newFleet(b)
				nk := func(seed byte) ed25519.PrivateKey {
					if bc.verify {
						return nodeKey(seed)
					}
					return nil
				}
				f.addModel("A", bm.load(b, model.Range{First: 0, Last: a}), bm.commit, 0, nk(1), nil)
				f.addModel("B", bm.load(b, model.Range{First: a, Last: mid}), bm.commit, 0, nk(2), nil)
				f.addModel("C", bm.load(b, model.Range{First: mid, Last: L}), bm.commit, 0, nk(3), nil)
				f.addModel("D", bm.load(b, model.Range{First: a, Last: mid}), bm.commit, 0, nk(4), nil)
				cfg := swarm.ChainConfig{Model: bm.cfg, ModelCommit: bm.commit, Reroute: f.reroute, Timeout: time.Minute}
				if bc.verify {
					cfg.Verify = &swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: proof.AuditConfig{Cells: 1}, Rand: detRand(4)}
				}
				ch, err := swarm.NewChain(cfg, []swarm.Hop{f.nodes["A"].hop(f.nodes["A"].r), f.nodes["B"].hop(f.nodes["B"].r), f.nodes["C"].hop(f.nodes["C"].r)})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				pre := min(16, bc.history)
				h := append([]float32(nil), input[:pre*dim]...)
				if err := ch.Forward(ctx, 0, h, pre); err != nil {
					b.Fatal(err)
				}
				for p := pre; p < bc.history; p++ {
					if err := ch.Forward(ctx, p, append([]float32(nil), input[p*dim:(p+1)*dim]...), 1); err != nil {
						b.Fatal(err)
					}
				}
				f.nodes["B"].kill()
				step := append([]float32(nil), input[bc.history*dim:]...)
				b.StartTimer()
				if err := ch.Forward(ctx, bc.history, step, 1); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				fos := ch.Failovers()
				if len(fos) != 1 {
					b.Fatalf("%d failovers", len(fos))
				}
				recovery += fos[0].Recovery
				replayed = fos[0].Positions
				// The compute floor of the replay: the same positions as one
				// prefill through a local copy of the layers.
				local := bm.load(b, model.Range{First: a, Last: mid})
				sess, err := local.NewSession(bc.history)
				if err != nil {
					b.Fatal(err)
				}
				x := append([]float32(nil), input[:bc.history*dim]...)
				t0 := time.Now()
				if err := local.Forward(sess, 0, x, bc.history); err != nil {
					b.Fatal(err)
				}
				floor += time.Since(t0)
				ch.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(recovery.Microseconds())/1000/float64(b.N), "ms/recovery")
			b.ReportMetric(float64(replayed), "positions-replayed")
			b.ReportMetric(float64(floor.Microseconds())/1000/float64(b.N), "ms/local-prefill")
		})
	}
}

// BenchmarkDecodeHistory is the cost of keeping the history failover
// needs: a kjv-tiny decode step through A, B, C on 127.0.0.1 with and
// without failover (Reroute set keeps every boundary's inputs).
//
//	go test ./swarm -run '^$' -bench DecodeHistory -benchtime 2000x
func BenchmarkDecodeHistory(b *testing.B) {
	for _, keep := range []bool{false, true} {
		b.Run(fmt.Sprintf("history=%v", keep), func(b *testing.B) {
			f := newFleet(b)
			f.add("A", 0, 2, 0, nil, nil)
			f.add("B", 2, 4, 0, nil, nil)
			f.add("C", 4, 6, 0, nil, nil)
			cfg := chainConfig()
			if keep {
				cfg.Reroute = f.reroute
			}
			ch, err := swarm.NewChain(cfg, []swarm.Hop{f.nodes["A"].hop(f.nodes["A"].r), f.nodes["B"].hop(f.nodes["B"].r), f.nodes["C"].hop(f.nodes["C"].r)})
			if err != nil {
				b.Fatal(err)
			}
			defer ch.Close()
			dim := testConfig.Dim
			h := make([]float32, dim)
			ctx := context.Background()
			p := 0
			for b.Loop() {
				if p == testConfig.ContextLen {
					p = 0 // rewind: a new sequence
				}
				for i := range h {
					h[i] = float32(i%13) / 13
				}
				if err := ch.Forward(ctx, p, h, 1); err != nil {
					b.Fatal(err)
				}
				p++
			}
		})
	}
}
