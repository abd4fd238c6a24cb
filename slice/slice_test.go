package slice_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/slice"
	"github.com/tessera-net/tessera/synth"
)

const kjv = "../models/kjv-tiny-q8_0.gguf"

var testPool *kernels.Pool

func TestMain(m *testing.M) {
	testPool = kernels.NewPool(2)
	code := m.Run()
	testPool.Close()
	os.Exit(code)
}

func open(t testing.TB, path string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func rs(pairs ...int) []model.Range {
	var out []model.Range
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, model.Range{First: pairs[i], Last: pairs[i+1]})
	}
	return out
}

// sliceKJV slices the shipped model into 0:2, 2:4, 4:6.
func sliceKJV(t testing.TB) (*gguf.File, []slice.Written) {
	t.Helper()
	f := open(t, kjv)
	w, err := slice.Write(f, rs(0, 2, 2, 4, 4, 6), t.TempDir(), slice.Options{Base: "kjv"})
	if err != nil {
		t.Fatal(err)
	}
	return f, w
}

func TestWriteKJV(t *testing.T) {
	f := open(t, kjv)
	var phases []slice.Phase
	var last slice.Progress
	dir := t.TempDir()
	w, err := slice.Write(f, rs(0, 2, 2, 4, 4, 6), dir, slice.Options{Base: "kjv", Progress: func(p slice.Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		} else if p.Done < last.Done {
			t.Errorf("progress went back from %d to %d", last.Done, p.Done)
		}
		last = p
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(phases, []slice.Phase{slice.Hashing, slice.Writing}) || last.Done != last.Total || last.Total == 0 {
		t.Errorf("phases %v, last report %+v", phases, last)
	}
	want := []struct {
		name  string
		slice commit.Slice
	}{
		{"kjv.client.gguf", commit.Slice{Client: true}},
		{"kjv.layers-0-2.gguf", commit.Slice{Layers: model.Range{First: 0, Last: 2}}},
		{"kjv.layers-2-4.gguf", commit.Slice{Layers: model.Range{First: 2, Last: 4}}},
		{"kjv.layers-4-6.gguf", commit.Slice{Layers: model.Range{First: 4, Last: 6}}},
	}
	if len(w) != len(want) {
		t.Fatalf("wrote %d files, want %d", len(w), len(want))
	}
	whole, err := commit.Compute(f)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(kjv)
	for i, got := range w {
		if got.Path != filepath.Join(dir, want[i].name) || got.Slice != want[i].slice {
			t.Errorf("file %d: %s %v, want %s %v", i, got.Path, got.Slice, want[i].name, want[i].slice)
		}
		fst, err := os.Stat(got.Path)
		if err != nil || fst.Size() != got.Bytes {
			t.Errorf("%s: stat %v, size %d, reported %d", got.Path, err, fst.Size(), got.Bytes)
		}
		// A slice is much smaller than the whole model.
		if got.Bytes*3 > st.Size() {
			t.Errorf("%s is %d bytes, more than a third of the model's %d", got.Path, got.Bytes, st.Size())
		}
		g := open(t, got.Path)
		if len(g.Tensors) != got.Tensors {
			t.Errorf("%s: %d tensors, reported %d", got.Path, len(g.Tensors), got.Tensors)
		}
		// Its commitments are those of the whole model, checked against
		// the tensors it holds.
		c, err := commit.Of(g)
		if err != nil {
			t.Fatalf("%s: %v", got.Path, err)
		}
		if !c.Equal(whole) {
			t.Errorf("%s: commitments %s differ from the whole model's %s", got.Path, c, whole)
		}
		s, ok, err := commit.ReadSlice(g)
		if !ok || err != nil || s != got.Slice {
			t.Errorf("%s: ReadSlice = %v %v %v", got.Path, s, ok, err)
		}
		// It holds exactly its own tensors.
		for _, ti := range g.Tensors {
			layer, isLayer := commit.LayerOf(ti.Name)
			switch {
			case isLayer && (layer < s.Layers.First || layer >= s.Layers.Last):
				t.Errorf("%s holds %s, outside its layers %s", got.Path, ti.Name, s.Layers)
			case !isLayer && !s.Client:
				t.Errorf("layer slice %s holds %s", got.Path, ti.Name)
			}
		}
		wantTensors := 9 * s.Layers.Len()
		if s.Client {
			wantTensors = 3
		}
		if len(g.Tensors) != wantTensors {
			t.Errorf("%s: %d tensors, want %d", got.Path, len(g.Tensors), wantTensors)
		}
		// All metadata of the source is there, unchanged.
		for _, kv := range f.KV {
			v, ok := g.Lookup(kv.Key)
			if !ok || v.String() != kv.Value.String() || v.Len() != kv.Value.Len() {
				t.Errorf("%s: key %s is %v, source has %v", got.Path, kv.Key, v, kv.Value)
			}
		}
		// Tensor bytes are copied exactly.
		for _, ti := range g.Tensors {
			a, _ := g.TensorData(ti.Name)
			b, _ := f.TensorData(ti.Name)
			if !bytes.Equal(a, b) {
				t.Errorf("%s: tensor %s differs from the source", got.Path, ti.Name)
			}
		}
	}
	// Writing again with the commitments given skips hashing and gives
	// identical files.
	dir2 := t.TempDir()
	w2, err := slice.Write(f, rs(0, 2, 2, 4, 4, 6), dir2, slice.Options{Base: "kjv", Commitments: &whole,
		Progress: func(p slice.Progress) {
			if p.Phase == slice.Hashing {
				t.Error("hashed although commitments were given")
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range w2 {
		a, _ := os.ReadFile(w[i].Path)
		b, _ := os.ReadFile(w2[i].Path)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: second write differs", filepath.Base(w2[i].Path))
		}
	}
}

// loadParts loads the client file and each layer slice as separate models.
func loadParts(t testing.TB, w []slice.Written) (client *model.Model, parts []*model.Model) {
	t.Helper()
	for _, x := range w {
		g := open(t, x.Path)
		m, err := model.Load(g, model.Options{Layers: x.Slice.Layers, Client: x.Slice.Client, Pool: testPool})
		if err != nil {
			t.Fatalf("%s: %v", x.Path, err)
		}
		if x.Slice.Client {
			client = m
		} else {
			parts = append(parts, m)
		}
	}
	return client, parts
}

// run embeds the prompt with client, runs it through parts in turn, then
// decodes greedily for steps more tokens, returning every hidden state and
// the logits of every step.
func run(t testing.TB, client *model.Model, parts []*model.Model, prompt []int, steps int) (hidden, logits []float32) {
	t.Helper()
	dim, vocab := client.Config.Dim, client.Config.Vocab
	sessions := make([]*model.Session, len(parts))
	for i, p := range parts {
		s, err := p.NewSession(len(prompt) + steps)
		if err != nil {
			t.Fatal(err)
		}
		sessions[i] = s
	}
	toks := prompt
	pos := 0
	for range steps + 1 {
		h := make([]float32, len(toks)*dim)
		if err := client.Embed(h, toks); err != nil {
			t.Fatal(err)
		}
		for i, p := range parts {
			if err := p.Forward(sessions[i], pos, h, len(toks)); err != nil {
				t.Fatal(err)
			}
		}
		hidden = append(hidden, h...)
		l := make([]float32, vocab)
		if err := client.Head(l, h[(len(toks)-1)*dim:]); err != nil {
			t.Fatal(err)
		}
		logits = append(logits, l...)
		pos += len(toks)
		best := 0
		for j, v := range l {
			if v > l[best] {
				best = j
			}
		}
		toks = []int{best}
	}
	return hidden, logits
}

func sameBits(a, b []float32) bool {
	return len(a) == len(b) && slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// The slices, loaded on their own and run in sequence, compute exactly
// what the whole model does.
func TestSlicesComputeLikeTheWhole(t *testing.T) {
	f, w := sliceKJV(t)
	whole, err := model.Load(f, model.Options{Layers: model.Range{First: 0, Last: 6}, Client: true, Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int{1, 300, 632, 394, 325, 341} // <s> And Jesus said unto them
	wantH, wantL := run(t, whole, []*model.Model{whole}, prompt, 8)
	client, parts := loadParts(t, w)
	if len(parts) != 3 || client == nil {
		t.Fatalf("%d parts, client %v", len(parts), client != nil)
	}
	gotH, gotL := run(t, client, parts, prompt, 8)
	if !sameBits(gotH, wantH) {
		t.Error("hidden states through the slices differ from the whole model")
	}
	if !sameBits(gotL, wantL) {
		t.Error("logits through the slices differ from the whole model")
	}
}

// synthModel makes a small random model in memory; with rope it carries a
// rope_freqs.weight tensor of non-trivial factors.
func synthModel(t testing.TB, arch string, rope bool) *gguf.File {
	t.Helper()
	c := synth.Config{Arch: arch, Dim: 64, Layers: 5, Heads: 4, KVHeads: 2, FF: 96, Vocab: 300, ContextLen: 64, Type: quant.Q8_0, Seed: 3}
	b, err := synth.Builder(c)
	if err != nil {
		t.Fatal(err)
	}
	if rope {
		half := c.Dim / c.Heads / 2
		data := make([]byte, 0, 4*half)
		for i := range half {
			data = append(data, f32bytes(1+float32(i)/4)...)
		}
		if err := b.AddTensorBytes(slice.RopeFreqs, quant.F32, []uint64{uint64(half)}, data); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func f32bytes(v float32) []byte {
	u := math.Float32bits(v)
	return []byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)}
}

func TestSynthWithRopeFreqs(t *testing.T) {
	for _, arch := range []string{"llama", "qwen2"} {
		t.Run(arch, func(t *testing.T) {
			f := synthModel(t, arch, true)
			parts, err := slice.Balanced(f, 2)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(parts, rs(0, 2, 2, 5)) && !slices.Equal(parts, rs(0, 3, 3, 5)) {
				t.Fatalf("Balanced(5 layers, 2) = %v", parts)
			}
			w, err := slice.Write(f, parts, t.TempDir(), slice.Options{})
			if err != nil {
				t.Fatal(err)
			}
			whole, _ := commit.Compute(f)
			for _, x := range w {
				if !strings.HasPrefix(filepath.Base(x.Path), "model.") {
					t.Errorf("default base: %s", x.Path)
				}
				g := open(t, x.Path)
				if _, ok := g.Tensor(slice.RopeFreqs); !ok {
					t.Errorf("%s lacks %s", x.Path, slice.RopeFreqs)
				}
				if c, err := commit.Of(g); err != nil || !c.Equal(whole) {
					t.Errorf("%s: Of = %v, %v", x.Path, c, err)
				}
			}
			m, err := model.Load(f, model.Options{Layers: model.Range{First: 0, Last: 5}, Client: true, Pool: testPool})
			if err != nil {
				t.Fatal(err)
			}
			prompt := []int{1, 17, 260, 5, 299, 42}
			wantH, wantL := run(t, m, []*model.Model{m}, prompt, 4)
			client, ps := loadParts(t, w)
			gotH, gotL := run(t, client, ps, prompt, 4)
			if !sameBits(gotH, wantH) || !sameBits(gotL, wantL) {
				t.Error("slices compute differently from the whole model")
			}
			// The factors matter: without them the result differs.
			noRope := synthModel(t, arch, false)
			m2, _ := model.Load(noRope, model.Options{Layers: model.Range{First: 0, Last: 5}, Client: true, Pool: testPool})
			if h, _ := run(t, m2, []*model.Model{m2}, prompt, 0); sameBits(h, wantH[:len(h)]) {
				t.Error("rope_freqs.weight has no effect; the test proves nothing")
			}
		})
	}
}

// copyFile copies src into a new file in a temporary directory, letting
// edit change the bytes.
func copyFile(t testing.TB, src string, edit func(img []byte)) string {
	t.Helper()
	img, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	edit(img)
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// rewrite re-builds the GGUF file at src through a Builder that edit may
// change, into a new file.
func rewrite(t testing.TB, src string, edit func(f *gguf.File, b *gguf.Builder)) string {
	t.Helper()
	f := open(t, src)
	b := gguf.NewBuilder()
	if err := b.CopyKV(f); err != nil {
		t.Fatal(err)
	}
	edit(f, b)
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := gguf.WriteFile(dst, b); err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyTensors(t testing.TB, f *gguf.File, b *gguf.Builder, keep func(name string) bool) {
	t.Helper()
	for _, ti := range f.Tensors {
		if keep == nil || keep(ti.Name) {
			if err := b.CopyTensor(f, ti.Name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestTamperedSliceRejected(t *testing.T) {
	src, w := sliceKJV(t)
	clientPath, l01, l23 := w[0].Path, w[1].Path, w[2].Path
	flip := func(path, tensor string, at func(n int) int) string {
		g := open(t, path)
		ti, ok := g.Tensor(tensor)
		if !ok {
			t.Fatalf("%s has no %s", path, tensor)
		}
		off := int(g.DataOffset+ti.Offset) + at(int(ti.Size))
		return copyFile(t, path, func(img []byte) { img[off] ^= 0x10 })
	}
	cases := []struct {
		name, path, want string
	}{
		{"byte of a layer tensor", flip(l23, "blk.3.ffn_down.weight", func(n int) int { return n / 2 }), "layer 3"},
		{"last byte of a norm", flip(l01, "blk.0.ffn_norm.weight", func(n int) int { return n - 1 }), "layer 0"},
		{"byte of the embedding", flip(clientPath, "token_embd.weight", func(n int) int { return 7 }), "token_embd.weight"},
		{"byte of the head", flip(clientPath, "output.weight", func(n int) int { return n - 1 }), "output.weight"},
		{"hyperparameter", rewrite(t, l01, func(f *gguf.File, b *gguf.Builder) {
			b.SetKV("llama.attention.layer_norm_rms_epsilon", gguf.Float32Value(1e-6))
			copyTensors(t, f, b, nil)
		}), "hyperparameters"},
		{"a tensor renamed", rewrite(t, l01, func(f *gguf.File, b *gguf.Builder) {
			for _, ti := range f.Tensors {
				name := ti.Name
				switch name {
				case "blk.1.attn_q.weight":
					name = "blk.1.attn_output.weight"
				case "blk.1.attn_output.weight":
					name = "blk.1.attn_q.weight"
				}
				data, _ := f.TensorData(ti.Name)
				b.AddTensorBytes(name, ti.Type, ti.Dims, data)
			}
		}), "layer 1"},
		{"a tensor dropped", rewrite(t, l01, func(f *gguf.File, b *gguf.Builder) {
			copyTensors(t, f, b, func(n string) bool { return n != "blk.0.ffn_up.weight" })
		}), "layer 0"},
		{"a whole layer dropped", rewrite(t, l01, func(f *gguf.File, b *gguf.Builder) {
			copyTensors(t, f, b, func(n string) bool { return !strings.HasPrefix(n, "blk.1.") })
		}), "layer 1"},
		{"a tensor of another layer added", rewrite(t, l01, func(f *gguf.File, b *gguf.Builder) {
			copyTensors(t, f, b, nil)
			if err := b.CopyTensor(src, "blk.4.attn_q.weight"); err != nil {
				t.Fatal(err)
			}
		}), "outside its range"},
		{"a foreign tensor added", rewrite(t, l01, func(f *gguf.File, b *gguf.Builder) {
			copyTensors(t, f, b, nil)
			b.AddTensorBytes("extra.weight", quant.F32, []uint64{4}, make([]byte, 16))
		}), "extra.weight"},
		{"range widened", rewrite(t, l01, func(f *gguf.File, b *gguf.Builder) {
			b.SetKV(commit.KeySliceLast, gguf.Uint32Value(3))
			copyTensors(t, f, b, nil)
		}), "layer 2"},
		{"client flag set on a layer slice", rewrite(t, l01, func(f *gguf.File, b *gguf.Builder) {
			b.SetKV(commit.KeySliceClient, gguf.BoolValue(true))
			copyTensors(t, f, b, nil)
		}), "lacks tensor"},
		{"layer commitments reordered", rewrite(t, l23, func(f *gguf.File, b *gguf.Builder) {
			v, _ := f.Strings(commit.KeyLayers)
			v[2], v[3] = v[3], v[2]
			b.SetKV(commit.KeyLayers, gguf.ArrayValue(v))
			copyTensors(t, f, b, nil)
		}), "model commitment"},
		{"layer commitment replaced to match the altered bytes", func() string {
			// The attacker alters layer 2 and records its new commitment:
			// the model commitment no longer matches.
			p := flip(l23, "blk.2.attn_k.weight", func(n int) int { return 0 })
			g := open(t, p)
			h, err := commit.Layer(g, 2)
			if err != nil {
				t.Fatal(err)
			}
			return rewrite(t, p, func(f *gguf.File, b *gguf.Builder) {
				v, _ := f.Strings(commit.KeyLayers)
				v[2] = commit.Hex(h)
				b.SetKV(commit.KeyLayers, gguf.ArrayValue(v))
				copyTensors(t, f, b, nil)
			})
		}(), "model commitment"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := open(t, tc.path)
			_, err := commit.Of(g)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, commit.ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not wrap ErrMismatch or does not mention %q", err, tc.want)
			}
		})
	}
	// The untouched files still verify.
	for _, x := range w {
		if _, err := commit.Of(open(t, x.Path)); err != nil {
			t.Errorf("%s: %v", x.Path, err)
		}
	}
}

func TestBadRanges(t *testing.T) {
	f := open(t, kjv)
	for _, tc := range []struct {
		ranges []model.Range
		want   string
	}{
		{nil, "no layer ranges"},
		{rs(0, 2, 2, 2, 2, 6), "2:2 is empty"},
		{rs(0, 3, 3, 7), "beyond the model's 6 layers"},
		{rs(1, 6), "layers 0:1 are in no range"},
		{rs(0, 2, 3, 6), "layers 2:3 are in no range"},
		{rs(0, 3, 2, 6), "overlap on layers 2:3"},
		{rs(0, 4, 2, 3, 3, 6), "overlap on layers 2:3"},
		{rs(0, 2, 4, 6, 2, 4), "listed in order"},
		{rs(0, 2, 2, 4), "layers 4:6 are in no range"},
		{rs(-1, 6), "negative"},
	} {
		dir := filepath.Join(t.TempDir(), "out")
		_, err := slice.Write(f, tc.ranges, dir, slice.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ranges %v: error %v, want one containing %q", tc.ranges, err, tc.want)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("ranges %v: output directory created despite the error", tc.ranges)
		}
	}
	// A slice cannot be sliced again.
	_, w := sliceKJV(t)
	if _, err := slice.Write(open(t, w[1].Path), rs(0, 6), t.TempDir(), slice.Options{}); err == nil || !strings.Contains(err.Error(), "itself a slice") {
		t.Errorf("slicing a slice: %v", err)
	}
	// Given commitments must fit the source.
	other, _ := commit.Compute(synthModel(t, "llama", false))
	if _, err := slice.Write(f, rs(0, 6), t.TempDir(), slice.Options{Commitments: &other}); err == nil {
		t.Error("commitments of another model accepted")
	}
}

func TestRanges(t *testing.T) {
	got, err := slice.Ranges("0:8,8:16, 16:22 ")
	if err != nil || !slices.Equal(got, rs(0, 8, 8, 16, 16, 22)) {
		t.Fatalf("Ranges = %v, %v", got, err)
	}
	for _, s := range []string{"", " ", "0:8,", "0-8", "0:8:9", "a:b", "0:8x", "3:3", "5:2", "-1:2", "0:+3", ":4", "4:"} {
		if r, err := slice.Ranges(s); err == nil {
			t.Errorf("Ranges(%q) = %v, want an error", s, r)
		}
	}
}

func TestBalancedKJV(t *testing.T) {
	f := open(t, kjv)
	for parts, want := range map[int][]model.Range{
		1: rs(0, 6),
		2: rs(0, 3, 3, 6),
		3: rs(0, 2, 2, 4, 4, 6),
		6: rs(0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6),
	} {
		got, err := slice.Balanced(f, parts)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Balanced(%d) = %v, %v; want %v", parts, got, err, want)
		}
	}
	for _, parts := range []int{0, -1, 7} {
		if _, err := slice.Balanced(f, parts); err == nil {
			t.Errorf("Balanced(%d) succeeded", parts)
		}
	}
}
