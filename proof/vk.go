package proof

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/quant"
)

// The weight matrices of a layer, in the order of LayerKey.Mats.
const (
	MatQ = iota
	MatK
	MatV
	MatO
	MatGate
	MatUp
	MatDown
	NumMats
)

var matNames = [NumMats]string{"q", "k", "v", "o", "gate", "up", "down"}
var matTensors = [NumMats]string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}

// MatName names matrix m ("q", "k", …, "down").
func MatName(m int) string {
	if m < 0 || m >= NumMats {
		return fmt.Sprintf("mat%d", m)
	}
	return matNames[m]
}

// MatTensor is the GGUF tensor name of matrix m of layer i.
func MatTensor(i, m int) string { return fmt.Sprintf("blk.%d.%s.weight", i, matTensors[m]) }

// matShape is (rows, cols) of matrix m for config c.
func matShape(c model.Config, m int) (rows, cols int) {
	qDim := c.Heads * c.HeadDim
	switch m {
	case MatQ:
		return qDim, c.Dim
	case MatK, MatV:
		return c.KVDim(), c.Dim
	case MatO:
		return c.Dim, qDim
	case MatGate, MatUp:
		return c.FF, c.Dim
	}
	return c.Dim, c.FF // MatDown
}

// MatKey is the secret Freivalds key of one weight matrix W (rows × cols):
// for each of the key's Reps random vectors r (rows values, uniform in
// ±[1, 2), derived from the key's seed), s = rᵀW (cols values), the bias
// term r·b, and for weight types whose kernels add an f16-rounded block
// sum (q4_1, q5_1: Q8_1 activations) t = rᵀM with M the per-block mins.
type MatKey struct {
	Type       quant.Type
	Rows, Cols int
	S          [][]float32 // per rep: rᵀW
	T          [][]float32 // per rep: rᵀM (cols/32 values) for q4_1 and q5_1, else nil
	RB         []float64   // per rep: r·bias (0 without bias)
	r          [][]float32 // per rep: r, derived from the seed on load
}

// LayerKey holds one layer's matrix keys and its norm weights (public
// model parameters the checks recompute with).
type LayerKey struct {
	Layer             int
	AttnNorm, FFNNorm []float32
	Mats              [NumMats]MatKey
}

// VerificationKey is the secret key an auditor checks openings with
// (DESIGN section 5). It must never be sent to nodes: anyone holding it
// can forge results that pass its Freivalds checks.
type VerificationKey struct {
	Commit    commit.Commitments // Model, Config, Client, Layers (ClientTensors not stored)
	Config    model.Config
	Range     model.Range
	Reps      int      // independent Freivalds vectors per matrix
	Seed      [32]byte // the secret every r is derived from
	RopeFreqs []float32
	Layers    []LayerKey
}

// Layer returns the key of model layer i, or nil.
func (vk *VerificationKey) Layer(i int) *LayerKey {
	if i < vk.Range.First || i >= vk.Range.Last {
		return nil
	}
	return &vk.Layers[i-vk.Range.First]
}

// Covers reports whether the key holds every layer of r.
func (vk *VerificationKey) Covers(r model.Range) bool {
	return r.First >= vk.Range.First && r.Last <= vk.Range.Last && r.Len() > 0
}

// R returns the secret vector r of rep k of matrix m of layer i.
func (vk *VerificationKey) R(i, m, k int) []float32 { return vk.Layer(i).Mats[m].r[k] }

