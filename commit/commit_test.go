package commit_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/merkle"
	"github.com/tessera-net/tessera/model"
)

const kjv = "../models/kjv-tiny-q8_0.gguf"

func openKJV(t testing.TB) *gguf.File {
	t.Helper()
	f, err := gguf.Open(kjv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func mustCompute(t testing.TB, f *gguf.File, opts ...commit.Option) commit.Commitments {
	t.Helper()
	c, err := commit.Compute(f, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rebuild copies f through a Builder, letting edit change it, and parses
// the result.
func rebuild(t testing.TB, f *gguf.File, edit func(b *gguf.Builder)) *gguf.File {
	t.Helper()
	b := gguf.NewBuilder()
	if err := b.CopyKV(f); err != nil {
		t.Fatal(err)
	}
	for _, ti := range f.Tensors {
		if err := b.CopyTensor(f, ti.Name); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(b)
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestComputeDeterministic(t *testing.T) {
	f := openKJV(t)
	var calls int
	var last, total int64
	a := mustCompute(t, f, commit.WithWorkers(1), commit.WithProgress(func(done, tot int64) {
		if done < last || done > tot {
			t.Errorf("progress %d of %d after %d", done, tot, last)
		}
		calls++
		last, total = done, tot
	}))
	var want int64
	for _, ti := range f.Tensors {
		want += int64(ti.Size)
	}
	if calls == 0 || last != want || total != want {
		t.Errorf("progress ended at %d of %d after %d calls, want %d", last, total, calls, want)
	}
	b := mustCompute(t, f, commit.WithWorkers(4))
	if !a.Equal(b) || !reflect.DeepEqual(a, b) {
		t.Fatal("two computations of one file differ")
	}
	// An in-memory copy with the same tensors and metadata in a different
	// file layout (the Builder re-packs tensor data) has the same identity.
	c := mustCompute(t, rebuild(t, f, nil))
	if !a.Equal(c) {
		t.Fatal("a byte-identical re-pack of the model has another commitment")
	}
	if len(a.Layers) != 6 || len(a.ClientTensors) != 3 {
		t.Fatalf("%d layers, %d client tensors", len(a.Layers), len(a.ClientTensors))
	}
	if s := a.String(); len(s) != 12 || !strings.HasPrefix(commit.Hex(a.Model), s) {
		t.Fatalf("String() = %q", s)
	}
}

// The commitments follow the definitions in the package doc, recomputed
// here from first principles.
func TestComputeMatchesDefinition(t *testing.T) {
	f := openKJV(t)
	c := mustCompute(t, f)
	digest := func(name string) [32]byte {
		ti, _ := f.Tensor(name)
		data, _ := f.TensorData(name)
		h := sha256.Sum256(data)
		var b []byte
		b = append(b, byte(len(name)), 0, 0, 0, 0, 0, 0, 0)
		b = append(b, name...)
		b = append(b, byte(ti.Type), 0, 0, 0, byte(len(ti.Dims)), 0, 0, 0)
		for _, d := range ti.Dims {
			b = append(b, byte(d), byte(d>>8), byte(d>>16), byte(d>>24), 0, 0, 0, 0)
		}
		return sha256.Sum256(append(b, h[:]...))
	}
	root := func(names []string) [32]byte {
		slices.Sort(names)
		var leaves [][32]byte
		for _, n := range names {
			leaves = append(leaves, digest(n))
		}
		return merkle.Root(leaves)
	}
	for i := range 6 {
		var names []string
		for _, ti := range f.Tensors {
			if strings.HasPrefix(ti.Name, "blk."+string(rune('0'+i))+".") {
				names = append(names, ti.Name)
			}
		}
		if len(names) != 9 {
			t.Fatalf("layer %d has %d tensors", i, len(names))
		}
		if root(names) != c.Layers[i] {
			t.Fatalf("layer %d commitment differs from the definition", i)
		}
	}
	if root([]string{"token_embd.weight", "output_norm.weight", "output.weight"}) != c.Client {
		t.Fatal("client commitment differs from the definition")
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	leaves := append([][32]byte{commit.ConfigHash(cfg), c.Client}, c.Layers...)
	if c.Config != commit.ConfigHash(cfg) || merkle.Root(leaves) != c.Model {
		t.Fatal("model commitment differs from the definition")
	}
}

// tensorRange returns the byte range of a tensor's data in a file image.
func tensorRange(t testing.TB, f *gguf.File, name string) (int, int) {
	ti, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("no tensor %q", name)
	}
	start := int(f.DataOffset + ti.Offset)
	return start, start + int(ti.Size)
}

func TestChangesWithAnyTensorByte(t *testing.T) {
	img, err := os.ReadFile(kjv)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	base := mustCompute(t, f)
	for _, tc := range []struct {
		tensor string
		layer  int // -1: a client tensor
		at     func(start, end int) int
	}{
		{"blk.3.ffn_up.weight", 3, func(s, e int) int { return s }},
		{"blk.0.attn_norm.weight", 0, func(s, e int) int { return e - 1 }},
		{"blk.5.attn_v.weight", 5, func(s, e int) int { return (s + e) / 2 }},
		{"token_embd.weight", -1, func(s, e int) int { return e - 1 }},
		{"output_norm.weight", -1, func(s, e int) int { return s + 3 }},
	} {
		s, e := tensorRange(t, f, tc.tensor)
		mod := slices.Clone(img)
		mod[tc.at(s, e)] ^= 0x01
		g, err := gguf.Parse(mod)
		if err != nil {
			t.Fatal(err)
		}
		c := mustCompute(t, g)
		if c.Model == base.Model {
			t.Errorf("%s: flipping one bit leaves the model commitment unchanged", tc.tensor)
		}
		for i := range base.Layers {
			if changed := c.Layers[i] != base.Layers[i]; changed != (i == tc.layer) {
				t.Errorf("%s: layer %d changed = %v", tc.tensor, i, changed)
			}
		}
		if changed := c.Client != base.Client; changed != (tc.layer < 0) {
			t.Errorf("%s: client changed = %v", tc.tensor, changed)
		}
		if c.Config != base.Config {
			t.Errorf("%s: config hash changed", tc.tensor)
		}
		if tc.layer >= 0 {
			if err := base.VerifyLayer(tc.layer, g); !errors.Is(err, commit.ErrMismatch) {
				t.Errorf("%s: VerifyLayer on the altered file gave %v", tc.tensor, err)
			}
			if err := base.VerifyLayer((tc.layer+1)%6, g); err != nil {
				t.Errorf("%s: VerifyLayer of an untouched layer: %v", tc.tensor, err)
			}
		}
	}
}

func TestChangesWithTensorNames(t *testing.T) {
	f := openKJV(t)
	base := mustCompute(t, f)
	// Swap the names of two tensors of one shape: the same bytes, a
	// different model.
	swapped := rebuild(t, f, func(b *gguf.Builder) {
		nb := gguf.NewBuilder()
		for _, kv := range b.KV() {
			nb.AddKV(kv.Key, kv.Value)
		}
		for _, ti := range f.Tensors {
			src := ti.Name
			switch ti.Name {
			case "blk.2.attn_q.weight":
				src = "blk.2.attn_output.weight"
			case "blk.2.attn_output.weight":
				src = "blk.2.attn_q.weight"
			}
			data, _ := f.TensorData(src)
			s, _ := f.Tensor(src)
			if err := nb.AddTensorBytes(ti.Name, s.Type, s.Dims, data); err != nil {
				t.Fatal(err)
			}
		}
		*b = *nb
	})
	c := mustCompute(t, swapped)
	if c.Layers[2] == base.Layers[2] || c.Model == base.Model {
		t.Fatal("swapping two tensors' names leaves the commitments unchanged")
	}
	if c.Layers[1] != base.Layers[1] || c.Client != base.Client {
		t.Fatal("swapping names in layer 2 changed another part")
	}

	// Renaming a client tensor changes the client commitment.
	renamed := rebuild(t, f, func(b *gguf.Builder) {
		nb := gguf.NewBuilder()
		for _, kv := range b.KV() {
			nb.AddKV(kv.Key, kv.Value)
		}
		for _, ti := range f.Tensors {
			name := ti.Name
			if name == "output.weight" {
				name = "output.weight2"
			}
			data, _ := f.TensorData(ti.Name)
			nb.AddTensorBytes(name, ti.Type, ti.Dims, data)
		}
		*b = *nb
	})
	if c := mustCompute(t, renamed); c.Client == base.Client || c.Model == base.Model {
		t.Fatal("renaming a client tensor leaves the commitments unchanged")
	}
}

func TestChangesWithHyperparameters(t *testing.T) {
	f := openKJV(t)
	base := mustCompute(t, f)
	for _, kv := range []gguf.KeyValue{
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: gguf.Float32Value(1e-6)},
		{Key: "llama.rope.freq_base", Value: gguf.Float32Value(500000)},
		{Key: "llama.rope.dimension_count", Value: gguf.Uint32Value(16)},
		{Key: "llama.rope.scaling.type", Value: gguf.StringValue("linear")},
		{Key: "llama.attention.head_count", Value: gguf.Uint32Value(4)},
	} {
		g := rebuild(t, f, func(b *gguf.Builder) {
			b.SetKV(kv.Key, kv.Value)
			if kv.Key == "llama.rope.scaling.type" {
				b.SetKV("llama.rope.scaling.factor", gguf.Float32Value(4))
			}
		})
		c := mustCompute(t, g)
		if c.Config == base.Config || c.Model == base.Model {
			t.Errorf("%s = %v leaves the commitments unchanged", kv.Key, kv.Value)
		}
		if !slices.Equal(c.Layers, base.Layers) || c.Client != base.Client {
			t.Errorf("%s changed tensor commitments", kv.Key)
		}
	}
	// Metadata that does not change the computation does not change the
	// identity.
	g := rebuild(t, f, func(b *gguf.Builder) {
		b.SetKV("general.name", gguf.StringValue("another name"))
		b.SetKV("llama.context_length", gguf.Uint32Value(4096))
	})
	if c := mustCompute(t, g); !c.Equal(base) {
		t.Error("general.name or context_length changed the commitments")
	}
}

// Every field of model.Config is either hashed by ConfigHash or left out
// on purpose; a new field must be classified here (and, if it changes the
// computation, added to the encoding with a new version).
func TestConfigHashCoversConfig(t *testing.T) {
	excluded := map[string]bool{"Vocab": true, "ContextLen": true}
	base := model.Config{Arch: "llama", Dim: 256, Layers: 6, Heads: 8, KVHeads: 4, HeadDim: 32, FF: 768, Vocab: 2048,
		ContextLen: 256, NormEps: 1e-5, RopeDim: 32, RopeBase: 10000, RopeScale: 1}
	h0 := commit.ConfigHash(base)
	typ := reflect.TypeFor[model.Config]()
	known := map[string]bool{"Arch": true, "Dim": true, "Layers": true, "Heads": true, "KVHeads": true, "HeadDim": true,
		"FF": true, "Vocab": true, "ContextLen": true, "NormEps": true, "RopeDim": true, "RopeBase": true,
		"RopeScale": true, "RopeNeox": true, "QKVBias": true}
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		if !known[name] {
			t.Errorf("model.Config has a new field %s: decide whether ConfigHash must include it", name)
			continue
		}
		c := base
		v := reflect.ValueOf(&c).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString("qwen2")
		case reflect.Int:
			v.SetInt(v.Int() + 1)
		case reflect.Float32, reflect.Float64:
			v.SetFloat(v.Float() * 2)
		case reflect.Bool:
			v.SetBool(!v.Bool())
		}
		if changed := commit.ConfigHash(c) != h0; changed == excluded[name] {
			t.Errorf("changing Config.%s: hash changed = %v", name, changed)
		}
	}
}

func TestLayerProof(t *testing.T) {
	c := mustCompute(t, openKJV(t))
	for i := range c.Layers {
		p := c.LayerProof(i)
		if !commit.VerifyLayerProof(c.Model, c.Layers[i], i, len(c.Layers), p) {
			t.Fatalf("layer %d: proof rejected", i)
		}
		if commit.VerifyLayerProof(c.Model, c.Layers[(i+1)%6], i, len(c.Layers), p) {
			t.Fatalf("layer %d: proof accepted for another layer's commitment", i)
		}
		if commit.VerifyLayerProof(c.Model, c.Client, -1, len(c.Layers), p) {
			t.Fatalf("layer %d: proof accepted at index -1", i)
		}
	}
	if c.LayerProof(6) != nil || c.LayerProof(-1) != nil {
		t.Fatal("out-of-range layer proof is not nil")
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	f := openKJV(t)
	c := mustCompute(t, f)
	g := rebuild(t, f, func(b *gguf.Builder) {
		b.AddKV("tessera.commit.stale", gguf.StringValue("from an old slice"))
		if err := c.SetKV(b, commit.Slice{Layers: model.Range{First: 0, Last: 6}, Client: true}); err != nil {
			t.Fatal(err)
		}
	})
	if _, ok := g.Lookup("tessera.commit.stale"); ok {
		t.Error("SetKV kept a stale tessera.* key")
	}
	got, err := commit.FromMetadata(g)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(c) {
		t.Fatal("FromMetadata differs from the commitments written")
	}
	s, ok, err := commit.ReadSlice(g)
	if err != nil || !ok || s != (commit.Slice{Layers: model.Range{First: 0, Last: 6}, Client: true}) {
		t.Fatalf("ReadSlice = %v %v %v", s, ok, err)
	}
	if s.String() != "client + layers 0:6" {
		t.Errorf("Slice.String() = %q", s)
	}
	// A file holding the whole model with metadata verifies completely.
	if got, err := commit.Of(g); err != nil || !got.Equal(c) {
		t.Fatalf("Of = %v, %v", got, err)
	}
	if _, err := commit.FromMetadata(f); err == nil {
		t.Fatal("FromMetadata on a plain model succeeded")
	}
	if _, ok, err := commit.ReadSlice(f); ok || err != nil {
		t.Fatal("ReadSlice on a plain model found a slice")
	}
	if got, err := commit.Of(f); err != nil || !got.Equal(c) {
		t.Fatalf("Of on the whole model = %v, %v", got, err)
	}

	// Inconsistent metadata is rejected before any tensor is read.
	for _, kv := range []gguf.KeyValue{
		{Key: commit.KeyModel, Value: gguf.StringValue(commit.Hex(c.Layers[0]))},
		{Key: commit.KeyClient, Value: gguf.StringValue(commit.Hex(c.Layers[0]))},
		{Key: commit.KeyLayers, Value: gguf.ArrayValue([]string{commit.Hex(c.Layers[1]), commit.Hex(c.Layers[0])})},
		{Key: commit.KeyClientDigests, Value: gguf.ArrayValue([]string{commit.Hex(c.Layers[1]), commit.Hex(c.Layers[0]), commit.Hex(c.Layers[2])})},
		{Key: commit.KeyConfig, Value: gguf.StringValue("00")},
	} {
		h := rebuild(t, g, func(b *gguf.Builder) { b.SetKV(kv.Key, kv.Value) })
		if _, err := commit.FromMetadata(h); err == nil {
			t.Errorf("FromMetadata accepted a changed %s", kv.Key)
		}
		if _, err := commit.Of(h); err == nil {
			t.Errorf("Of accepted a changed %s", kv.Key)
		}
	}
}

func TestLayerOf(t *testing.T) {
	for name, want := range map[string]int{
		"blk.0.attn_q.weight": 0, "blk.17.ffn_up.weight": 17, "blk.3.x": 3,
		"token_embd.weight": -1, "blk.x.attn": -1, "blk..w": -1, "blk.3": -1, "blk.-1.w": -1, "output.weight": -1,
	} {
		i, ok := commit.LayerOf(name)
		if !ok {
			i = -1
		}
		if i != want {
			t.Errorf("LayerOf(%q) = %d, %v; want %d", name, i, ok, want)
		}
	}
}

func TestParseHex(t *testing.T) {
	h := sha256.Sum256([]byte("x"))
	if got, err := commit.ParseHex(commit.Hex(h)); err != nil || got != h {
		t.Fatal(got, err)
	}
	for _, s := range []string{"", "00", strings.Repeat("g", 64), commit.Hex(h) + "00"} {
		if _, err := commit.ParseHex(s); err == nil {
			t.Errorf("ParseHex(%q) succeeded", s)
		}
	}
}

func TestComputeErrors(t *testing.T) {
	f := openKJV(t)
	// A file missing a layer.
	g := rebuild(t, f, func(b *gguf.Builder) {
		nb := gguf.NewBuilder()
		for _, kv := range b.KV() {
			nb.AddKV(kv.Key, kv.Value)
		}
		for _, ti := range f.Tensors {
			if !strings.HasPrefix(ti.Name, "blk.4.") {
				nb.CopyTensor(f, ti.Name)
			}
		}
		*b = *nb
	})
	if _, err := commit.Compute(g); err == nil || !strings.Contains(err.Error(), "layer 4") {
		t.Fatalf("model without layer 4: %v", err)
	}
	// A tensor of a layer beyond the block count.
	h := rebuild(t, f, func(b *gguf.Builder) { b.SetKV("llama.block_count", gguf.Uint32Value(5)) })
	if _, err := commit.Compute(h); err == nil || !strings.Contains(err.Error(), "blk.5.") {
		t.Fatalf("tensor beyond the block count: %v", err)
	}
}

func BenchmarkCompute(b *testing.B) {
	f := openKJV(b)
	var size int64
	for _, ti := range f.Tensors {
		size += int64(ti.Size)
	}
	b.SetBytes(size)
	for b.Loop() {
		if _, err := commit.Compute(f); err != nil {
			b.Fatal(err)
		}
	}
}
