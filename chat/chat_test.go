package chat

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/tokenizer"
)

func kjv(t *testing.T) (*gguf.File, *tokenizer.Tokenizer) {
	t.Helper()
	f, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return f, tok
}

// The embedded model has no chat template: ForModel falls back to Plain,
// whose rendering of one user message is the message itself, tokenized
// exactly as a completion prompt.
func TestPlainFallbackIsThePrompt(t *testing.T) {
	f, tok := kjv(t)
	if _, err := FromGGUF(f, tok); !errors.Is(err, ErrNoTemplate) {
		t.Fatalf("FromGGUF on a model without a template: %v, want ErrNoTemplate", err)
	}
	tmpl, err := ForModel(f, tok)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Name() != Plain || tmpl.ParseSpecial() {
		t.Fatalf("fallback template %s (parse special %v), want plain without special parsing", tmpl.Name(), tmpl.ParseSpecial())
	}
	prompt := "In the beginning God created"
	ids, text, err := tmpl.Tokens(tok, []Message{{Role: "user", Content: prompt}})
	if err != nil {
		t.Fatal(err)
	}
	if text != prompt {
		t.Fatalf("plain rendering %q, want %q", text, prompt)
	}
	want := append([]int{tok.BOS()}, tok.Encode(prompt)...)
	if !slices.Equal(ids, want) {
		t.Fatalf("tokens %v, want %v", ids, want)
	}
	// "<s>" typed by a user stays text under the plain template.
	ids, _, err = tmpl.Tokens(tok, []Message{{Role: "user", Content: "<s>"}})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ids[1:], tok.BOS()) {
		t.Fatalf("user text <s> became a BOS token: %v", ids)
	}
	text, err = tmpl.Render([]Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if text != "Be brief.\nHi\nHello" {
		t.Fatalf("plain multi-turn rendering %q", text)
	}
}

func TestChatML(t *testing.T) {
	tmpl, err := Builtin(ChatML)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render([]Message{{Role: "system", Content: "S"}, {Role: "user", Content: "U"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
	if got != want {
		t.Fatalf("chatml rendering\n%q\nwant\n%q", got, want)
	}
	if !tmpl.ParseSpecial() {
		t.Error("chatml must be tokenized with special tokens parsed")
	}
	if _, err := Builtin("nope"); err == nil {
		t.Error("an unknown built-in name was accepted")
	}
}

// Real model templates (copied from github.com/ardanlabs/jinja's test data,
// which took them from the models' GGUF files) render as the models
// expect.
func TestModelTemplates(t *testing.T) {
	conv := []Message{{Role: "system", Content: "You are terse."}, {Role: "user", Content: "What is 2+2?"}}
	cases := []struct {
		file string
		want []string
	}{
		{"testdata/Llama-3.2-1B-Instruct-GGUF.jinja", []string{
			"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n",
			"You are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>",
			"<|start_header_id|>assistant<|end_header_id|>\n\n",
		}},
		{"testdata/Qwen3-8B-Q8_0.jinja", []string{
			"<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
		}},
	}
	for _, c := range cases {
		src, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := New("gguf", string(src), "<|begin_of_text|>", "<|end_of_text|>")
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		got, err := tmpl.Render(conv, true)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s rendered\n%q\nwhich lacks\n%q", c.file, got, w)
			}
		}
		if !strings.HasSuffix(got, "<|end_header_id|>\n\n") && !strings.HasSuffix(got, "<|im_start|>assistant\n") {
			t.Errorf("%s: rendering does not end with the assistant's turn: %q", c.file, got)
		}
	}
}

// A template that writes bos_token itself does not get a second BOS from
// the tokenizer.
func TestTemplateBOSNotDoubled(t *testing.T) {
	_, tok := kjv(t)
	tmpl, err := New("test", "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}", tok.TokenText(tok.BOS()), tok.TokenText(tok.EOS()))
	if err != nil {
		t.Fatal(err)
	}
	ids, text, err := tmpl.Tokens(tok, []Message{{Role: "user", Content: "And God said"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "<s>") {
		t.Fatalf("rendering %q lacks the BOS text", text)
	}
	if ids[0] != tok.BOS() || ids[1] == tok.BOS() {
		t.Fatalf("tokens %v: want exactly one leading BOS", ids)
	}
}

func TestBrokenTemplatesFailEarly(t *testing.T) {
	if _, err := New("bad", "{% if %}", "", ""); err == nil {
		t.Error("a template that does not parse was accepted")
	}
	if _, err := New("raises", `{{ raise_exception("no system messages") }}`, "", ""); err == nil || !strings.Contains(err.Error(), "sample conversation") {
		t.Errorf("a template failing on a sample conversation gave %v", err)
	}
}