// deriveR fills r (len rows) from the seed: entries uniform in ±[1, 2).
// Entries bounded away from zero make a perturbation of a single output
// element e change r·y by at least |e|, so it cannot hide behind a tiny
// coefficient; random signs and magnitudes make any other perturbation δ
// give |r·δ| below t with probability at most t/max|δ_i| (the density of
// r_i·δ_i is at most 1/(2|δ_i|)).
func deriveR(seed [32]byte, layer, mat, rep, rows int) []float32 {
	b := []byte("tessera/vk/r/v1")
	b = append(b, seed[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(layer))
	b = binary.LittleEndian.AppendUint32(b, uint32(mat))
	b = binary.LittleEndian.AppendUint32(b, uint32(rep))
	rng := rand.New(rand.NewChaCha8(sha256.Sum256(b)))
	r := make([]float32, rows)
	for i := range r {
		u := rng.Uint64()
		v := 1 + float32(float32(u>>40)/(1<<24)) // [1, 2), exact in float32
		if u&1 == 1 {
			v = -v
		}
		r[i] = v
	}
	return r
}

func (vk *VerificationKey) deriveAll() {
	for li := range vk.Layers {
		l := &vk.Layers[li]
		for m := range l.Mats {
			mk := &l.Mats[m]
			mk.r = make([][]float32, vk.Reps)
			for k := range mk.r {
				mk.r[k] = deriveR(vk.Seed, l.Layer, m, k, mk.Rows)
			}
		}
	}
}

// VKOptions configure GenerateVK.
type VKOptions struct {
	// Reps is the number of independent Freivalds vectors per matrix
	// (0: DefaultReps). Each one multiplies the key's size and the audit's
	// matrix work; the chance that a perturbation passes is the product of
	// the chances of each.
	Reps int
	// Workers bounds the matrices processed at once (0: 1).
	Workers int
	// Progress, if set, is called after each matrix with the bytes of
	// weights read so far and the total.
	Progress func(done, total int64)
}

// DefaultReps is the number of Freivalds vectors per matrix of a new key.
const DefaultReps = 2

// MaxReps bounds VKOptions.Reps.
const MaxReps = 8

// GenerateVK builds the verification key of layers r of the model held in
// f (a whole model or a slice) from a secret seed, reading every weight
// once: s = rᵀW is accumulated row by row in float64 from the
// dequantized rows and stored as float32. c must be the commitments of
// the model f belongs to, checked against f (commit.Of). The result
// depends only on f, r, c, seed and Reps.
func GenerateVK(f *gguf.File, c commit.Commitments, r model.Range, seed [32]byte, opts VKOptions) (*VerificationKey, error) {
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	if r.First < 0 || r.Last > cfg.Layers || r.Len() <= 0 {
		return nil, fmt.Errorf("proof: layer range %s outside the model's %d layers", r, cfg.Layers)
	}
	if commit.ConfigHash(cfg) != c.Config || len(c.Layers) != cfg.Layers {
		return nil, errors.New("proof: the commitments do not belong to this model's configuration")
	}
	reps := opts.Reps
	if reps == 0 {
		reps = DefaultReps
	}
	if reps < 1 || reps > MaxReps {
		return nil, fmt.Errorf("proof: %d Freivalds vectors per matrix; want 1..%d", reps, MaxReps)
	}
	vk := &VerificationKey{
		Commit: commit.Commitments{Model: c.Model, Config: c.Config, Client: c.Client, Layers: append([]Hash(nil), c.Layers...)},
		Config: cfg, Range: r, Reps: reps, Seed: seed,
	}
	if _, ok := f.Tensor("rope_freqs.weight"); ok {
		if vk.RopeFreqs, err = tensorVector(f, "rope_freqs.weight", cfg.RopeDim/2); err != nil {
			return nil, err
		}
	}
	type job struct{ li, m int }
	var jobs []job
	var total int64
	vk.Layers = make([]LayerKey, r.Len())
	for li := range vk.Layers {
		i := r.First + li
		l := &vk.Layers[li]
		l.Layer = i
		if l.AttnNorm, err = tensorVector(f, fmt.Sprintf("blk.%d.attn_norm.weight", i), cfg.Dim); err != nil {
			return nil, err
		}
		if l.FFNNorm, err = tensorVector(f, fmt.Sprintf("blk.%d.ffn_norm.weight", i), cfg.Dim); err != nil {
			return nil, err
		}
		for m := 0; m < NumMats; m++ {
			info, ok := f.Tensor(MatTensor(i, m))
			if !ok {
				return nil, fmt.Errorf("proof: tensor %s is missing", MatTensor(i, m))
			}
			rows, cols := matShape(cfg, m)
			if len(info.Dims) != 2 || info.Dims[0] != uint64(cols) || info.Dims[1] != uint64(rows) {
				return nil, fmt.Errorf("proof: tensor %s has shape %v, want [%d %d]", info.Name, info.Dims, cols, rows)
			}
			if !info.Type.IsSupported() || cols%info.Type.BlockSize() != 0 {
				return nil, fmt.Errorf("proof: tensor %s has type %v", info.Name, info.Type)
			}
			l.Mats[m] = MatKey{Type: info.Type, Rows: rows, Cols: cols}
			jobs = append(jobs, job{li, m})
			total += int64(info.Size)
		}
	}
	vk.deriveAll()

	workers := max(1, opts.Workers)
	var (
		mu   sync.Mutex
		done int64
		errs = make([]error, len(jobs))
		next = make(chan int)
		wg   sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				li, m := jobs[j].li, jobs[j].m
				n, err := vk.fillMat(f, li, m)
				errs[j] = err
				if opts.Progress != nil {
					mu.Lock()
					done += n
					opts.Progress(done, total)
					mu.Unlock()
				}
			}
		}()
	}
	for j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return vk, nil
}

