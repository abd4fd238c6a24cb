// Package chat turns a conversation into the prompt text a model was
// trained on, with the model's own Jinja chat template (the GGUF metadata
// key tokenizer.chat_template) rendered by github.com/ardanlabs/jinja, or a
// built-in template for models that have none.
//
// Templates see the variables Hugging Face's apply_chat_template passes:
// messages (a list of {role, content} mappings), add_generation_prompt,
// bos_token and eos_token. Rendered text of a model template contains
// special-token text ("<|im_start|>", "<|eot_id|>", ...), so it is
// tokenized with special-token parsing on (Template.ParseSpecial), as
// llama.cpp's server does.
package chat

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ardanlabs/jinja"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/tokenizer"
)

// MetadataKey is the GGUF metadata key holding a model's chat template.
const MetadataKey = "tokenizer.chat_template"

// Message is one turn of a conversation.
type Message struct {
	Role    string // "system", "user", "assistant", "tool"
	Content string
}

// Names of the built-in templates.
const (
	// Plain joins the messages' contents with newlines and adds nothing
	// else: a single user message renders as exactly its text. It suits
	// base models without a chat format (such as the embedded kjv-tiny),
	// whose chat completion of one message is then the completion of
	// that message as a prompt.
	Plain = "plain"
	// ChatML is the <|im_start|>role … <|im_end|> format (Qwen, many
	// fine-tunes); it needs a vocabulary with those tokens to be useful.
	ChatML = "chatml"
)

var builtins = map[string]string{
	Plain: `{%- for m in messages -%}{%- if not loop.first -%}{{ "\n" }}{%- endif -%}{{ m.content }}{%- endfor -%}`,
	ChatML: `{%- for m in messages -%}{{ "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n" }}{%- endfor -%}` +
		`{%- if add_generation_prompt -%}{{ "<|im_start|>assistant\n" }}{%- endif -%}`,
}

// Template renders conversations for one model. It is immutable and safe
// for concurrent use.
type Template struct {
	name         string // "gguf", a built-in name, or a file name
	source       string
	tmpl         *jinja.Template
	bos, eos     string
	parseSpecial bool
}

// Builtin returns the built-in template name (Plain or ChatML).
func Builtin(name string) (*Template, error) {
	src, ok := builtins[name]
	if !ok {
		return nil, fmt.Errorf("chat: no built-in template %q (have %q and %q)", name, Plain, ChatML)
	}
	t, err := compile(name, src)
	if err != nil {
		return nil, err
	}
	// The plain template adds no markup: user text that looks like a
	// special token stays text, as with a completion prompt.
	t.parseSpecial = name != Plain
	return t, nil
}

// New compiles a Jinja chat template. bos and eos are the texts of the
// model's BOS and EOS tokens, passed to the template as bos_token and
// eos_token. The template is rendered once on a sample conversation so
// that templates using unsupported features fail here rather than on the
// first request.
func New(name, source, bos, eos string) (*Template, error) {
	t, err := compile(name, source)
	if err != nil {
		return nil, err
	}
	t.bos, t.eos, t.parseSpecial = bos, eos, true
	if _, err := t.Render([]Message{{Role: "system", Content: "s"}, {Role: "user", Content: "u"}, {Role: "assistant", Content: "a"}, {Role: "user", Content: "u"}}, true); err != nil {
		return nil, fmt.Errorf("chat: template %s fails on a sample conversation: %w", name, err)
	}
	return t, nil
}

func compile(name, source string) (*Template, error) {
	tmpl, err := jinja.Compile(source)
	if err != nil {
		return nil, fmt.Errorf("chat: template %s: %w", name, err)
	}
	return &Template{name: name, source: source, tmpl: tmpl}, nil
}

// ErrNoTemplate is returned by FromGGUF for a model without a chat
// template.
var ErrNoTemplate = errors.New("chat: the model has no " + MetadataKey)

// FromGGUF compiles the model's chat template, with the BOS and EOS token
// texts from tok. It returns ErrNoTemplate when the file has none.
func FromGGUF(f *gguf.File, tok *tokenizer.Tokenizer) (*Template, error) {
	if _, ok := f.Lookup(MetadataKey); !ok {
		return nil, ErrNoTemplate
	}
	src, err := f.String(MetadataKey)
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	return New("gguf", src, tok.TokenText(tok.BOS()), tok.TokenText(tok.EOS()))
}

// ForModel is the template a gateway uses for a model by default: the
// model's own, or Plain when it has none.
func ForModel(f *gguf.File, tok *tokenizer.Tokenizer) (*Template, error) {
	t, err := FromGGUF(f, tok)
	if errors.Is(err, ErrNoTemplate) {
		return Builtin(Plain)
	}
	return t, err
}

// Name says where the template came from: "gguf" for the model's own, a
// built-in name, or the name given to New.
func (t *Template) Name() string { return t.name }

// Source returns the Jinja source.
func (t *Template) Source() string { return t.source }

// ParseSpecial reports whether the rendered text should be tokenized with
// special-token parsing (true for model templates, whose markup is
// special-token text; false for Plain).
func (t *Template) ParseSpecial() bool { return t.parseSpecial }

// Render formats messages; addGenerationPrompt appends the opening of the
// assistant's turn when the template supports it.
func (t *Template) Render(messages []Message, addGenerationPrompt bool) (string, error) {
	msgs := make([]any, len(messages))
	for i, m := range messages {
		msgs[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	out, err := t.tmpl.Render(map[string]any{
		"messages":              msgs,
		"add_generation_prompt": addGenerationPrompt,
		"bos_token":             t.bos,
		"eos_token":             t.eos,
	})
	if err != nil {
		return "", fmt.Errorf("chat: rendering template %s: %w", t.name, err)
	}
	return out, nil
}

// Tokens renders messages and tokenizes the result as a prompt: BOS added
// when the vocabulary asks for it, special-token text parsed when
// ParseSpecial, and a BOS the template wrote itself not doubled.
func (t *Template) Tokens(tok *tokenizer.Tokenizer, messages []Message) ([]int, string, error) {
	text, err := t.Render(messages, true)
	if err != nil {
		return nil, "", err
	}
	ids := tok.Tokenize(text, true, t.parseSpecial)
	if bos := tok.BOS(); tok.AddBOS() && len(ids) >= 2 && ids[0] == bos && ids[1] == bos {
		ids = ids[1:]
	}
	return ids, text, nil
}

// Describe is a one-line description for logs and the dashboard.
func (t *Template) Describe() string {
	switch t.name {
	case "gguf":
		return "the model's own chat template (" + MetadataKey + ")"
	case Plain:
		return "plain (message texts joined by newlines, no markup)"
	}
	return strings.TrimSpace(t.name) + " chat template"
}
