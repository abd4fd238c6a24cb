package commit_test

import (
	"fmt"
	"log"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
)

// Compute a model's identity, then show that layer 3 belongs to it with a
// proof of a few hashes.
func Example() {
	f, err := gguf.Open("../models/kjv-tiny-q8_0.gguf")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	c, err := commit.Compute(f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(c.Layers), "layers,", len(c.ClientTensors), "client tensors")
	proof := c.LayerProof(3)
	fmt.Println(len(proof), commit.VerifyLayerProof(c.Model, c.Layers[3], 3, len(c.Layers), proof))
	fmt.Println(c.VerifyLayer(3, f))
	// Output:
	// 6 layers, 3 client tensors
	// 3 true
	// <nil>
}
