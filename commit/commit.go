// Package commit computes and checks the identity of a model: content
// commitments over its tensors, its layers and its hyperparameters
// (DESIGN.md section 4). A slice file carries the commitments of the whole
// model in its metadata, so a node can show which model and layers it
// serves without holding the rest, and anyone holding the slice can check
// that its tensors are the committed ones.
//
// # Definitions
//
// All hashes are SHA-256; Merkle roots are those of package merkle (RFC
// 6962: leaf = H(0x00 || datum), node = H(0x01 || left || right), an odd
// node promoted unchanged).
//
//   - Tensor commitment: H(the tensor's raw bytes as stored in the GGUF
//     file). See TensorHash.
//   - Tensor digest: H(u64 len(name) || name || u32 type || u32 ndims ||
//     u64 dims... || tensor commitment), integers little-endian. Binding the
//     name, type and shape means that renaming a tensor, or re-labelling
//     its bytes with another type or shape, changes every commitment above
//     it. See Digest.
//   - Layer commitment of layer i: Merkle root over the digests of the
//     tensors named blk.i.*, sorted by name (byte order).
//   - Client commitment: Merkle root over the digests of every tensor that
//     belongs to no layer (token_embd, output_norm, output, rope_freqs …),
//     sorted by name.
//   - Config hash: H(canonical encoding of the hyperparameters that change
//     the computation); see ConfigHash for the exact encoding and for the
//     fields left out.
//   - Model commitment: Merkle root over the leaves
//     [config hash, client commitment, layer 0, …, layer L-1], so layer i is
//     leaf i+2 (LayerLeaf). The number of layers L is part of the config
//     hash, which binds the tree size to the root.
//
// # Metadata
//
// A slice file (package slice) records the commitments of the whole model
// and its own place in it:
//
//	tessera.commit.model           string, hex
//	tessera.commit.config          string, hex
//	tessera.commit.client          string, hex
//	tessera.commit.layers          array of L hex strings
//	tessera.commit.client_tensors  array of the non-layer tensor names, sorted
//	tessera.commit.client_digests  array of their tensor digests, hex
//	tessera.slice.first            uint32, first layer held
//	tessera.slice.last             uint32, one past the last layer held
//	tessera.slice.client           bool, whether it holds the client tensors
//
// The client digests let any file check the non-layer tensors it holds
// (a layer slice holds rope_freqs.weight when the model has one) and let a
// client file be checked against the client commitment on its own.
package commit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/merkle"
	"github.com/tessera-net/tessera/model"
)

// Hash is a SHA-256 hash or Merkle root.
type Hash = [merkle.Size]byte

// Metadata keys.
const (
	KeyPrefix        = "tessera."
	KeyModel         = "tessera.commit.model"
	KeyConfig        = "tessera.commit.config"
	KeyClient        = "tessera.commit.client"
	KeyLayers        = "tessera.commit.layers"
	KeyClientTensors = "tessera.commit.client_tensors"
	KeyClientDigests = "tessera.commit.client_digests"
	KeySliceFirst    = "tessera.slice.first"
	KeySliceLast     = "tessera.slice.last"
	KeySliceClient   = "tessera.slice.client"
)

// ErrMismatch is wrapped by every error that reports tensors or metadata
// that do not match the recorded commitments (a corrupt or tampered file).
var ErrMismatch = errors.New("commitment mismatch")

// TensorDigest is a tensor's name and digest (see Digest).
type TensorDigest struct {
	Name   string
	Digest Hash
}

// Commitments identify a model: the model commitment and the parts it is
// built from.
type Commitments struct {
	Model  Hash
	Config Hash
	Client Hash
	Layers []Hash // one per layer of the whole model
	// ClientTensors are the leaves of the client commitment: the tensors
	// outside every layer, sorted by name.
	ClientTensors []TensorDigest
}

// String returns a short hex form of the model commitment, for display.
func (c Commitments) String() string { return Short(c.Model) }

