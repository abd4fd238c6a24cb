package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/tessera-net/tessera/gguf"
)

var modelFiles = []string{"kjv-tiny-q8_0.gguf", "kjv-tiny-f32.gguf"}

var (
	kjvOnce sync.Once
	kjvTok  *Tokenizer
	kjvErr  error
)

// loadModel builds the tokenizer of one of the test models via FromGGUF.
func loadModel(tb testing.TB, name string) *Tokenizer {
	tb.Helper()
	f, err := gguf.Open(filepath.Join("..", "models", name))
	if err != nil {
		tb.Fatalf("open model: %v", err)
	}
	defer f.Close()
	tk, err := FromGGUF(f)
	if err != nil {
		tb.Fatalf("FromGGUF(%s): %v", name, err)
	}
	return tk
}

// kjv returns the (shared, immutable) tokenizer of kjv-tiny-q8_0.gguf.
func kjv(tb testing.TB) *Tokenizer {
	tb.Helper()
	kjvOnce.Do(func() {
		f, err := gguf.Open(filepath.Join("..", "models", modelFiles[0]))
		if err != nil {
			kjvErr = err
			return
		}
		defer f.Close()
		kjvTok, kjvErr = FromGGUF(f)
	})
	if kjvErr != nil {
		tb.Fatalf("kjv tokenizer: %v", kjvErr)
	}
	return kjvTok
}

type tokenCase struct {
	Text          string `json:"text"`
	IDsWithBOS    []int  `json:"ids_with_bos"`
	IDsWithoutBOS []int  `json:"ids_without_bos"`
}

type greedyCase struct {
	Model        string `json:"model"`
	Prompt       string `json:"prompt"`
	PromptIDs    []int  `json:"prompt_ids"`
	GeneratedIDs []int  `json:"generated_ids"`
	Text         string `json:"text"`
}

func readJSON(tb testing.TB, name string, v any) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "golden", name))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

func TestKJVMetadata(t *testing.T) {
	for _, name := range modelFiles {
		tk := loadModel(t, name)
		if tk.Model() != ModelLlama || tk.VocabSize() != 2048 || tk.BOS() != 1 || tk.EOS() != 2 ||
			tk.UNK() != 0 || tk.PAD() != NoToken || tk.EOT() != NoToken || !tk.AddBOS() || tk.AddEOS() || !tk.AddSpacePrefix() {
			t.Errorf("%s: model %s vocab %d bos %d eos %d unk %d pad %d eot %d addBOS %v addEOS %v prefix %v",
				name, tk.Model(), tk.VocabSize(), tk.BOS(), tk.EOS(), tk.UNK(), tk.PAD(), tk.EOT(), tk.AddBOS(), tk.AddEOS(), tk.AddSpacePrefix())
		}
		if !tk.IsEOG(2) || tk.IsEOG(1) || tk.IsEOG(13) || !slices.Equal(tk.EOGs(), []int{2}) {
			t.Errorf("%s: EOGs %v", name, tk.EOGs())
		}
		if w := tk.Warnings(); len(w) != 0 {
			t.Errorf("%s: unexpected warnings %q", name, w)
		}
		if tk.Piece(1) != "" || tk.Piece(2) != "" || tk.Piece(0) != "" || tk.Piece(13) != "\n" || tk.Piece(261) != " the" {
			t.Errorf("%s: pieces %q %q %q %q %q", name, tk.Piece(0), tk.Piece(1), tk.Piece(2), tk.Piece(13), tk.Piece(261))
		}
		if tk.TokenText(1) != "<s>" || tk.TokenType(1) != TypeControl || tk.TokenType(3) != TypeByte || tk.TokenType(261) != TypeNormal {
			t.Errorf("%s: token 1 %q %v", name, tk.TokenText(1), tk.TokenType(1))
		}
	}
}

func TestGoldenTokens(t *testing.T) {
	var cases []tokenCase
	readJSON(t, "tokens.json", &cases)
	if len(cases) != 25 {
		t.Fatalf("%d golden token cases, want 25", len(cases))
	}
	for _, name := range modelFiles {
		tk := loadModel(t, name)
		for _, c := range cases {
			got := tk.Encode(c.Text)
			if !slices.Equal(got, c.IDsWithoutBOS) {
				t.Errorf("%s: Encode(%q)\n got %v\nwant %v", name, c.Text, got, c.IDsWithoutBOS)
			}
			got = tk.Tokenize(c.Text, true, false)
			if !slices.Equal(got, c.IDsWithBOS) {
				t.Errorf("%s: Tokenize(%q, addSpecial)\n got %v\nwant %v", name, c.Text, got, c.IDsWithBOS)
			}
			// Decoding gives back the text, modulo the dummy prefix space.
			if d := tk.DecodeWith(c.IDsWithBOS, DecodeOptions{TrimPrefixSpace: true}); d != c.Text {
				t.Errorf("%s: decode(%v) = %q, want %q", name, c.IDsWithBOS, d, c.Text)
			}
			if c.Text != "" {
				if d := tk.Decode(c.IDsWithoutBOS); d != " "+c.Text {
					t.Errorf("%s: Decode(%v) = %q, want %q", name, c.IDsWithoutBOS, d, " "+c.Text)
				}
			}
		}
	}
}

func TestGoldenGreedy(t *testing.T) {
	var cases []greedyCase
	readJSON(t, "greedy.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no greedy cases")
	}
	tk := kjv(t)
	for _, c := range cases {
		if got := tk.Decode(c.GeneratedIDs); got != c.Text {
			t.Errorf("%s %q: Decode = %q, want %q", c.Model, c.Prompt, got, c.Text)
		}
		if got := tk.Tokenize(c.Prompt, true, false); !slices.Equal(got, c.PromptIDs) {
			t.Errorf("%s: Tokenize(%q) = %v, want %v", c.Model, c.Prompt, got, c.PromptIDs)
		}
		// Streaming gives the same text.
		d := tk.NewDecoder()
		var s string
		for _, id := range c.GeneratedIDs {
			s += d.Add(id)
		}
		s += d.Flush()
		if s != c.Text {
			t.Errorf("streamed %q, want %q", s, c.Text)
		}
		// Prompt + continuation, trimmed, reads as the prompt followed by the text.
		all := append(slices.Clone(c.PromptIDs), c.GeneratedIDs...)
		if got := tk.DecodeWith(all, DecodeOptions{TrimPrefixSpace: true}); got != c.Prompt+c.Text {
			t.Errorf("full decode %q, want %q", got, c.Prompt+c.Text)
		}
	}
}
