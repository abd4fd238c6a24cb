package tokenizer

import (
	"strings"
	"sync"
)

// spmSpace is U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's escaped space.
const spmSpace = "\u2581"

// utf8Len is llama.cpp's unicode_len_utf8: the sequence length implied by
// a lead byte, by its high four bits (continuation bytes count as 1).
func utf8Len(b byte) int {
	return int([16]uint8{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4}[b>>4])
}

// symbol is a span of the text being merged, in a doubly linked list.
type symbol struct {
	start, n   int32 // byte span; n == 0 once merged into its left neighbour
	prev, next int32 // -1 at the ends
}

// spmBigram is a candidate merge of two adjacent symbols.
type spmBigram struct {
	left, right int32
	score       float32
	size        int32 // combined byte length when pushed (stale check)
}

// spmSession holds the scratch state of one SentencePiece encoding
// (llama.cpp's llm_tokenizer_spm_session).
type spmSession struct {
	buf     []byte // escaped text
	symbols []symbol
	queue   []spmBigram // binary max-heap, see spmBefore
}

// spmBefore orders the queue: highest score first, then leftmost.
func spmBefore(a, b *spmBigram) bool {
	return a.score > b.score || (a.score == b.score && a.left < b.left)
}

func (s *spmSession) push(b spmBigram) { s.queue = pushHeap(s.queue, b, spmBefore) }

func (s *spmSession) pop() (b spmBigram) {
	b, s.queue = popHeap(s.queue, spmBefore)
	return b
}

// tokenize appends the SentencePiece tokens of one raw fragment to out:
// spaces escaped to "▁" (plus a dummy prefix when prefix is set), greedy
// highest-score merging over UTF-8 characters, then byte fallback for
// pieces that are not tokens.
func (s *spmSession) tokenize(t *Tokenizer, raw string, prefix bool, out []int) []int {
	text := s.buf[:0]
	if prefix {
		text = append(text, spmSpace...)
	}
	for i := 0; i < len(raw); {
		j := strings.IndexByte(raw[i:], ' ')
		if j < 0 {
			text = append(text, raw[i:]...)
			break
		}
		text = append(text, raw[i:i+j]...)
		text = append(text, spmSpace...)
		i += j + 1
	}
	s.buf = text
	if len(text) == 0 {
		return out
	}

	// Split into UTF-8 characters (by lead-byte length, as llama.cpp).
	syms := s.symbols[:0]
	for off := 0; off < len(text); {
		n := min(utf8Len(text[off]), len(text)-off)
		idx := int32(len(syms))
		next := idx + 1
		if off+n == len(text) {
			next = -1
		}
		syms = append(syms, symbol{start: int32(off), n: int32(n), prev: idx - 1, next: next})
		off += n
	}
	s.symbols = syms
	s.queue = s.queue[:0]

	for i := 1; i < len(syms); i++ {
		s.tryAdd(t, text, int32(i-1), int32(i))
	}
	for len(s.queue) > 0 {
		b := s.pop()
		l, r := &s.symbols[b.left], &s.symbols[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue // stale: one side has changed since the push
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			s.symbols[r.next].prev = b.left
		}
		s.tryAdd(t, text, l.prev, b.left)
		s.tryAdd(t, text, b.left, l.next)
	}

	// Resegment: every merged symbol is a token; unmerged characters
	// that are not tokens fall back to byte tokens.
	for i := int32(0); i != -1; i = s.symbols[i].next {
		sym := s.symbols[i]
		piece := text[sym.start : sym.start+sym.n]
		if id, ok := t.toID[string(piece)]; ok {
			out = append(out, int(id))
			continue
		}
		for j := 0; j < len(piece); j++ {
			if id := t.byteTok[piece[j]]; id >= 0 {
				out = append(out, int(id))
			}
		}
	}
	return out
}

// tryAdd queues the merge of symbols left and right if their
// concatenation is a token.
func (s *spmSession) tryAdd(t *Tokenizer, text []byte, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	l, r := s.symbols[left], s.symbols[right]
	id, ok := t.toID[string(text[l.start:l.start+l.n+r.n])]
	if !ok {
		return
	}
	s.push(spmBigram{left: left, right: right, score: t.scores[id], size: l.n + r.n})
}

// Encoding scratch state is reused across calls.
var (
	spmPool = sync.Pool{New: func() any { return new(spmSession) }}
	bpePool = sync.Pool{New: func() any { return new(bpeSession) }}
)

// maxPooled bounds the scratch kept in a pool (in elements), so one huge
// input does not pin memory.
const maxPooled = 1 << 16

// release returns the session to its pool unless it grew too large.
func (s *spmSession) release() {
	if cap(s.buf) > maxPooled || cap(s.symbols) > maxPooled || cap(s.queue) > maxPooled {
		return
	}
	spmPool.Put(s)
}
