package commit

import (
	"fmt"
	"math"
	"strings"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
)

// Slice is a file's place in a model: the layers it holds and whether it
// holds the client tensors (embedding, final norm, head).
type Slice struct {
	Layers model.Range
	Client bool
}

// String describes the slice: "layers 0:2", "client", "client + layers 0:6".
func (s Slice) String() string {
	switch {
	case s.Layers.Len() == 0 && s.Client:
		return "client"
	case s.Layers.Len() == 0:
		return "nothing"
	case s.Client:
		return "client + layers " + s.Layers.String()
	}
	return "layers " + s.Layers.String()
}

// ReadSlice reads the tessera.slice.* keys of f. It returns ok == false if
// f has none of them (a whole model), and an error if they are incomplete
// or malformed.
func ReadSlice(f *gguf.File) (s Slice, ok bool, err error) {
	_, hasFirst := f.Lookup(KeySliceFirst)
	_, hasLast := f.Lookup(KeySliceLast)
	_, hasClient := f.Lookup(KeySliceClient)
	if !hasFirst && !hasLast && !hasClient {
		return Slice{}, false, nil
	}
	first, err := f.Uint(KeySliceFirst)
	if err != nil {
		return Slice{}, true, fmt.Errorf("commit: %w", err)
	}
	last, err := f.Uint(KeySliceLast)
	if err != nil {
		return Slice{}, true, fmt.Errorf("commit: %w", err)
	}
	if s.Client, err = f.Bool(KeySliceClient); err != nil {
		return Slice{}, true, fmt.Errorf("commit: %w", err)
	}
	if first > last || last > math.MaxInt32 {
		return Slice{}, true, fmt.Errorf("commit: slice layers %d:%d are not a valid range", first, last)
	}
	s.Layers = model.Range{First: int(first), Last: int(last)}
	return s, true, nil
}

// FromMetadata reads the commitments recorded in f's metadata (a slice
// file) and checks that they are consistent with each other: the client
// digests give the client commitment, and config, client and layer
// commitments give the model commitment. It does not read tensor data; Of
// also checks the tensors f holds.
func FromMetadata(f *gguf.File) (Commitments, error) {
	var c Commitments
	if _, ok := f.Lookup(KeyModel); !ok {
		return c, fmt.Errorf("commit: no %s key: the file carries no commitments (it is not a slice)", KeyModel)
	}
	for _, h := range []struct {
		key string
		dst *Hash
	}{{KeyModel, &c.Model}, {KeyConfig, &c.Config}, {KeyClient, &c.Client}} {
		s, err := f.String(h.key)
		if err != nil {
			return Commitments{}, fmt.Errorf("commit: %w", err)
		}
		if *h.dst, err = ParseHex(s); err != nil {
			return Commitments{}, fmt.Errorf("commit: key %s: %w", h.key, err)
		}
	}
	layers, err := f.Strings(KeyLayers)
	if err != nil {
		return Commitments{}, fmt.Errorf("commit: %w", err)
	}
	c.Layers = make([]Hash, len(layers))
	for i, s := range layers {
		if c.Layers[i], err = ParseHex(s); err != nil {
			return Commitments{}, fmt.Errorf("commit: key %s, layer %d: %w", KeyLayers, i, err)
		}
	}
	names, err := f.Strings(KeyClientTensors)
	if err != nil {
		return Commitments{}, fmt.Errorf("commit: %w", err)
	}
	digests, err := f.Strings(KeyClientDigests)
	if err != nil {
		return Commitments{}, fmt.Errorf("commit: %w", err)
	}
	if len(names) != len(digests) {
		return Commitments{}, fmt.Errorf("commit: %d client tensor names but %d digests", len(names), len(digests))
	}
	c.ClientTensors = make([]TensorDigest, len(names))
	for i, name := range names {
		if i > 0 && strings.Compare(names[i-1], name) >= 0 {
			return Commitments{}, fmt.Errorf("commit: key %s is not sorted and free of duplicates at %q", KeyClientTensors, name)
		}
		if _, ok := LayerOf(name); ok {
			return Commitments{}, fmt.Errorf("commit: key %s lists layer tensor %q", KeyClientTensors, name)
		}
		d, err := ParseHex(digests[i])
		if err != nil {
			return Commitments{}, fmt.Errorf("commit: key %s, tensor %q: %w", KeyClientDigests, name, err)
		}
		c.ClientTensors[i] = TensorDigest{Name: name, Digest: d}
	}
	if got := digestRoot(c.ClientTensors); got != c.Client {
		return Commitments{}, fmt.Errorf("commit: the recorded client tensor digests give client commitment %s, the file records %s: %w",
			Short(got), Short(c.Client), ErrMismatch)
	}
	if got := ModelRoot(c.Config, c.Client, c.Layers); got != c.Model {
		return Commitments{}, fmt.Errorf("commit: the recorded config, client and %d layer commitments give model commitment %s, the file records %s: %w",
			len(c.Layers), Short(got), Short(c.Model), ErrMismatch)
	}
	return c, nil
}

