package model_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/sample"
)

// Reference outputs of llama.cpp (see testdata/golden/README.md).
type goldenGreedy struct {
	Model        string `json:"model"`
	Prompt       string `json:"prompt"`
	PromptIDs    []int  `json:"prompt_ids"`
	GeneratedIDs []int  `json:"generated_ids"`
}

type goldenLogits struct {
	Model     string         `json:"model"`
	Prompt    string         `json:"prompt"`
	PromptIDs []int          `json:"prompt_ids"`
	Greedy    []int          `json:"greedy_ids_first_steps"`
	Top20     [][][2]float64 `json:"top20_first_steps"`
	Full      []float32      `json:"full_logits_step0"`
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

var testPool = kernels.NewPool(0)

// loadWhole loads every layer and the client parts of a shipped model.
func loadWhole(t testing.TB, file string) *model.Model {
	t.Helper()
	f, err := gguf.Open(filepath.Join("..", "models", file))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(f, model.Options{Layers: model.Range{First: 0, Last: cfg.Layers}, Client: true, Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// greedyRun decodes steps tokens after prompt, returning the chosen ids and
// the logits of every step.
func greedyRun(t testing.TB, m *model.Model, prompt []int, steps int) ([]int, [][]float32) {
	t.Helper()
	dim := m.Config.Dim
	s, err := m.NewSession(len(prompt) + steps)
	if err != nil {
		t.Fatal(err)
	}
	hidden := make([]float32, len(prompt)*dim)
	if err := m.Embed(hidden, prompt); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward(s, 0, hidden, len(prompt)); err != nil {
		t.Fatal(err)
	}
	last := hidden[(len(prompt)-1)*dim:]
	var ids []int
	var all [][]float32
	for i := 0; i < steps; i++ {
		logits := make([]float32, m.Config.Vocab)
		if err := m.Head(logits, last); err != nil {
			t.Fatal(err)
		}
		all = append(all, logits)
		tok := sample.Argmax(logits)
		ids = append(ids, tok)
		if i == steps-1 {
			break
		}
		last = make([]float32, dim)
		if err := m.Embed(last, []int{tok}); err != nil {
			t.Fatal(err)
		}
		if err := m.Forward(s, len(prompt)+i, last, 1); err != nil {
			t.Fatal(err)
		}
	}
	return ids, all
}

// F32 logits. llama.cpp keeps K and V in f16 and rounds q and the softmax
// weights to f16 in its attention products; we compute attention in f32.
// Measured: our step-0 logits differ from llama.cpp's by at most 1.6e-3
// (values of order 1-10); emulating llama.cpp's f16 rounding in our
// attention brings that down to 3e-6 on three prompts and 6e-4 on the
// other two, so the residual is llama.cpp's f16 attention, not our
// arithmetic. (The model's README shows llama.cpp and an independent f32
// trainer differing by up to 1e-3 for the same reason.) 2.5e-3 covers that
// and still catches real errors: a wrong RoPE pairing, norm or GQA mapping
// moves logits by more than 0.1.
const f32LogitTol = 2.5e-3

func TestGoldenLogitsF32(t *testing.T) {
	var cases []goldenLogits
	readJSON(t, "logits.json", &cases)
	m := loadWhole(t, "kjv-tiny-f32.gguf")
	n := 0
	for _, c := range cases {
		if c.Model != "kjv-tiny-f32.gguf" {
			continue
		}
		n++
		t.Run(c.Prompt, func(t *testing.T) {
			ids, logits := greedyRun(t, m, c.PromptIDs, len(c.Greedy))
			var worst float64
			for i, want := range c.Full {
				worst = math.Max(worst, math.Abs(float64(logits[0][i]-want)))
			}
			if worst > f32LogitTol {
				t.Errorf("step 0 full logits: max |diff| %.2e > %.0e", worst, f32LogitTol)
			}
			for step, top := range c.Top20 {
				if ids[step] != c.Greedy[step] {
					t.Fatalf("step %d: greedy id %d, llama.cpp %d", step, ids[step], c.Greedy[step])
				}
				for _, pair := range top {
					id, want := int(pair[0]), pair[1]
					if d := math.Abs(float64(logits[step][id]) - want); d > f32LogitTol {
						t.Errorf("step %d token %d: logit %.5f, llama.cpp %.5f", step, id, logits[step][id], want)
					}
				}
			}
			t.Logf("max |logit diff| at step 0: %.2e", worst)
		})
	}
	if n == 0 {
		t.Fatal("no f32 cases in logits.json")
	}
}

func TestGoldenGreedy(t *testing.T) {
	var cases []goldenGreedy
	readJSON(t, "greedy.json", &cases)
	models := map[string]*model.Model{}
	for _, c := range cases {
		m := models[c.Model]
		if m == nil {
			m = loadWhole(t, c.Model)
			models[c.Model] = m
		}
		t.Run(c.Model+"/"+c.Prompt, func(t *testing.T) {
			ids, logits := greedyRun(t, m, c.PromptIDs, len(c.GeneratedIDs))
			for i, want := range c.GeneratedIDs {
				if ids[i] == want {
					continue
				}
				margin := math.Abs(float64(logits[i][ids[i]] - logits[i][want]))
				// F32 must match exactly. Q8_0 quantises activations to 8 bits;
				// llama.cpp's SIMD rounding and summation order differ from
				// ours, so a divergence is accepted only at a near-tie.
				if c.Model == "kjv-tiny-f32.gguf" || margin > 0.05 {
					t.Fatalf("token %d: got %d, llama.cpp %d (logit margin %.4f)\ngot  %v\nwant %v", i, ids[i], want, margin, ids, c.GeneratedIDs)
				}
				t.Logf("token %d: got %d, llama.cpp %d: a near-tie (logit margin %.4f); later tokens differ as a consequence", i, ids[i], want, margin)
				return
			}
		})
	}
}