// Equal reports whether c and d are the same commitments.
func (c Commitments) Equal(d Commitments) bool {
	return c.Model == d.Model && c.Config == d.Config && c.Client == d.Client &&
		slices.Equal(c.Layers, d.Layers) && slices.Equal(c.ClientTensors, d.ClientTensors)
}

// Hex returns the full lowercase hex form of h.
func Hex(h Hash) string { return hex.EncodeToString(h[:]) }

// Short returns the first 12 hex digits of h, for display.
func Short(h Hash) string { return Hex(h)[:12] }

// ParseHex parses the 64-digit hex form of a hash.
func ParseHex(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("commit: hash %q has %d hex digits, want %d", s, len(s), 2*len(h))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("commit: hash %q: %w", s, err)
	}
	return h, nil
}

// LayerOf returns the layer index of a tensor named blk.N.*, and false for
// tensors outside the layers.
func LayerOf(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ".")
	if !ok || num == "" || len(num) > 9 {
		return 0, false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	i, _ := strconv.Atoi(num)
	return i, true
}

// Digest returns the digest of a tensor with the given info (name, type,
// dims) and tensor commitment (the hash of its bytes).
func Digest(info gguf.TensorInfo, tensorHash Hash) Hash {
	le := binary.LittleEndian
	b := make([]byte, 0, 8+len(info.Name)+8+8*len(info.Dims)+len(tensorHash))
	b = le.AppendUint64(b, uint64(len(info.Name)))
	b = append(b, info.Name...)
	b = le.AppendUint32(b, uint32(info.Type))
	b = le.AppendUint32(b, uint32(len(info.Dims)))
	for _, d := range info.Dims {
		b = le.AppendUint64(b, d)
	}
	b = append(b, tensorHash[:]...)
	return sha256.Sum256(b)
}

// TensorHash returns the tensor commitment of the named tensor of f: the
// SHA-256 of its bytes.
func TensorHash(f *gguf.File, name string) (Hash, error) {
	data, err := f.TensorData(name)
	if err != nil {
		return Hash{}, fmt.Errorf("commit: %w", err)
	}
	return sha256.Sum256(data), nil
}

// configVersion starts the canonical encoding of a Config; bump it when the
// encoding changes.
const configVersion = "tessera/config/v1"

