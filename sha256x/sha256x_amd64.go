//go:build !purego

package sha256x

import (
	"cmp"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"hash"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useMulti selects the 16-lane AVX-512 kernel. VPSHUFB on 512 bits needs
// AVX512BW; the rotates and ternary logic are AVX512F.
var useMulti = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL

// minLanes is the fewest messages worth a 16-lane pass: a pass costs the
// same however many lanes are busy, and on an AMD EPYC with SHA-NI it
// costs what 6 one-at-a-time hashes do (BenchmarkFewLanes), so a batch
// that leaves fewer lanes busy hashes those messages one by one.
const minLanes = 6

// block16 compresses nblocks consecutive 64-byte blocks of each lane into
// that lane's state. state is transposed: state[w][i] is word w of lane i.
// Every ptrs[i] must have nblocks*64 readable bytes.
//
//go:noescape
func block16(state *[8][16]uint32, ptrs *[16]unsafe.Pointer, nblocks int)

// iv is the SHA-256 initial hash value.
var iv = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// lanes is the work of one sumMulti call: which message each lane carries
// and where its next blocks are. It lives on the caller's stack.
type lanes struct {
	state  [8][16]uint32
	body   [16][]byte    // the lane's message blocks not yet compressed
	msg    [16]int       // index of the lane's message, -1 if idle
	inTail [16]bool      // body is done: the tail blocks run, then the digest
	tailAt [16]int       // next tail byte to compress
	tailN  [16]int       // tail length: 64 or 128
	tail   [16][128]byte // last partial block, padding and length
}

// blocks returns where lane i's next blocks start and how many there are.
// The tail is addressed here, not kept as a slice into l, so that l does
// not point into itself and can stay on the stack.
func (l *lanes) blocks(i int) (unsafe.Pointer, int) {
	if l.inTail[i] {
		return unsafe.Pointer(&l.tail[i][l.tailAt[i]]), (l.tailN[i] - l.tailAt[i]) / 64
	}
	return unsafe.Pointer(unsafe.SliceData(l.body[i])), len(l.body[i]) / 64
}

// scratch is the per-call heap state, pooled so that calls do not allocate.
type scratch struct {
	order []int32   // message indices, longest first
	h     hash.Hash // crypto/sha256, to finish messages handed off
	state []byte    // marshalled crypto/sha256 state for a hand-off
}

var scratchPool = sync.Pool{New: func() any { return &scratch{h: sha256.New()} }}

// sumMulti hashes msgs 16 at a time. Messages go to lanes longest first so
// that lanes running side by side have similar lengths and the last,
// partly filled passes are over the shortest messages; a lane whose message
// ends is refilled with the next one at once.
func sumMulti(out [][32]byte, msgs [][]byte) {
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	order := s.order[:0]
	for i := range msgs {
		order = append(order, int32(i))
	}
	s.order = order
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(len(msgs[b]), len(msgs[a])) })
	// The last len%16 messages would leave most lanes idle on the final
	// pass; with few of them, one at a time is cheaper.
	if r := len(order) % 16; r < minLanes {
		for _, i := range order[len(order)-r:] {
			out[i] = sha256.Sum256(msgs[i])
		}
		order = order[:len(order)-r]
	}

	var l lanes
	var ptrs [16]unsafe.Pointer
	for i := range l.msg {
		l.msg[i] = -1
	}
	next := 0
	for {
		busy := 0
		for i := range l.msg {
			if l.msg[i] < 0 && next < len(order) {
				l.start(i, int(order[next]), msgs[order[next]])
				next++
			}
			if l.msg[i] >= 0 {
				busy++
			}
		}
		if busy == 0 {
			return
		}
		// When the batch runs dry, the longest messages are often left
		// in a few lanes; they go on one at a time.
		if next == len(order) && busy < minLanes {
			for i := range l.msg {
				if l.msg[i] >= 0 && (!l.inTail[i] || l.tailAt[i] == 0) {
					l.handOff(s, i, msgs[l.msg[i]], &out[l.msg[i]])
					busy--
				}
			}
			if busy == 0 {
				return
			}
		}
		// Run the blocks every busy lane has; idle lanes repeat a busy
		// lane's pointer and their state is reset before reuse.
		n := 0
		var spare unsafe.Pointer
		for i := range l.msg {
			if l.msg[i] >= 0 {
				p, b := l.blocks(i)
				if n == 0 || b < n {
					n = b
				}
				ptrs[i], spare = p, p
			}
		}
		for i := range l.msg {
			if l.msg[i] < 0 {
				ptrs[i] = spare
			}
		}
		block16(&l.state, &ptrs, n)
		for i := range l.msg {
			if l.msg[i] < 0 {
				continue
			}
			if !l.inTail[i] {
				l.body[i] = l.body[i][64*n:]
				if len(l.body[i]) == 0 {
					l.padTail(i, msgs[l.msg[i]])
				}
				continue
			}
			l.tailAt[i] += 64 * n
			if l.tailAt[i] < l.tailN[i] {
				continue
			}
			d := &out[l.msg[i]]
			for w := range 8 {
				binary.BigEndian.PutUint32(d[4*w:], l.state[w][i])
			}
			l.msg[i] = -1
		}
	}
}

// handOff finishes lane i's message m with crypto/sha256, carrying over
// the lane's state through the state encoding crypto/sha256 reads back
// ("sha\x03", the 8 state words, a 64-byte buffer, the length so far; all
// big-endian). Lane i must be at a block boundary of m.
func (l *lanes) handOff(s *scratch, i int, m []byte, d *[32]byte) {
	done := len(m) &^ 63
	if !l.inTail[i] {
		done -= len(l.body[i])
	}
	var st [8]uint32
	for w := range 8 {
		st[w] = l.state[w][i]
	}
	b := appendState(s.state[:0], &st, done)
	s.state = b
	l.msg[i] = -1
	if s.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(b) != nil {
		// A future encoding this does not know: start over.
		*d = sha256.Sum256(m)
		return
	}
	s.h.Write(m[done:])
	s.h.Sum(d[:0])
}

// appendState appends crypto/sha256's encoding of a state st after done
// bytes (a multiple of 64, so its buffer is empty).
func appendState(b []byte, st *[8]uint32, done int) []byte {
	b = append(b, "sha\x03"...)
	for _, w := range st {
		b = binary.BigEndian.AppendUint32(b, w)
	}
	b = append(b, make([]byte, 64)...)
	return binary.BigEndian.AppendUint64(b, uint64(done))
}

// start puts message m (index mi) in lane i.
func (l *lanes) start(i, mi int, m []byte) {
	l.msg[i] = mi
	for w := range 8 {
		l.state[w][i] = iv[w]
	}
	l.inTail[i] = false
	l.body[i] = m[:len(m)&^63]
	if len(l.body[i]) == 0 {
		l.padTail(i, m)
	}
}

// padTail points lane i at the final one or two blocks of m: its last
// partial block, the 0x80 marker, zeros and the length in bits.
func (l *lanes) padTail(i int, m []byte) {
	t := &l.tail[i]
	r := copy(t[:], m[len(m)&^63:])
	t[r] = 0x80
	n := 64
	if r >= 56 {
		n = 128
	}
	clear(t[r+1 : n-8])
	binary.BigEndian.PutUint64(t[n-8:n], uint64(len(m))*8)
	l.tailAt[i], l.tailN[i] = 0, n
	l.inTail[i] = true
}
