package slice_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/slice"
)

// Slice the shipped model into three balanced parts and a client file,
// then check one part on its own, as a node would.
func Example() {
	f, err := gguf.Open("../models/kjv-tiny-q8_0.gguf")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	dir, err := os.MkdirTemp("", "slices")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ranges, err := slice.Balanced(f, 3) // or slice.Ranges("0:2,2:4,4:6")
	if err != nil {
		log.Fatal(err)
	}
	written, err := slice.Write(f, ranges, dir, slice.Options{Base: "kjv-tiny-q8_0"})
	if err != nil {
		log.Fatal(err)
	}
	for _, w := range written {
		fmt.Printf("%-32s %-12s %2d tensors\n", filepath.Base(w.Path), w.Slice, w.Tensors)
	}

	// A node holding only the middle part proves which model it serves.
	part, err := gguf.Open(written[2].Path)
	if err != nil {
		log.Fatal(err)
	}
	defer part.Close()
	c, err := commit.Of(part) // checks its tensors against the recorded commitments
	if err != nil {
		log.Fatal(err)
	}
	whole, _ := commit.Compute(f)
	fmt.Println(len(c.Layers), "layer commitments; same model:", c.Model == whole.Model)
	// Output:
	// kjv-tiny-q8_0.client.gguf        client        3 tensors
	// kjv-tiny-q8_0.layers-0-2.gguf    layers 0:2   18 tensors
	// kjv-tiny-q8_0.layers-2-4.gguf    layers 2:4   18 tensors
	// kjv-tiny-q8_0.layers-4-6.gguf    layers 4:6   18 tensors
	// 6 layer commitments; same model: true
}
