package api

import (
	"context"
	"errors"

	"github.com/tessera-net/tessera/generate"
)

// ClientBackend is a Backend over a generate.Client (the tokenizer,
// embedding and head held by the gateway) and layers made fresh for each
// generation: a model session in this process, or a chain of nodes.
type ClientBackend struct {
	Model  *Model
	Client generate.Client
	// Layers returns the layers for one generation and a function, called
	// once the generation ends with its result and error, that releases
	// them and reports how the generation ran: what each hop computed, the
	// audit, the proof, the settlement. Its errors are answered as they
	// are (return an *Error, e.g. ErrMissingCoverage or
	// ErrInsufficientCredits, to choose the status).
	Layers func(ctx context.Context, job Job) (generate.Layers, func(generate.Result, error) Meta, error)
	// Wrap, if set, turns errors of the generation itself (a failing node)
	// into answers; nil answers them as 500s.
	Wrap func(error) error
}

// Models implements Backend.
func (b *ClientBackend) Models() []*Model { return []*Model{b.Model} }

// Generate implements Backend.
func (b *ClientBackend) Generate(ctx context.Context, job Job, emit func(string) error) (generate.Result, Meta, error) {
	if job.Model != b.Model {
		return generate.Result{}, Meta{}, errors.New("api: job for another model")
	}
	layers, done, err := b.Layers(ctx, job)
	if err != nil {
		return generate.Result{}, Meta{}, err
	}
	res, err := b.Client.RunTokens(ctx, layers, job.Prompt, job.Request, emit)
	meta := done(res, err)
	if err != nil && b.Wrap != nil && ctx.Err() == nil {
		err = b.Wrap(err)
	}
	return res, meta, err
}