// SetKV records c and the slice s in b's metadata, replacing any tessera.*
// keys b already has (copied from a source file, say).
func (c Commitments) SetKV(b *gguf.Builder, s Slice) error {
	if s.Layers.First < 0 || s.Layers.Last < s.Layers.First || s.Layers.Last > len(c.Layers) {
		return fmt.Errorf("commit: slice layers %s outside the model's %d layers", s.Layers, len(c.Layers))
	}
	for _, kv := range b.KV() {
		if strings.HasPrefix(kv.Key, KeyPrefix) {
			b.DeleteKV(kv.Key)
		}
	}
	layers := make([]string, len(c.Layers))
	for i, h := range c.Layers {
		layers[i] = Hex(h)
	}
	names := make([]string, len(c.ClientTensors))
	digests := make([]string, len(c.ClientTensors))
	for i, t := range c.ClientTensors {
		names[i], digests[i] = t.Name, Hex(t.Digest)
	}
	for _, kv := range []gguf.KeyValue{
		{Key: KeyModel, Value: gguf.StringValue(Hex(c.Model))},
		{Key: KeyConfig, Value: gguf.StringValue(Hex(c.Config))},
		{Key: KeyClient, Value: gguf.StringValue(Hex(c.Client))},
		{Key: KeyLayers, Value: gguf.ArrayValue(layers)},
		{Key: KeyClientTensors, Value: gguf.ArrayValue(names)},
		{Key: KeyClientDigests, Value: gguf.ArrayValue(digests)},
		{Key: KeySliceFirst, Value: gguf.Uint32Value(uint32(s.Layers.First))},
		{Key: KeySliceLast, Value: gguf.Uint32Value(uint32(s.Layers.Last))},
		{Key: KeySliceClient, Value: gguf.BoolValue(s.Client)},
	} {
		if err := b.AddKV(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}

// Of returns the commitments of the model that f is, or is a slice of. For
// a whole model (no tessera.commit.* keys) it is Compute. For a slice it
// reads the recorded commitments (FromMetadata) and checks them against
// what the file holds: the hyperparameters in its metadata, the layer
// range it declares, and the hash of every tensor it holds. A file that
// holds a tensor outside its declared range or the committed model, lacks
// one, or whose bytes, names, shapes or hyperparameters differ from the
// committed ones is rejected with an error wrapping ErrMismatch.
func Of(f *gguf.File, opts ...Option) (Commitments, error) {
	if _, ok := f.Lookup(KeyModel); !ok {
		return Compute(f, opts...)
	}
	c, err := FromMetadata(f)
	if err != nil {
		return Commitments{}, err
	}
	s, ok, err := ReadSlice(f)
	if err != nil {
		return Commitments{}, err
	}
	if !ok {
		return Commitments{}, fmt.Errorf("commit: the file records commitments but no %s/%s/%s keys", KeySliceFirst, KeySliceLast, KeySliceClient)
	}
	if err := c.verifySlice(f, s, buildOptions(opts)); err != nil {
		return Commitments{}, err
	}
	return c, nil
}

func mismatch(format string, args ...any) error {
	return fmt.Errorf("commit: "+format+": %w", append(args, ErrMismatch)...)
}

// verifySlice checks the tensors and hyperparameters of f against c.
func (c Commitments) verifySlice(f *gguf.File, s Slice, o options) error {
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if got := ConfigHash(cfg); got != c.Config {
		return mismatch("the hyperparameters in the file's metadata hash to %s, the committed config hash is %s", Short(got), Short(c.Config))
	}
	if len(c.Layers) != cfg.Layers {
		return mismatch("the file records %d layer commitments for a model of %d layers", len(c.Layers), cfg.Layers)
	}
	if s.Layers.Last > cfg.Layers {
		return fmt.Errorf("commit: slice layers %s outside the model's %d layers", s.Layers, cfg.Layers)
	}
	byLayer, rest, err := classify(f, cfg.Layers)
	if err != nil {
		return fmt.Errorf("%w: %w", err, ErrMismatch)
	}
	for i, ts := range byLayer {
		inRange := i >= s.Layers.First && i < s.Layers.Last
		switch {
		case inRange && len(ts) == 0:
			return mismatch("layer %d is in the slice's range %s but the file holds none of its tensors", i, s.Layers)
		case !inRange && len(ts) > 0:
			return mismatch("the file holds tensor %q of layer %d, outside its range %s", f.Tensors[ts[0]].Name, i, s.Layers)
		}
	}
	recorded := make(map[string]Hash, len(c.ClientTensors))
	for _, t := range c.ClientTensors {
		recorded[t.Name] = t.Digest
	}
	for _, k := range rest {
		if _, ok := recorded[f.Tensors[k].Name]; !ok {
			return mismatch("tensor %q is not part of the committed model", f.Tensors[k].Name)
		}
	}
	if s.Client {
		for _, t := range c.ClientTensors {
			if _, ok := f.Tensor(t.Name); !ok {
				return mismatch("the file is a client slice but lacks tensor %q", t.Name)
			}
		}
	}

	all := make([]int, len(f.Tensors))
	for k := range all {
		all[k] = k
	}
	hashes, err := hashTensors(f, all, o)
	if err != nil {
		return err
	}
	digest := func(k int) Hash { return Digest(f.Tensors[k], hashes[k]) }
	for _, k := range rest {
		name := f.Tensors[k].Name
		if got := digest(k); got != recorded[name] {
			return mismatch("tensor %q hashes to digest %s, the committed digest is %s (the file is corrupt or was altered)", name, Short(got), Short(recorded[name]))
		}
	}
	for i := s.Layers.First; i < s.Layers.Last; i++ {
		d := make([]TensorDigest, len(byLayer[i]))
		for j, k := range byLayer[i] {
			d[j] = TensorDigest{Name: f.Tensors[k].Name, Digest: digest(k)}
		}
		if got := digestRoot(d); got != c.Layers[i] {
			return mismatch("layer %d: the file's tensors hash to %s, the committed layer commitment is %s (the file is corrupt or was altered)", i, Short(got), Short(c.Layers[i]))
		}
	}
	return nil
}
