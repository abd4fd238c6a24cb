package tokenizer

import "unicode"

// preKind selects a byte-level BPE pre-tokenizer.
type preKind uint8

const (
	// preGPT2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
	preGPT2 preKind = iota
	// preLlama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
	//            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
	preLlama3
	// preQwen2: as preLlama3 with \p{N} (single digits) for \p{N}{1,3}.
	preQwen2
)

// lookupPre maps a tokenizer.ggml.pre name to a pre-tokenizer, as
// llama.cpp groups them. Unknown names fall back to GPT-2.
func lookupPre(name string) (kind preKind, effective string, ignoreMerges, fallback bool) {
	switch name {
	case "llama3", "llama-v3", "llama-bpe", "falcon3":
		return preLlama3, "llama3", true, false
	case "qwen2", "deepseek-r1-qwen", "megrez":
		return preQwen2, "qwen2", false, false
	case "gpt2", "gpt-2", "default", "phi-2", "roberta-bpe", "gigachat",
		"jina-es", "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code":
		return preGPT2, "gpt2", false, false
	}
	return preGPT2, "gpt2", false, true
}

// Character classes of the pre-tokenizer regexes.

func isLetter(c rune) bool {
	if c < 0x80 {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	return unicode.IsLetter(c)
}

func isNumber(c rune) bool {
	if c < 0x80 {
		return '0' <= c && c <= '9'
	}
	return unicode.IsNumber(c)
}

// isSpace is \s: the Unicode White_Space property, as in llama.cpp.
func isSpace(c rune) bool {
	if c < 0x80 {
		return c == ' ' || '\t' <= c && c <= '\r'
	}
	return unicode.IsSpace(c)
}

// isOther is [^\s\p{L}\p{N}].
func isOther(c rune) bool { return !isSpace(c) && !isLetter(c) && !isNumber(c) }

func isNewline(c rune) bool { return c == '\r' || c == '\n' }

// asciiLower lower-cases ASCII letters only (llama.cpp's case-insensitive
// contractions can only match ASCII).
func asciiLower(c rune) rune {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// contraction returns the length of a contraction ('s 't 're 've 'm 'll
// 'd) at cps[pos], or 0.
func contraction(cps []rune, pos int, fold bool) int {
	if cps[pos] != '\'' || pos+1 >= len(cps) {
		return 0
	}
	c1 := cps[pos+1]
	if fold {
		c1 = asciiLower(c1)
	}
	switch c1 {
	case 's', 't', 'm', 'd':
		return 2
	}
	if pos+2 < len(cps) {
		c2 := cps[pos+2]
		if fold {
			c2 = asciiLower(c2)
		}
		if c1 == 'r' && c2 == 'e' || c1 == 'v' && c2 == 'e' || c1 == 'l' && c2 == 'l' {
			return 3
		}
	}
	return 0
}

// splitWords appends to ends the end offsets (in code points) of the
// successive regex matches that cover cps. Every position is matched by
// some alternative, so the words are contiguous.
func splitWords(pre preKind, cps []rune, ends []int) []int {
	n := len(cps)
	for pos := 0; pos < n; {
		var end int
		if pre == preGPT2 {
			end = matchGPT2(cps, pos)
		} else {
			end = matchLlama3(cps, pos, pre == preQwen2)
		}
		ends = append(ends, end)
		pos = end
	}
	return ends
}

// whitespace matches \s+(?!\S)|\s+ at pos (cps[pos] is whitespace): the
// whole run if it ends the text or is a single character, else the run
// minus its last character (which then precedes the next word).
func whitespace(cps []rune, pos int) int {
	e := pos
	for e < len(cps) && isSpace(cps[e]) {
		e++
	}
	if e-pos > 1 && e < len(cps) {
		return e - 1
	}
	if e > pos {
		return e
	}
	return pos + 1 // not reached: every character is matched above
}

// matchGPT2 returns the end of the GPT-2 regex match starting at pos.
func matchGPT2(cps []rune, pos int) int {
	n := len(cps)
	if k := contraction(cps, pos, false); k > 0 {
		return pos + k
	}
	// " ?X+" for X in \p{L}, \p{N}, [^\s\p{L}\p{N}]
	q := pos
	if cps[pos] == ' ' {
		q++
	}
	if q < n {
		var class func(rune) bool
		switch c := cps[q]; {
		case isLetter(c):
			class = isLetter
		case isNumber(c):
			class = isNumber
		case !isSpace(c):
			class = isOther
		}
		if class != nil {
			e := q + 1
			for e < n && class(cps[e]) {
				e++
			}
			return e
		}
	}
	return whitespace(cps, pos)
}

// matchLlama3 returns the end of the llama3 (or, with singleDigits, qwen2)
// regex match starting at pos.
func matchLlama3(cps []rune, pos int, singleDigits bool) int {
	n := len(cps)
	c := cps[pos]
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if k := contraction(cps, pos, true); k > 0 {
		return pos + k
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if !isNewline(c) && !isNumber(c) {
		if isLetter(c) || pos+1 < n && isLetter(cps[pos+1]) {
			e := pos + 1
			for e < n && isLetter(cps[e]) {
				e++
			}
			return e
		}
	}
	// \p{N}{1,3} (qwen2: \p{N})
	if isNumber(c) {
		limit := 3
		if singleDigits {
			limit = 1
		}
		e := pos + 1
		for e < n && e-pos < limit && isNumber(cps[e]) {
			e++
		}
		return e
	}
	// " ?[^\s\p{L}\p{N}]+[\r\n]*"
	q := pos
	if c == ' ' {
		q++
	}
	if q < n && isOther(cps[q]) {
		e := q + 1
		for e < n && isOther(cps[e]) {
			e++
		}
		for e < n && isNewline(cps[e]) {
			e++
		}
		return e
	}
	// \s*[\r\n]+ : up to the last newline of the whitespace run
	lastNL := -1
	for e := pos; e < n && isSpace(cps[e]); e++ {
		if isNewline(cps[e]) {
			lastNL = e + 1
		}
	}
	if lastNL > 0 {
		return lastNL
	}
	return whitespace(cps, pos)
}