// ConfigHash returns the hash of the hyperparameters of c that change what
// a layer computes. The encoding is configVersion ("tessera/config/v1"),
// then, little-endian: Arch (u64 length + bytes); Dim, Layers, Heads,
// KVHeads, HeadDim, FF, RopeDim (u64 each); NormEps (float32 bits, u32);
// RopeBase, RopeScale (float64 bits, u64 each); RopeNeox, QKVBias (one
// byte each, 0 or 1).
//
// Vocab and ContextLen are left out: the vocabulary size is fixed by the
// shapes of token_embd/output, which the client commitment binds (and a
// layer slice, holding neither, can only infer it from the tokenizer), and
// the trained context length does not change the computation of any
// position.
func ConfigHash(c model.Config) Hash {
	le := binary.LittleEndian
	b := []byte(configVersion)
	b = le.AppendUint64(b, uint64(len(c.Arch)))
	b = append(b, c.Arch...)
	for _, v := range []int{c.Dim, c.Layers, c.Heads, c.KVHeads, c.HeadDim, c.FF, c.RopeDim} {
		b = le.AppendUint64(b, uint64(v))
	}
	b = le.AppendUint32(b, math.Float32bits(c.NormEps))
	b = le.AppendUint64(b, math.Float64bits(c.RopeBase))
	b = le.AppendUint64(b, math.Float64bits(c.RopeScale))
	for _, v := range []bool{c.RopeNeox, c.QKVBias} {
		if v {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return sha256.Sum256(b)
}

// LayerLeaf is the index of layer i's leaf in the model commitment's tree.
func LayerLeaf(i int) int { return i + 2 }

// modelLeaves returns the leaves of the model commitment.
func modelLeaves(config, client Hash, layers []Hash) []Hash {
	leaves := make([]Hash, 0, 2+len(layers))
	leaves = append(leaves, config, client)
	return append(leaves, layers...)
}

// ModelRoot returns the model commitment over a config hash, a client
// commitment and the layer commitments.
func ModelRoot(config, client Hash, layers []Hash) Hash {
	return merkle.Root(modelLeaves(config, client, layers))
}

// LayerProof returns the Merkle proof that Layers[i] is leaf LayerLeaf(i)
// of the model commitment, or nil if i is out of range. With
// VerifyLayerProof, a node shows which model a layer belongs to without
// sending the other layers' commitments.
func (c Commitments) LayerProof(i int) []Hash {
	if i < 0 || i >= len(c.Layers) {
		return nil
	}
	return merkle.Proof(modelLeaves(c.Config, c.Client, c.Layers), LayerLeaf(i))
}

// VerifyLayerProof reports whether proof shows that layer is the commitment
// of layer i of the model with commitment modelRoot and the given number of
// layers (which the verifier must know, e.g. from the committed config).
func VerifyLayerProof(modelRoot, layer Hash, i, layers int, proof []Hash) bool {
	if i < 0 || i >= layers {
		return false
	}
	return merkle.Verify(modelRoot, layer, LayerLeaf(i), layers+2, proof)
}

// Option configures Compute and Of.
type Option func(*options)

type options struct {
	progress func(done, total int64)
	workers  int
}

// WithProgress reports progress in bytes hashed, out of the total to hash.
// fn is called from the hashing goroutines, one call at a time, with done
// increasing; the last call has done == total.
func WithProgress(fn func(done, total int64)) Option {
	return func(o *options) { o.progress = fn }
}

// WithWorkers sets how many tensors are hashed at once (default
// GOMAXPROCS).
func WithWorkers(n int) Option {
	return func(o *options) { o.workers = n }
}

func buildOptions(opts []Option) options {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	if o.workers <= 0 {
		o.workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// chunk is how many bytes are hashed between progress reports.
const chunk = 4 << 20

// hashTensors returns the tensor commitments of the tensors of f at the
// given indices (in f.Tensors), hashing several tensors at once, largest
// first.
func hashTensors(f *gguf.File, idx []int, o options) ([]Hash, error) {
	out := make([]Hash, len(idx))
	order := make([]int, len(idx)) // positions in idx, largest tensor first
	var total int64
	for k := range order {
		order[k] = k
		total += int64(f.Tensors[idx[k]].Size)
	}
	slices.SortStableFunc(order, func(a, b int) int {
		sa, sb := f.Tensors[idx[a]].Size, f.Tensors[idx[b]].Size
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	var (
		mu       sync.Mutex
		done     int64
		next     int
		firstErr error
	)
	report := func(n int64) {
		if o.progress == nil {
			return
		}
		mu.Lock()
		done += n
		o.progress(done, total)
		mu.Unlock()
	}
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next == len(order) || firstErr != nil {
			return 0, false
		}
		next++
		return order[next-1], true
	}
	var wg sync.WaitGroup
	for range min(o.workers, len(order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := sha256.New()
			for {
				k, ok := take()
				if !ok {
					return
				}
				name := f.Tensors[idx[k]].Name
				data, err := f.TensorData(name)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("commit: %w", err)
					}
					mu.Unlock()
					return
				}
				h.Reset()
				for len(data) > 0 {
					n := min(len(data), chunk)
					h.Write(data[:n])
					data = data[n:]
					report(int64(n))
				}
				h.Sum(out[k][:0])
				// Hashing touched every page; a node that serves a few
				// layers of this file must not keep them all resident.
				f.Release(name)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if o.progress != nil && total == 0 {
		o.progress(0, 0)
	}
	return out, nil
}

// digestRoot sorts d by name and returns the Merkle root over the digests.
func digestRoot(d []TensorDigest) Hash {
	slices.SortFunc(d, func(a, b TensorDigest) int { return strings.Compare(a.Name, b.Name) })
	leaves := make([]Hash, len(d))
	for i := range d {
		leaves[i] = d[i].Digest
	}
	return merkle.Root(leaves)
}

// classify splits the tensors of f into layer tensors (by layer, up to
// layers) and the rest, by index in f.Tensors.
func classify(f *gguf.File, layers int) (byLayer [][]int, rest []int, err error) {
	byLayer = make([][]int, layers)
	for k, t := range f.Tensors {
		i, ok := LayerOf(t.Name)
		if !ok {
			rest = append(rest, k)
			continue
		}
		if i >= layers {
			return nil, nil, fmt.Errorf("commit: tensor %q belongs to layer %d, but the model has %d layers", t.Name, i, layers)
		}
		byLayer[i] = append(byLayer[i], k)
	}
	return byLayer, rest, nil
}

// Compute returns the commitments of the whole model in f, hashing every
// tensor (reading the file once, through the mapping). f must hold every
// layer: use Of for a file that may be a slice.
func Compute(f *gguf.File, opts ...Option) (Commitments, error) {
	o := buildOptions(opts)
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return Commitments{}, fmt.Errorf("commit: %w", err)
	}
	byLayer, rest, err := classify(f, cfg.Layers)
	if err != nil {
		return Commitments{}, err
	}
	for i, ts := range byLayer {
		if len(ts) == 0 {
			hint := ""
			if _, ok := f.Lookup(KeyModel); ok {
				hint = " (the file is a slice of a model, not the whole model)"
			}
			return Commitments{}, fmt.Errorf("commit: layer %d of %d has no tensors%s", i, cfg.Layers, hint)
		}
	}
	all := make([]int, len(f.Tensors))
	for k := range all {
		all[k] = k
	}
	hashes, err := hashTensors(f, all, o)
	if err != nil {
		return Commitments{}, err
	}
	digestsOf := func(ts []int) []TensorDigest {
		d := make([]TensorDigest, len(ts))
		for j, k := range ts {
			d[j] = TensorDigest{Name: f.Tensors[k].Name, Digest: Digest(f.Tensors[k], hashes[k])}
		}
		return d
	}
	c := Commitments{Config: ConfigHash(cfg), Layers: make([]Hash, cfg.Layers)}
	for i, ts := range byLayer {
		c.Layers[i] = digestRoot(digestsOf(ts))
	}
	c.ClientTensors = digestsOf(rest)
	c.Client = digestRoot(c.ClientTensors)
	c.Model = ModelRoot(c.Config, c.Client, c.Layers)
	return c, nil
}

// Layer returns the commitment of layer i as held by f, hashing its
// tensors. It fails if f holds no tensor of layer i.
func Layer(f *gguf.File, i int, opts ...Option) (Hash, error) {
	var idx []int
	for k, t := range f.Tensors {
		if j, ok := LayerOf(t.Name); ok && j == i {
			idx = append(idx, k)
		}
	}
	if len(idx) == 0 {
		return Hash{}, fmt.Errorf("commit: the file holds no tensor of layer %d", i)
	}
	hashes, err := hashTensors(f, idx, buildOptions(opts))
	if err != nil {
		return Hash{}, err
	}
	d := make([]TensorDigest, len(idx))
	for j, k := range idx {
		d[j] = TensorDigest{Name: f.Tensors[k].Name, Digest: Digest(f.Tensors[k], hashes[j])}
	}
	return digestRoot(d), nil
}

// VerifyLayer checks that the tensors of layer i held by f hash to the
// commitment of layer i in c.
func (c Commitments) VerifyLayer(i int, f *gguf.File) error {
	if i < 0 || i >= len(c.Layers) {
		return fmt.Errorf("commit: layer %d outside the model's %d layers", i, len(c.Layers))
	}
	got, err := Layer(f, i)
	if err != nil {
		return err
	}
	if got != c.Layers[i] {
		return fmt.Errorf("commit: layer %d: tensors hash to %s, the commitment is %s: %w", i, Short(got), Short(c.Layers[i]), ErrMismatch)
	}
	return nil
}
