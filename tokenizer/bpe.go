package tokenizer

import "unicode/utf8"

// GPT-2 byte-to-unicode mapping: printable Latin-1 bytes map to
// themselves, the others to U+0100 and up in byte order (space -> 'Ġ',
// newline -> 'Ċ').
var (
	byteToRune [256]rune
	byteToStr  [256]string
	runeToByte map[rune]byte
)

func init() {
	runeToByte = make(map[rune]byte, 256)
	n := 0
	for b := range 256 {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = rune(256 + n)
			n++
		}
		byteToRune[b] = r
		byteToStr[b] = string(r)
		runeToByte[r] = byte(b)
	}
}

// decodeByteLevel undoes the byte-to-unicode mapping of a gpt2 token.
// Characters outside the mapping (which llama.cpp renders as an
// "[UNK_BYTE_...]" marker) are kept as their UTF-8 encoding.
func decodeByteLevel(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if c, ok := runeToByte[r]; ok {
			b = append(b, c)
		} else {
			b = utf8.AppendRune(b, r)
		}
	}
	return string(b)
}

// bpeBigram is a candidate merge in a gpt2 word.
type bpeBigram struct {
	left, right  int32
	rank         int32
	lsize, rsize int32 // symbol lengths when pushed (stale check)
}

// bpeSession holds the scratch state of one byte-level BPE encoding
// (llama.cpp's llm_tokenizer_bpe_session).
type bpeSession struct {
	cpts    []rune
	ends    []int
	word    []byte
	symbols []symbol
	queue   []bpeBigram // binary min-heap on (rank, left)
}

func bpeBefore(a, b *bpeBigram) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.left < b.left)
}

func (s *bpeSession) push(b bpeBigram) { s.queue = pushHeap(s.queue, b, bpeBefore) }

func (s *bpeSession) pop() (b bpeBigram) {
	b, s.queue = popHeap(s.queue, bpeBefore)
	return b
}

// tokenize appends the byte-level BPE tokens of one raw fragment to out:
// pre-tokenize into words, map each word's bytes through byte-to-unicode,
// merge by rank within each word, and look the results up.
func (s *bpeSession) tokenize(t *Tokenizer, raw string, out []int) []int {
	s.cpts = decodeCodepoints(s.cpts[:0], raw)
	s.ends = splitWords(t.pre, s.cpts, s.ends[:0])
	start := 0
	for _, end := range s.ends {
		w := s.word[:0]
		var buf [4]byte
		for _, c := range s.cpts[start:end] {
			for _, b := range appendCodepoint(buf[:0], c) {
				w = append(w, byteToStr[b]...)
			}
		}
		s.word = w
		start = end
		out = s.tokenizeWord(t, w, out)
	}
	return out
}

// tokenizeWord merges one byte-encoded word.
func (s *bpeSession) tokenizeWord(t *Tokenizer, word []byte, out []int) []int {
	if len(word) == 0 {
		return out
	}
	if t.ignoreMerges {
		if id, ok := t.toID[string(word)]; ok {
			return append(out, int(id))
		}
	}
	syms := s.symbols[:0]
	for off := 0; off < len(word); {
		n := min(utf8Len(word[off]), len(word)-off)
		idx := int32(len(syms))
		next := idx + 1
		if off+n == len(word) {
			next = -1
		}
		syms = append(syms, symbol{start: int32(off), n: int32(n), prev: idx - 1, next: next})
		off += n
	}
	s.symbols = syms
	s.queue = s.queue[:0]
	for i := 1; i < len(syms); i++ {
		s.tryAdd(t, word, int32(i-1), int32(i))
	}
	for len(s.queue) > 0 {
		b := s.pop()
		l, r := &s.symbols[b.left], &s.symbols[b.right]
		if l.n == 0 || r.n == 0 || l.n != b.lsize || r.n != b.rsize {
			continue // stale
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			s.symbols[r.next].prev = b.left
		}
		s.tryAdd(t, word, l.prev, b.left)
		s.tryAdd(t, word, b.left, l.next)
	}
	for i := int32(0); i != -1; i = s.symbols[i].next {
		sym := s.symbols[i]
		piece := word[sym.start : sym.start+sym.n]
		if id, ok := t.toID[string(piece)]; ok {
			out = append(out, int(id))
			continue
		}
		// llama.cpp: look each byte up as a one-byte token; drop misses.
		for j := 0; j < len(piece); j++ {
			if id, ok := t.toID[string(piece[j:j+1])]; ok {
				out = append(out, int(id))
			}
		}
	}
	return out
}

