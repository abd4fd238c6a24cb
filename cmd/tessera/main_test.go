package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// run executes the CLI in-process and returns its stdout.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestGenerateMatchesGolden(t *testing.T) {
	out, err := run(t, "generate", "--prompt", "In the beginning God created", "-n", "12", "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}
	// llama.cpp's greedy continuation (testdata/golden/greedy.json).
	want := "In the beginning God created the world, and the things that are in the world."
	if !strings.HasPrefix(out, want) {
		t.Fatalf("output %q, want prefix %q", out, want)
	}
}

func TestGenerateStop(t *testing.T) {
	out, err := run(t, "generate", "--prompt", "In the beginning God created", "-n", "40", "--stop", "things")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out); got != "In the beginning God created the world, and the" {
		t.Fatalf("output %q does not stop before the stop string", got)
	}
}

func TestGenerateNeedsPrompt(t *testing.T) {
	if _, err := run(t, "generate"); err == nil || !strings.Contains(err.Error(), "prompt") {
		t.Fatalf("missing --prompt gave %v", err)
	}
}

func TestDemoRunsThreeNodes(t *testing.T) {
	out, err := run(t, "demo", "-n", "6")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"layers 0:2", "layers 2:4", "layers 4:6", "through 3 nodes",
		"And Jesus said unto them, What do ye?", "The LORD is my shepherd, and my strength",
		"ledger: certificate", "(layers 2:4) earned", "audit passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestInspect(t *testing.T) {
	out, err := run(t, "model", "inspect")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"architecture:  llama", "dim 256, layers 6, heads 8, kv heads 4", "blk.5.ffn_down.weight", "q8_0", "tokenizer:     llama, 2048 tokens"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q", want)
		}
	}
	if _, err := run(t, "model", "inspect", filepath.Join(t.TempDir(), "missing.gguf")); err == nil {
		t.Error("inspecting a missing file succeeded")
	}
}

func TestSynthThenBenchJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if _, err := run(t, "model", "synth", "--dim", "256", "--layers", "2", "--heads", "4", "--kv-heads", "2",
		"--ff", "512", "--vocab", "512", "--type", "q4_k", "--context", "64", path); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "bench", "--model", path, "--threads", "1", "-p", "8", "-n", "4", "-r", "2", "--json", "--nodes", "2")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	for _, k := range []string{"threads", "prefill_tok_s", "decode_tok_s", "weight_bytes_per_token", "effective_gbps",
		"ttft_ms", "memory_gbps", "roofline_pct", "chain_prefill_tok_s", "chain_decode_tok_s", "chain_decode_ratio", "wire_bytes_per_token_hop"} {
		v, ok := r[k].(float64)
		if !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", k, r[k])
		}
	}
	// Each decode run has its own memory measurement; the reported
	// figures are their medians.
	for _, k := range []string{"memory_runs_gbps", "roofline_runs_pct"} {
		runs, _ := r[k].([]any)
		if len(runs) != 2 {
			t.Fatalf("%s = %v, want one value per decode run (2)", k, r[k])
		}
	}
	mem, roof := r["memory_runs_gbps"].([]any), r["roofline_runs_pct"].([]any)
	if got, want := r["roofline_pct"].(float64), (roof[0].(float64)+roof[1].(float64))/2; math.Abs(got-want) > 1e-9*want {
		t.Errorf("roofline_pct %v, want the median of the runs' %v", got, want)
	}
	if got, want := r["memory_gbps"].(float64), (mem[0].(float64)+mem[1].(float64))/2; math.Abs(got-want) > 1e-9*want {
		t.Errorf("memory_gbps %v, want the median of the runs' %v", got, want)
	}
	// One decode position each way in f32: 2 × dim × 4 bytes plus framing.
	if hop := r["wire_bytes_per_token_hop"].(float64); hop < 2*256*4 || hop > 2*256*4+200 {
		t.Errorf("wire bytes per token per hop %v, want about %d", hop, 2*256*4)
	}
	if r["threads"].(float64) != 1 {
		t.Errorf("threads = %v, want 1", r["threads"])
	}
	if _, err := run(t, "model", "synth", "--type", "q9_9", filepath.Join(t.TempDir(), "x.gguf")); err == nil {
		t.Error("an unknown type was accepted")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{90, 60, 85, 70, 80}, 80},
	} {
		in := slices.Clone(tc.in)
		if got := median(in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("median reordered its argument: %v, was %v", in, tc.in)
		}
	}
}
