package model_test

import (
	"testing"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/quant"
)

// A view of part of the loaded layers computes exactly what a model loaded
// with only those layers does, for every split: nodes serve sub-ranges
// with views.
func TestSubMatchesLoad(t *testing.T) {
	prompt := []int{1, 17, 260, 5, 299, 42}
	decode := []int{7, 250, 3}
	f := synthFile(t, smallConfig("llama", quant.Q8_0))
	whole := mustLoad(t, f, model.Range{First: 0, Last: 4}, true)
	want := runChain(t, whole, []*model.Model{whole}, prompt, decode)
	base := mustLoad(t, f, model.Range{First: 0, Last: 4}, false)
	for _, split := range [][]int{{0, 1, 4}, {0, 2, 3, 4}, {0, 1, 2, 3, 4}} {
		var parts []*model.Model
		for i := 0; i+1 < len(split); i++ {
			v, err := base.Sub(model.Range{First: split[i], Last: split[i+1]})
			if err != nil {
				t.Fatal(err)
			}
			if v.Range.First != split[i] || v.Range.Last != split[i+1] {
				t.Fatalf("view of %d:%d has range %s", split[i], split[i+1], v.Range)
			}
			parts = append(parts, v)
		}
		if got := runChain(t, whole, parts, prompt, decode); !equalBits(got, want) {
			t.Errorf("split %v over views: hidden states differ from the whole model", split)
		}
	}
	if v, err := base.Sub(base.Range); err != nil || v != base {
		t.Errorf("Sub of the whole range: %v, %v", v, err)
	}
	part := mustLoad(t, f, model.Range{First: 1, Last: 3}, false)
	for _, r := range []model.Range{{First: 0, Last: 2}, {First: 2, Last: 4}, {First: 2, Last: 2}, {First: 3, Last: 2}} {
		if _, err := part.Sub(r); err == nil {
			t.Errorf("view %s of layers 1:3 accepted", r)
		}
	}
	s, err := part.NewSession(4)
	if err != nil {
		t.Fatal(err)
	}
	if s.Model() != part {
		t.Error("session's model")
	}
}