func (s *bpeSession) tryAdd(t *Tokenizer, word []byte, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	l, r := s.symbols[left], s.symbols[right]
	rank, ok := t.ranks[[2]string{string(word[l.start : l.start+l.n]), string(word[r.start : r.start+r.n])}]
	if !ok {
		return
	}
	s.push(bpeBigram{left: left, right: right, rank: rank, lsize: l.n, rsize: r.n})
}

// decodeCodepoints is llama.cpp's unicode_cpts_from_utf8: lenient UTF-8
// decoding (no overlong or surrogate checks) where each byte that does not
// start a well-formed sequence becomes U+FFFD. Sequences decoding above
// U+10FFFF (on which llama.cpp aborts) are treated as invalid too.
func decodeCodepoints(dst []rune, s string) []rune {
	for i := 0; i < len(s); {
		b := s[i]
		switch {
		case b < 0x80:
			dst = append(dst, rune(b))
			i++
			continue
		case b&0x40 == 0: // stray continuation byte
		case b&0x20 == 0:
			if i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
				dst = append(dst, rune(b&0x1F)<<6|rune(s[i+1]&0x3F))
				i += 2
				continue
			}
		case b&0x10 == 0:
			if i+2 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 {
				dst = append(dst, rune(b&0x0F)<<12|rune(s[i+1]&0x3F)<<6|rune(s[i+2]&0x3F))
				i += 3
				continue
			}
		case b&0x08 == 0:
			if i+3 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 && s[i+3]&0xC0 == 0x80 {
				c := rune(b&0x07)<<18 | rune(s[i+1]&0x3F)<<12 | rune(s[i+2]&0x3F)<<6 | rune(s[i+3]&0x3F)
				if c <= 0x10FFFF {
					dst = append(dst, c)
					i += 4
					continue
				}
			}
		}
		dst = append(dst, utf8.RuneError)
		i++
	}
	return dst
}

// appendCodepoint is llama.cpp's unicode_cpt_to_utf8: plain UTF-8 encoding
// that, unlike utf8.AppendRune, keeps surrogate code points.
func appendCodepoint(b []byte, c rune) []byte {
	switch {
	case c < 0x80:
		return append(b, byte(c))
	case c < 0x800:
		return append(b, 0xC0|byte(c>>6), 0x80|byte(c)&0x3F)
	case c < 0x10000:
		return append(b, 0xE0|byte(c>>12), 0x80|byte(c>>6)&0x3F, 0x80|byte(c)&0x3F)
	}
	return append(b, 0xF0|byte(c>>18), 0x80|byte(c>>12)&0x3F, 0x80|byte(c>>6)&0x3F, 0x80|byte(c)&0x3F)
}

// wordsOf returns the pre-tokenizer's words of text (as UTF-8, before the
// byte-level mapping); for tests and debugging.
func wordsOf(pre preKind, text string) []string {
	cps := decodeCodepoints(nil, text)
	var words []string
	start := 0
	for _, end := range splitWords(pre, cps, nil) {
		var b []byte
		for _, c := range cps[start:end] {
			b = appendCodepoint(b, c)
		}
		words = append(words, string(b))
		start = end
	}
	return words
}

// release returns the session to its pool unless it grew too large.
func (s *bpeSession) release() {
	if cap(s.cpts) > maxPooled || cap(s.ends) > maxPooled || cap(s.word) > maxPooled ||
		cap(s.symbols) > maxPooled || cap(s.queue) > maxPooled {
		return
	}
	bpePool.Put(s)
}
