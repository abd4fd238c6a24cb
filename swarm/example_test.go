package swarm_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"net"

	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/tokenizer"
)

// Compile-time check: a Chain drives generate's token loop.
var _ generate.Layers = (*swarm.Chain)(nil)

// Two nodes serve layers 0:3 and 3:6 of the model; the client keeps the
// tokenizer, the embedding and the head, and generates through them. Here
// the streams are in-process pipes; in a real swarm the Opener opens a
// libp2p stream under wire.ProtocolID and the node passes each accepted
// stream to ServeStream.
func Example() {
	f, err := gguf.Open("../models/kjv-tiny-q8_0.gguf")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		log.Fatal(err)
	}
	commit := sha256.Sum256([]byte("stands in for the model commitment"))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	var hops []swarm.Hop
	for _, r := range []model.Range{{First: 0, Last: 3}, {First: 3, Last: 6}} {
		m, err := model.Load(f, model.Options{Layers: r}) // only this range's tensors
		if err != nil {
			log.Fatal(err)
		}
		defer m.Close()
		node := &swarm.Server{Model: m, ModelCommit: commit}
		open := func(context.Context) (swarm.Stream, error) {
			client, server := net.Pipe()
			go node.ServeStream(ctx, server)
			return client, nil
		}
		hops = append(hops, swarm.RemoteHop("node-"+r.String(), r, open))
	}
	chain, err := swarm.NewChain(swarm.ChainConfig{Model: cfg, ModelCommit: commit}, hops)
	if err != nil {
		log.Fatal(err)
	}
	defer chain.Close()

	clientParts, err := model.Load(f, model.Options{Client: true}) // embedding and head, no layers
	if err != nil {
		log.Fatal(err)
	}
	defer clientParts.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		log.Fatal(err)
	}
	c := generate.Client{Model: clientParts, Tokenizer: tok}
	res, err := c.Run(ctx, chain, generate.Request{Prompt: "In the beginning God created", MaxTokens: 32, Stop: []string{"\n"}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Text)
	for _, h := range chain.Stats() {
		fmt.Printf("%s: layers %s, %d positions\n", h.Peer, h.Range, h.Positions)
	}
	// Output:
	//  the world, and the things that are in the world.
	// node-0:3: layers 0:3, 21 positions
	// node-3:6: layers 3:6, 21 positions
}
