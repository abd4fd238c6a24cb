package generate_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/tokenizer"
)

func ExampleClient_Run() {
	f, err := models.Default() // the embedded kjv-tiny model
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		log.Fatal(err)
	}
	// The client parts (embedding, head) and, here, every layer too.
	m, err := model.Load(f, model.Options{Layers: model.Range{First: 0, Last: cfg.Layers}, Client: true})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	layers, err := generate.NewLocalLayers(m, cfg.ContextLen)
	if err != nil {
		log.Fatal(err)
	}

	client := generate.Client{Model: m, Tokenizer: tok}
	req := generate.Request{
		Prompt:    "In the beginning God created",
		MaxTokens: 32,
		Stop:      []string{"\n"}, // the end of the verse
		// The zero sample.Params decode greedily.
	}
	fmt.Print(req.Prompt)
	res, err := client.Run(context.Background(), layers, req, func(piece string) error {
		fmt.Print(piece) // streamed as soon as it is final
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println()
	fmt.Printf("%d prompt tokens, %d generated, finish: %s\n", len(res.PromptTokens), len(res.Tokens), res.FinishReason)
	// Output:
	// In the beginning God created the world, and the things that are in the world.
	// 9 prompt tokens, 13 generated, finish: stop
}