// fillMat computes S, T and RB of one matrix, streaming its rows.
func (vk *VerificationKey) fillMat(f *gguf.File, li, m int) (int64, error) {
	l := &vk.Layers[li]
	mk := &l.Mats[m]
	name := MatTensor(l.Layer, m)
	data, err := f.TensorData(name)
	if err != nil {
		return 0, fmt.Errorf("proof: %w", err)
	}
	rb, err := mk.Type.RowBytes(mk.Cols)
	if err != nil || len(data) != rb*mk.Rows {
		return 0, fmt.Errorf("proof: tensor %s holds %d bytes, want %d rows of %d", name, len(data), mk.Rows, rb)
	}
	withT := actOf(mk.Type) == actQ8_1
	acc := make([][]float64, vk.Reps)
	accT := make([][]float64, vk.Reps)
	for k := range acc {
		acc[k] = make([]float64, mk.Cols)
		if withT {
			accT[k] = make([]float64, mk.Cols/32)
		}
	}
	row := make([]float32, mk.Cols)
	bb := mk.Type.BlockBytes()
	for i := 0; i < mk.Rows; i++ {
		src := data[i*rb : (i+1)*rb]
		if err := quant.Dequantize(mk.Type, row, src); err != nil {
			return 0, fmt.Errorf("proof: %s row %d: %w", name, i, err)
		}
		for k := range acc {
			ri := float64(mk.r[k][i])
			a := acc[k]
			for j, w := range row {
				a[j] += float64(ri * float64(w))
			}
			if withT {
				// Q4_1 and Q5_1 blocks start with the f16 scale and the
				// f16 min.
				for b := range accT[k] {
					accT[k][b] += float64(ri * float64(quant.FP16ToFP32(binary.LittleEndian.Uint16(src[b*bb+2:]))))
				}
			}
		}
	}
	mk.S = make([][]float32, vk.Reps)
	mk.RB = make([]float64, vk.Reps)
	if withT {
		mk.T = make([][]float32, vk.Reps)
	}
	for k := range acc {
		mk.S[k] = toF32(acc[k])
		if withT {
			mk.T[k] = toF32(accT[k])
		}
	}
	if vk.Config.QKVBias && (m == MatQ || m == MatK || m == MatV) {
		bias, err := tensorVector(f, fmt.Sprintf("blk.%d.%s.bias", l.Layer, matTensors[m]), mk.Rows)
		if err != nil {
			return 0, err
		}
		for k := range mk.RB {
			var s float64
			for i, b := range bias {
				s += float64(float64(mk.r[k][i]) * float64(b))
			}
			mk.RB[k] = s
		}
	}
	return int64(len(data)), nil
}

