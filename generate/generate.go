// Package generate runs the token loop of text generation: tokenize, embed,
// push hidden states through the transformer layers, apply the head, sample,
// and stream the decoded text. The layers are behind an interface so the same
// loop drives a local model or a chain of remote nodes.
package generate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/sample"
	"github.com/tessera-net/tessera/tokenizer"
)

// Layers transforms hidden states through all transformer layers of a
// model, keeping whatever per-sequence state (KV caches) it needs.
// Forward processes n consecutive positions starting at start, in place.
type Layers interface {
	Forward(ctx context.Context, start int, hidden []float32, n int) error
}

// Request is one generation.
type Request struct {
	Prompt    string
	MaxTokens int      // tokens to generate at most
	Stop      []string // generation ends before the first occurrence of any
	Sample    sample.Params
	// IgnoreEOS keeps generating past end-of-generation tokens (benchmarks).
	IgnoreEOS bool
}

// Finish reasons, as the OpenAI API names them.
const (
	FinishStop   = "stop"   // EOS token or stop string
	FinishLength = "length" // MaxTokens reached
)

// Result describes a finished generation.
type Result struct {
	PromptTokens []int // including BOS when the tokenizer adds it
	Tokens       []int // generated token ids
	Text         string
	FinishReason string
}

// Client is the part of a model that stays with the user: tokenizer,
// embedding and head.
type Client struct {
	Model     *model.Model // loaded with Client: true
	Tokenizer *tokenizer.Tokenizer
}

// PromptTokens tokenizes text as the model expects it (BOS when the
// tokenizer's metadata asks for it).
func (c Client) PromptTokens(text string) []int {
	ids := c.Tokenizer.Encode(text)
	if c.Tokenizer.AddBOS() {
		ids = append([]int{c.Tokenizer.BOS()}, ids...)
	}
	return ids
}

// Run generates a completion of req.Prompt, calling emit with each piece of
// text as soon as it is final (never part of a stop string or half a UTF-8
// character). An error from emit stops generation and is returned.
func (c Client) Run(ctx context.Context, layers Layers, req Request, emit func(string) error) (Result, error) {
	prompt := c.PromptTokens(req.Prompt)
	if len(prompt) == 0 {
		return Result{}, errors.New("generate: empty prompt and no BOS token")
	}
	return c.RunTokens(ctx, layers, prompt, req, emit)
}

// RunTokens is Run for an already tokenized prompt.
func (c Client) RunTokens(ctx context.Context, layers Layers, prompt []int, req Request, emit func(string) error) (Result, error) {
	if req.MaxTokens < 0 {
		return Result{}, fmt.Errorf("generate: max tokens %d must be >= 0", req.MaxTokens)
	}
	if len(prompt) == 0 {
		return Result{}, errors.New("generate: empty prompt")
	}
	sampler, err := sample.New(req.Sample)
	if err != nil {
		return Result{}, err
	}
	m := c.Model
	dim := m.Config.Dim
	res := Result{PromptTokens: prompt, FinishReason: FinishLength}
	if ctxLen := m.Config.ContextLen; len(prompt) >= ctxLen {
		return res, fmt.Errorf("generate: prompt of %d tokens does not fit the model's context of %d", len(prompt), ctxLen)
	} else if len(prompt)+req.MaxTokens > ctxLen {
		req.MaxTokens = ctxLen - len(prompt)
	}
	hidden := make([]float32, len(prompt)*dim)
	if err := m.Embed(hidden, prompt); err != nil {
		return res, err
	}
	if err := layers.Forward(ctx, 0, hidden, len(prompt)); err != nil {
		return res, fmt.Errorf("generate: prefill: %w", err)
	}
	logits := make([]float32, m.Config.Vocab)
	last := hidden[(len(prompt)-1)*dim:]
	history := append([]int(nil), prompt...)
	out := newStopFilter(req.Stop, emit)
	dec := c.Tokenizer.NewDecoder()
	step := hidden[:dim]
	for len(res.Tokens) < req.MaxTokens {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := m.Head(logits, last); err != nil {
			return res, err
		}
		tok := sampler.Sample(logits, history)
		if !req.IgnoreEOS && c.Tokenizer.IsEOG(tok) {
			res.FinishReason = FinishStop
			break
		}
		res.Tokens = append(res.Tokens, tok)
		history = append(history, tok)
		stopped, err := out.write(dec.Add(tok))
		if err != nil {
			return res, err
		}
		if stopped {
			res.FinishReason = FinishStop
			break
		}
		if len(res.Tokens) == req.MaxTokens {
			break
		}
		if err := m.Embed(step, []int{tok}); err != nil {
			return res, err
		}
		if err := layers.Forward(ctx, len(history)-1, step, 1); err != nil {
			return res, fmt.Errorf("generate: decode step %d: %w", len(res.Tokens), err)
		}
		last = step
	}
	if !out.stopped {
		// Bytes of an incomplete character held back by the decoder come
		// out as U+FFFD, which may still complete a stop string.
		stopped, err := out.write(dec.Flush())
		if err != nil {
			return res, err
		}
		if stopped {
			res.FinishReason = FinishStop
		}
	}
	if err := out.flush(); err != nil {
		return res, err
	}
	res.Text = out.text.String()
	return res, nil
}

// stopFilter holds back text that could still turn into a stop string.
type stopFilter struct {
	stops   []string
	emit    func(string) error
	pending string
	text    strings.Builder
	stopped bool
}

func newStopFilter(stops []string, emit func(string) error) *stopFilter {
	var nonEmpty []string
	for _, s := range stops {
		if s != "" {
			nonEmpty = append(nonEmpty, s)
		}
	}
	return &stopFilter{stops: nonEmpty, emit: emit}
}

// write adds text; it reports whether a stop string was reached.
func (f *stopFilter) write(s string) (bool, error) {
	if f.stopped {
		return true, nil
	}
	f.pending += s
	cut := -1
	for _, stop := range f.stops {
		if i := strings.Index(f.pending, stop); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		f.pending = f.pending[:cut]
		f.stopped = true
		return true, f.flush()
	}
	// Keep the longest suffix that is a prefix of some stop string.
	keep := 0
	for _, stop := range f.stops {
		for n := min(len(stop)-1, len(f.pending)); n > keep; n-- {
			if strings.HasSuffix(f.pending, stop[:n]) {
				keep = n
				break
			}
		}
	}
	ready := f.pending[:len(f.pending)-keep]
	f.pending = f.pending[len(f.pending)-keep:]
	return false, f.send(ready)
}

func (f *stopFilter) flush() error {
	s := f.pending
	f.pending = ""
	return f.send(s)
}

func (f *stopFilter) send(s string) error {
	if s == "" {
		return nil
	}
	f.text.WriteString(s)
	if f.emit == nil {
		return nil
	}
	return f.emit(s)
}

// LocalLayers runs all layers of a locally loaded model in one session.
type LocalLayers struct {
	Model   *model.Model
	Session *model.Session
}

// NewLocalLayers starts a session of at most maxLen positions on m.
func NewLocalLayers(m *model.Model, maxLen int) (*LocalLayers, error) {
	s, err := m.NewSession(maxLen)
	if err != nil {
		return nil, err
	}
	return &LocalLayers{Model: m, Session: s}, nil
}

// Forward implements Layers.
func (l *LocalLayers) Forward(ctx context.Context, start int, hidden []float32, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.Model.Forward(l.Session, start, hidden, n)
}
