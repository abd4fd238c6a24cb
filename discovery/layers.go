package discovery

import (
	"context"
	"fmt"
	"time"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
)

// LayerBytes returns the bytes of each layer's tensors in f, for a model of
// layers layers (a slice file holds only some; the others are 0).
func LayerBytes(f *gguf.File, layers int) ([]uint64, error) {
	sizes := make([]uint64, layers)
	for _, t := range f.Tensors {
		if i, ok := commit.LayerOf(t.Name); ok {
			if i >= layers {
				return nil, fmt.Errorf("discovery: tensor %q belongs to layer %d, but the model has %d layers", t.Name, i, layers)
			}
			sizes[i] += t.Size
		}
	}
	return sizes, nil
}

// KVBytesPerLayer is the KV cache one layer keeps for positions positions
// (keys and values in float32, as package model stores them).
func KVBytesPerLayer(cfg model.Config, positions int) uint64 {
	return 2 * 4 * uint64(cfg.KVDim()) * uint64(max(positions, 0))
}

// LayerCosts are the bytes a node needs per layer: the layer's weights
// plus the KV cache of kvPositions positions (e.g. the sessions a node
// admits times the positions it grants each, or less when the operator
// expects sessions to stay short). Feed them to route.ChooseRequest.Costs
// with the node's memory budget.
func LayerCosts(f *gguf.File, cfg model.Config, kvPositions int) ([]uint64, error) {
	costs, err := LayerBytes(f, cfg.Layers)
	if err != nil {
		return nil, err
	}
	kv := KVBytesPerLayer(cfg, kvPositions)
	for i := range costs {
		costs[i] += kv
	}
	return costs, nil
}

// MeasureThroughput estimates a node's throughput, in tokens per second
// through the layers m holds, by timing steps decode steps (one position
// each, as a session's generation sends) on a scratch session after one
// untimed warm-up step. It stops early when ctx ends.
func MeasureThroughput(ctx context.Context, m *model.Model, steps int) (float64, error) {
	steps = max(steps, 1)
	s, err := m.NewSession(steps + 1)
	if err != nil {
		return 0, err
	}
	hidden := make([]float32, m.Config.Dim)
	fill := func(pos int) {
		for i := range hidden {
			hidden[i] = float32((i*7+pos*13)%17-8) / 64
		}
	}
	fill(0)
	if err := m.Forward(s, 0, hidden, 1); err != nil {
		return 0, fmt.Errorf("discovery: measuring throughput: %w", err)
	}
	start := time.Now()
	done := 0
	for pos := 1; pos <= steps; pos++ {
		if ctx.Err() != nil {
			break
		}
		fill(pos)
		if err := m.Forward(s, pos, hidden, 1); err != nil {
			return 0, fmt.Errorf("discovery: measuring throughput: %w", err)
		}
		done++
	}
	elapsed := time.Since(start)
	if done == 0 {
		return 0, ctx.Err()
	}
	return float64(done) / max(elapsed.Seconds(), 1e-9), nil
}