func toF32(a []float64) []float32 {
	out := make([]float32, len(a))
	for i, v := range a {
		out[i] = float32(v)
	}
	return out
}

func tensorVector(f *gguf.File, name string, n int) ([]float32, error) {
	info, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("proof: tensor %q is missing", name)
	}
	if len(info.Dims) != 1 || info.Dims[0] != uint64(n) {
		return nil, fmt.Errorf("proof: tensor %q has shape %v, want [%d]", name, info.Dims, n)
	}
	data, err := f.TensorData(name)
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	v := make([]float32, n)
	if err := quant.Dequantize(info.Type, v, data); err != nil {
		return nil, fmt.Errorf("proof: tensor %q: %w", name, err)
	}
	return v, nil
}

// ---- file format ----

// VKVersion is the version of the key file format.
const VKVersion = 1

const vkMagic = "tessera-vk\x00\x00"

// Marshal encodes the key as a file:
//
//	magic "tessera-vk\0\0", u32 version
//	model, config and client commitments (32 bytes each), u32 L, L layer commitments
//	config: arch (u32 length + bytes), u32 dim, layers, heads, kv heads, head dim,
//	        ff, vocab, context, rope dim; u32 norm eps bits; f64 rope base, rope scale;
//	        u8 neox, u8 qkv bias
//	u32 first, u32 last, u32 reps, 32-byte seed, rope freqs (u32 count + f32s)
//	per layer: u32 index, attn norm, ffn norm (u32 count + f32s each), then per
//	        matrix q k v o gate up down: u32 type, u32 rows, u32 cols and per rep
//	        s (count + f32s), t (count + f32s), f64 r·bias
//	trailer: SHA-256 of everything before it
//
// All integers and floats little-endian.
func (vk *VerificationKey) Marshal() []byte {
	e := enc{}
	e.raw([]byte(vkMagic))
	e.u32(VKVersion)
	e.hash(vk.Commit.Model)
	e.hash(vk.Commit.Config)
	e.hash(vk.Commit.Client)
	e.hashes(vk.Commit.Layers)
	encodeConfig(&e, vk.Config)
	e.u32(uint32(vk.Range.First))
	e.u32(uint32(vk.Range.Last))
	e.u32(uint32(vk.Reps))
	e.raw(vk.Seed[:])
	e.f32s(vk.RopeFreqs)
	for _, l := range vk.Layers {
		e.u32(uint32(l.Layer))
		e.f32s(l.AttnNorm)
		e.f32s(l.FFNNorm)
		for m := range l.Mats {
			mk := &l.Mats[m]
			e.u32(uint32(mk.Type))
			e.u32(uint32(mk.Rows))
			e.u32(uint32(mk.Cols))
			for k := 0; k < vk.Reps; k++ {
				e.f32s(mk.S[k])
				if mk.T != nil {
					e.f32s(mk.T[k])
				} else {
					e.f32s(nil)
				}
				e.f64(mk.RB[k])
			}
		}
	}
	sum := sha256.Sum256(e.b)
	e.hash(sum)
	return e.b
}

func encodeConfig(e *enc, c model.Config) {
	e.str(c.Arch)
	for _, v := range []int{c.Dim, c.Layers, c.Heads, c.KVHeads, c.HeadDim, c.FF, c.Vocab, c.ContextLen, c.RopeDim} {
		e.u32(uint32(v))
	}
	e.u32(math.Float32bits(c.NormEps))
	e.f64(c.RopeBase)
	e.f64(c.RopeScale)
	e.bool(c.RopeNeox)
	e.bool(c.QKVBias)
}

// dimLimit bounds every dimension of a decoded config.
const dimLimit = 1 << 20

