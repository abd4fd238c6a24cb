package model_test

import (
	"fmt"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/sample"
)

// A client holds the embedding and head; two parts hold layers [0,3) and
// [3,6). Hidden states flow client → part 1 → part 2 → client, as they do
// between machines.
func Example() {
	f, err := models.Default()
	if err != nil {
		panic(err)
	}
	client, _ := model.Load(f, model.Options{Client: true})
	first, _ := model.Load(f, model.Options{Layers: model.Range{First: 0, Last: 3}})
	second, _ := model.Load(f, model.Options{Layers: model.Range{First: 3, Last: 6}})
	defer client.Close()
	defer first.Close()
	defer second.Close()

	prompt := []int{1, 300, 632, 394, 325, 341} // <s> And Jesus said unto them
	dim := client.Config.Dim
	hidden := make([]float32, len(prompt)*dim)
	_ = client.Embed(hidden, prompt)
	s1, _ := first.NewSession(64)
	s2, _ := second.NewSession(64)
	_ = first.Forward(s1, 0, hidden, len(prompt))
	_ = second.Forward(s2, 0, hidden, len(prompt))

	logits := make([]float32, client.Config.Vocab)
	_ = client.Head(logits, hidden[(len(prompt)-1)*dim:])
	fmt.Println("next token:", sample.Argmax(logits))
	// Output: next token: 2001
}
