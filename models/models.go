// Package models holds the model shipped inside the tessera binary: kjv-tiny,
// a 5M-parameter LLaMA-architecture model trained on the King James Bible
// (see README.md beside this file), quantised to Q8_0. It lets the demo and
// the tests run on a fresh clone with no download.
package models

import (
	_ "embed"

	"github.com/tessera-net/tessera/gguf"
)

//go:embed kjv-tiny-q8_0.gguf
var kjvTinyQ8 []byte

// DefaultName names the embedded model in logs and the API.
const DefaultName = "kjv-tiny-q8_0"

// Default parses the embedded model. The returned file aliases read-only
// memory in the binary; closing it is a no-op.
func Default() (*gguf.File, error) { return gguf.Parse(kjvTinyQ8) }