func decodeConfig(d *dec) model.Config {
	var c model.Config
	c.Arch = d.str(64)
	ints := []*int{&c.Dim, &c.Layers, &c.Heads, &c.KVHeads, &c.HeadDim, &c.FF, &c.Vocab, &c.ContextLen, &c.RopeDim}
	for _, p := range ints {
		*p = int(d.u32())
	}
	c.NormEps = math.Float32frombits(d.u32())
	c.RopeBase = d.f64()
	c.RopeScale = d.f64()
	c.RopeNeox = d.bool()
	c.QKVBias = d.bool()
	if d.err != nil {
		return c
	}
	for _, p := range []int{c.Dim, c.Layers, c.Heads, c.KVHeads, c.HeadDim, c.FF, c.RopeDim} {
		if p < 0 || p > dimLimit {
			d.fail("config dimension %d out of range", p)
			return c
		}
	}
	switch {
	case c.Dim < 1 || c.Layers < 1 || c.Heads < 1 || c.KVHeads < 1 || c.HeadDim < 1 || c.FF < 1:
		d.fail("config has an empty dimension")
	case c.Heads%c.KVHeads != 0:
		d.fail("config: %d heads, %d kv heads", c.Heads, c.KVHeads)
	case c.RopeDim > c.HeadDim || c.RopeDim%2 != 0:
		d.fail("config: rope dim %d for head dim %d", c.RopeDim, c.HeadDim)
	case c.Heads*c.HeadDim > dimLimit || c.Layers > layerLimit:
		d.fail("config too large")
	case math.IsNaN(float64(c.NormEps)) || c.NormEps < 0 || c.RopeBase <= 1 || c.RopeScale <= 0:
		d.fail("config: bad norm epsilon or rope parameters")
	}
	return c
}

// UnmarshalVK decodes and checks a key file: magic, version, checksum,
// shapes against the configuration, and the binding of the configuration
// and layer commitments to the model commitment.
func UnmarshalVK(b []byte) (*VerificationKey, error) {
	if len(b) < len(vkMagic)+4+32 {
		return nil, fmt.Errorf("%w: verification key of %d bytes is truncated", ErrMalformed, len(b))
	}
	if string(b[:len(vkMagic)]) != vkMagic {
		return nil, fmt.Errorf("%w: not a verification key file (bad magic)", ErrMalformed)
	}
	if v := binary.LittleEndian.Uint32(b[len(vkMagic):]); v != VKVersion {
		return nil, fmt.Errorf("%w: verification key version %d; this build reads version %d", ErrMalformed, v, VKVersion)
	}
	body, sum := b[:len(b)-32], b[len(b)-32:]
	if got := sha256.Sum256(body); string(got[:]) != string(sum) {
		return nil, fmt.Errorf("%w: verification key checksum mismatch (file corrupt or truncated)", ErrMalformed)
	}
	d := dec{b: body[len(vkMagic)+4:], what: "verification key"}
	vk := &VerificationKey{}
	vk.Commit.Model, vk.Commit.Config, vk.Commit.Client = d.hash(), d.hash(), d.hash()
	vk.Commit.Layers = d.hashes(layerLimit)
	vk.Config = decodeConfig(&d)
	vk.Range = model.Range{First: int(d.u32()), Last: int(d.u32())}
	vk.Reps = int(d.u32())
	copy(vk.Seed[:], d.take(32))
	vk.RopeFreqs = d.f32s(MaxVector)
	if d.err != nil {
		return nil, d.err
	}
	if len(vk.RopeFreqs) == 0 {
		vk.RopeFreqs = nil
	}
	cfg := vk.Config
	switch {
	case commit.ConfigHash(cfg) != vk.Commit.Config:
		return nil, fmt.Errorf("%w: verification key: the configuration does not hash to the config commitment", ErrMalformed)
	case len(vk.Commit.Layers) != cfg.Layers:
		return nil, fmt.Errorf("%w: verification key: %d layer commitments for %d layers", ErrMalformed, len(vk.Commit.Layers), cfg.Layers)
	case commit.ModelRoot(vk.Commit.Config, vk.Commit.Client, vk.Commit.Layers) != vk.Commit.Model:
		return nil, fmt.Errorf("%w: verification key: the commitments do not lead to the model commitment", ErrMalformed)
	case vk.Range.First < 0 || vk.Range.Last > cfg.Layers || vk.Range.Len() <= 0:
		return nil, fmt.Errorf("%w: verification key: layer range %s outside %d layers", ErrMalformed, vk.Range, cfg.Layers)
	case vk.Reps < 1 || vk.Reps > MaxReps:
		return nil, fmt.Errorf("%w: verification key: %d Freivalds vectors per matrix", ErrMalformed, vk.Reps)
	case len(vk.RopeFreqs) != 0 && len(vk.RopeFreqs) != cfg.RopeDim/2:
		return nil, fmt.Errorf("%w: verification key: %d rope frequencies for rope dim %d", ErrMalformed, len(vk.RopeFreqs), cfg.RopeDim)
	}
	for _, v := range vk.RopeFreqs {
		if v == 0 {
			return nil, fmt.Errorf("%w: verification key: zero rope frequency factor", ErrMalformed)
		}
	}
	vk.Layers = make([]LayerKey, 0, vk.Range.Len())
	for i := vk.Range.First; i < vk.Range.Last && d.err == nil; i++ {
		l := LayerKey{Layer: int(d.u32())}
		if d.err == nil && l.Layer != i {
			d.fail("layer %d where layer %d belongs", l.Layer, i)
		}
		l.AttnNorm = d.f32s(MaxVector)
		l.FFNNorm = d.f32s(MaxVector)
		if d.err == nil && (len(l.AttnNorm) != cfg.Dim || len(l.FFNNorm) != cfg.Dim) {
			d.fail("layer %d: norm weights of %d and %d values, want %d", i, len(l.AttnNorm), len(l.FFNNorm), cfg.Dim)
		}
		for m := 0; m < NumMats && d.err == nil; m++ {
			mk := &l.Mats[m]
			mk.Type = quant.Type(d.u32())
			mk.Rows, mk.Cols = int(d.u32()), int(d.u32())
			rows, cols := matShape(cfg, m)
			if d.err != nil {
				break
			}
			if mk.Rows != rows || mk.Cols != cols || !mk.Type.IsSupported() || cols%mk.Type.BlockSize() != 0 {
				d.fail("layer %d %s: %v %d×%d, want %d×%d", i, MatName(m), mk.Type, mk.Rows, mk.Cols, rows, cols)
				break
			}
			if rows > 64*cols {
				// r is derived, not stored: bound it by what the file holds.
				d.fail("layer %d %s: %d rows for %d columns", i, MatName(m), rows, cols)
				break
			}
			withT := actOf(mk.Type) == actQ8_1
			mk.S = make([][]float32, vk.Reps)
			mk.RB = make([]float64, vk.Reps)
			if withT {
				mk.T = make([][]float32, vk.Reps)
			}
			for k := 0; k < vk.Reps && d.err == nil; k++ {
				mk.S[k] = d.f32s(MaxVector)
				t := d.f32s(MaxVector)
				mk.RB[k] = d.f64()
				if d.err != nil {
					break
				}
				if len(mk.S[k]) != cols {
					d.fail("layer %d %s: s has %d values, want %d", i, MatName(m), len(mk.S[k]), cols)
				}
				switch {
				case withT && len(t) == cols/32:
					mk.T[k] = t
				case !withT && len(t) == 0:
				default:
					d.fail("layer %d %s: t has %d values", i, MatName(m), len(t))
				}
			}
		}
		vk.Layers = append(vk.Layers, l)
	}
	d.done()
	if d.err != nil {
		return nil, d.err
	}
	vk.deriveAll()
	return vk, nil
}

// Size is the length of the key's encoding in bytes.
func (vk *VerificationKey) Size() int { return len(vk.Marshal()) }

// ID names a key without revealing it: SHA-256 over its file encoding.
// Certificates record it so that audits by one key can be told apart.
func (vk *VerificationKey) ID() Hash { return sha256.Sum256(vk.Marshal()) }
