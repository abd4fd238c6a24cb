// Package tokenizer reproduces llama.cpp's tokenization of GGUF models.
//
// Two vocabulary kinds are supported, selected by tokenizer.ggml.model:
//
//   - "llama": SentencePiece-style BPE over UTF-8 characters with scores and
//     byte fallback (llama.cpp's llm_tokenizer_spm).
//   - "gpt2": byte-level BPE with ranked merges and a regex pre-tokenizer
//     chosen by tokenizer.ggml.pre (llama.cpp's llm_tokenizer_bpe); the
//     "llama3"/"llama-bpe", "qwen2" and "gpt2"/"default" pre-tokenizers are
//     implemented by hand with exact regex semantics.
//
// Encode(text) is llama_tokenize(text, add_special=false,
// parse_special=false): no BOS, and special-token text such as "<s>" is
// ordinary text. Tokenize exposes both flags; a prompt is
// Tokenize(text, true, false) (BOS added when AddBOS says so).
//
// Decode concatenates token pieces faithfully: for SentencePiece the
// dummy-prefix space stays (" Hello"); DecodeOptions.TrimPrefixSpace drops
// it. Control and unknown tokens decode to "" unless DecodeOptions.Special.
// A Decoder (NewDecoder) does the same incrementally and never emits an
// incomplete UTF-8 sequence.
//
// A Tokenizer is immutable once built and safe for concurrent use; a
// Decoder is not (use one per output stream).
//
// Invalid token ids never panic: Decode, Piece and Decoder.Add skip them
// (they contribute no text); DecodeChecked reports them as an error.
//
// Known differences from llama.cpp, all outside well-formed input to
// supported models: the "default" pre-tokenizer name uses the GPT-2 regex
// (llama.cpp chains four regexes), unknown pre-tokenizer names fall back to
// GPT-2 with a warning instead of failing, UTF-8 sequences decoding above
// U+10FFFF (on which llama.cpp aborts) count as invalid bytes, and gpt2
// token characters outside the byte mapping decode to themselves rather than
// to an "[UNK_BYTE_...]" marker.
package tokenizer

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// TokenType is the per-token type stored in tokenizer.ggml.token_type,
// with llama.cpp's (and SentencePiece's) numbering.
type TokenType int32

// Token types.
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// String returns the lower-case name of the type.
func (t TokenType) String() string {
	switch t {
	case TypeUndefined:
		return "undefined"
	case TypeNormal:
		return "normal"
	case TypeUnknown:
		return "unknown"
	case TypeControl:
		return "control"
	case TypeUserDefined:
		return "user_defined"
	case TypeUnused:
		return "unused"
	case TypeByte:
		return "byte"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// NoToken marks an absent special token id (BOS, EOS, ...) in a Config
// and is what the id accessors return when the vocabulary has none.
const NoToken = -1

// Vocabulary kinds, the values of Config.Model.
const (
	ModelLlama = "llama" // SentencePiece-style BPE with scores and byte fallback
	ModelGPT2  = "gpt2"  // byte-level BPE with ranked merges
)

// Config describes a vocabulary directly, for tests and for vocabularies
// that do not come from GGUF. FromGGUF builds one from GGUF metadata
// (applying llama.cpp's defaults) and calls New.
//
// Special ids use NoToken (-1) for "none"; note that 0 is a valid id.
type Config struct {
	// Model is ModelLlama ("llama") or ModelGPT2 ("gpt2").
	Model string
	// Pre names the gpt2 pre-tokenizer (tokenizer.ggml.pre): "llama3",
	// "llama-bpe", "qwen2", "gpt2", "default", ... Unknown or empty names
	// fall back to the GPT-2 regex; see Tokenizer.PreFallback. Ignored for
	// "llama".
	Pre string
	// Tokens is the vocabulary; the index is the id. Empty entries are
	// renamed "[EMPTY_<id>]" as llama.cpp does.
	Tokens []string
	// Scores are the SentencePiece merge scores (one per token). Nil means
	// all zero.
	Scores []float32
	// Types are the token types (one per token, TokenType values). Nil
	// means all TypeNormal.
	Types []int32
	// Merges are the gpt2 merge rules "left right"; the rank is the index.
	Merges []string
	// Special token ids, NoToken when absent. When EOT or EOM is NoToken it
	// is auto-detected from the token text as llama.cpp does
	// ("<|eot_id|>", "<|im_end|>", "<end_of_turn>", ...).
	BOS, EOS, EOT, EOM, UNK, PAD int
	// ExtraEOG lists further end-of-generation ids (llama.cpp adds the
	// FIM pad/repo/separator tokens). When nil, those are auto-detected
	// from their text ("<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", ...)
	// as llama.cpp does. Out-of-range ids are an error.
	ExtraEOG []int
	// AddBOS and AddEOS say whether Tokenize(text, true, ...) adds BOS/EOS.
	AddBOS, AddEOS bool
	// AddSpacePrefix adds the SentencePiece dummy-prefix space before text
	// ("llama" only; llama.cpp's default for SentencePiece is true).
	AddSpacePrefix bool
}

type vocabKind uint8

const (
	kindSPM vocabKind = iota
	kindBPE
)

// Tokenizer encodes text to token ids and decodes ids to text exactly as
// llama.cpp does for the same vocabulary.
type Tokenizer struct {
	kind vocabKind

	pre         preKind
	preName     string // effective pre-tokenizer name ("" for SPM)
	preAsked    string // requested tokenizer.ggml.pre
	preFallback bool

	text   []string    // raw token text
	scores []float32   // SPM scores
	types  []TokenType // after llama.cpp's auto-detection overrides
	pieces []string    // decoded piece of each token (control/unknown: "")
	toID   map[string]int32

	ranks map[[2]string]int32 // BPE merge ranks

	byteTok [256]int32 // SPM byte-fallback token per byte, -1 if none

	// specials are the candidates for pre-partitioning, longest text
	// first: all control/user-defined/unknown tokens (parseSpecial) or the
	// user-defined ones only.
	specialsAll  []int32
	specialsUser []int32

	bos, eos, eot, eom, unk, pad int
	eog                          map[int]struct{}

	addBOS, addEOS, addSpacePrefix, ignoreMerges bool

	warnings []string
}

// New builds a Tokenizer from a Config.
func New(cfg Config) (*Tokenizer, error) {
	t := &Tokenizer{}
	switch cfg.Model {
	case ModelLlama:
		t.kind = kindSPM
	case ModelGPT2:
		t.kind = kindBPE
	default:
		return nil, fmt.Errorf("tokenizer: unsupported tokenizer model %q (want %q or %q)", cfg.Model, ModelLlama, ModelGPT2)
	}
	n := len(cfg.Tokens)
	if n == 0 {
		return nil, errors.New("tokenizer: empty vocabulary")
	}
	if n > 1<<31-1 {
		return nil, errors.New("tokenizer: vocabulary too large")
	}
	if cfg.Scores != nil && len(cfg.Scores) != n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(cfg.Scores), n)
	}
	if cfg.Types != nil && len(cfg.Types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(cfg.Types), n)
	}
	for _, f := range []struct {
		name string
		id   int
	}{{"BOS", cfg.BOS}, {"EOS", cfg.EOS}, {"EOT", cfg.EOT}, {"EOM", cfg.EOM}, {"UNK", cfg.UNK}, {"PAD", cfg.PAD}} {
		if f.id != NoToken && (f.id < 0 || f.id >= n) {
			return nil, fmt.Errorf("tokenizer: %s id %d out of range [0,%d) (use NoToken for none)", f.name, f.id, n)
		}
	}

	t.text = make([]string, n)
	t.types = make([]TokenType, n)
	t.toID = make(map[string]int32, n)
	for i, s := range cfg.Tokens {
		if s == "" {
			s = "[EMPTY_" + strconv.Itoa(i) + "]"
			t.warnings = append(t.warnings, fmt.Sprintf("empty token at index %d", i))
		}
		t.text[i] = s
		t.toID[s] = int32(i) // later duplicates win, as in llama.cpp
		t.types[i] = TypeNormal
		if cfg.Types != nil {
			switch ty := TokenType(cfg.Types[i]); ty {
			case TypeNormal, TypeUnknown, TypeControl, TypeUserDefined, TypeUnused, TypeByte:
				t.types[i] = ty
			default:
				t.types[i] = TypeUndefined
			}
		}
	}
	if cfg.Scores != nil {
		t.scores = slices.Clone(cfg.Scores)
	} else {
		t.scores = make([]float32, n)
	}

	for _, id := range cfg.ExtraEOG {
		if id < 0 || id >= n {
			return nil, fmt.Errorf("tokenizer: end-of-generation id %d out of range [0,%d)", id, n)
		}
	}
	t.bos, t.eos, t.eot, t.eom, t.unk, t.pad = cfg.BOS, cfg.EOS, cfg.EOT, cfg.EOM, cfg.UNK, cfg.PAD
	t.addBOS, t.addEOS = cfg.AddBOS, cfg.AddEOS

	switch t.kind {
	case kindSPM:
		t.addSpacePrefix = cfg.AddSpacePrefix
		for b := range 256 {
			t.byteTok[b] = t.findByteToken(byte(b))
		}
	case kindBPE:
		t.preAsked = cfg.Pre
		t.pre, t.preName, t.ignoreMerges, t.preFallback = lookupPre(cfg.Pre)
		if t.preFallback {
			t.warnings = append(t.warnings, fmt.Sprintf("unknown pre-tokenizer %q, using %q", cfg.Pre, t.preName))
		}
		t.ranks = make(map[[2]string]int32, len(cfg.Merges))
		for i, m := range cfg.Merges {
			if i > 1<<31-1 {
				break
			}
			var k [2]string
			// llama.cpp splits at the first space after the first byte.
			if len(m) > 1 {
				if p := strings.IndexByte(m[1:], ' '); p >= 0 {
					k = [2]string{m[:p+1], m[p+2:]}
				}
			}
			if _, dup := t.ranks[k]; !dup {
				t.ranks[k] = int32(i)
			}
		}
	}

	t.detectSpecials(cfg.ExtraEOG)

	for id := range n {
		switch t.types[id] {
		case TypeControl, TypeUserDefined, TypeUnknown:
			if t.types[id] == TypeUserDefined {
				t.specialsUser = append(t.specialsUser, int32(id))
			}
			t.specialsAll = append(t.specialsAll, int32(id))
		}
	}
	byLen := func(a, b int32) int { return cmp.Compare(len(t.text[b]), len(t.text[a])) }
	slices.SortStableFunc(t.specialsAll, byLen)
	slices.SortStableFunc(t.specialsUser, byLen)

	t.pieces = make([]string, n)
	for id := range n {
		t.pieces[id] = t.makePiece(id)
	}
	return t, nil
}

// eotTexts and eomTexts are llama.cpp's texts for auto-detecting EOT/EOM;
// fimTexts those of the FIM pad/repo/separator tokens, which also end
// generation; eogTexts are the texts it always treats as end of generation.
var (
	eotTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<｜end▁of▁sentence｜>"}
	eomTexts = []string{"<|eom_id|>"}
	fimTexts = [][]string{
		{"<|fim_pad|>", "<fim-pad>", "<PAD>"},
		{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"},
		{"<|file_sep|>"},
	}
	eogTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"}
)

// detectSpecials mirrors llama.cpp's text-based detection of EOT/EOM and
// end-of-generation tokens, which also forces their type to control.
// extra are end-of-generation ids given explicitly.
func (t *Tokenizer) detectSpecials(extra []int) {
	find := func(texts []string) int {
		for _, s := range texts {
			if id, ok := t.toID[s]; ok {
				return int(id)
			}
		}
		return NoToken
	}
	forceControl := func(id int) {
		if t.types[id] != TypeControl {
			t.warnings = append(t.warnings, fmt.Sprintf("control-looking token %d %q was not control-type; overriding", id, t.text[id]))
			t.types[id] = TypeControl
		}
	}
	if t.eot == NoToken {
		if id := find(eotTexts); id != NoToken {
			t.eot = id
			forceControl(id)
		}
	}
	if t.eom == NoToken {
		if id := find(eomTexts); id != NoToken {
			t.eom = id
			forceControl(id)
		}
	}
	t.eog = make(map[int]struct{})
	for _, id := range extra {
		t.eog[id] = struct{}{}
	}
	if extra == nil {
		for _, texts := range fimTexts {
			if id := find(texts); id != NoToken {
				t.eog[id] = struct{}{}
				forceControl(id)
			}
		}
	}
	for _, s := range eogTexts {
		if id, ok := t.toID[s]; ok {
			t.eog[int(id)] = struct{}{}
			forceControl(int(id))
		}
	}
	for _, id := range []int{t.eos, t.eot, t.eom} {
		if id != NoToken {
			t.eog[id] = struct{}{}
		}
	}
}

// findByteToken is llama.cpp's byte_to_token for SentencePiece: the token
// "<0xNN>", else the one-byte token, else the unknown token, else -1.
func (t *Tokenizer) findByteToken(b byte) int32 {
	const hex = "0123456789ABCDEF"
	if id, ok := t.toID[string([]byte{'<', '0', 'x', hex[b>>4], hex[b&15], '>'})]; ok {
		return id
	}
	if id, ok := t.toID[string([]byte{b})]; ok {
		return id
	}
	if t.unk != NoToken {
		return int32(t.unk)
	}
	return -1
}

// makePiece is llama.cpp's token_to_piece with special=false and no
// lstrip: the bytes a token contributes to decoded text.
func (t *Tokenizer) makePiece(id int) string {
	s := t.text[id]
	switch t.types[id] {
	case TypeUserDefined:
		return s
	case TypeNormal:
		if t.kind == kindSPM {
			return strings.ReplaceAll(s, spmSpace, " ")
		}
		return decodeByteLevel(s)
	case TypeByte:
		if t.kind == kindSPM {
			if b, ok := parseByteToken(s); ok {
				return string([]byte{b})
			}
		}
	}
	return "" // control, unknown, unused, undefined (and BPE byte tokens)
}

// parseByteToken parses the SentencePiece byte token text "<0xNN>".
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

// VocabSize returns the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.text) }

// Model returns the vocabulary kind, ModelLlama or ModelGPT2.
func (t *Tokenizer) Model() string {
	if t.kind == kindBPE {
		return ModelGPT2
	}
	return ModelLlama
}

// Pre returns the pre-tokenizer in effect for gpt2 vocabularies ("llama3",
// "qwen2" or "gpt2"), or "" for llama (SentencePiece) vocabularies.
func (t *Tokenizer) Pre() string { return t.preName }

// PreFallback reports whether the requested pre-tokenizer name (returned)
// was unknown or missing, so that the GPT-2 pre-tokenizer is used instead.
// Callers may want to warn: tokenization can then differ from the model's.
func (t *Tokenizer) PreFallback() (requested string, fellBack bool) {
	return t.preAsked, t.preFallback
}

// Warnings returns the problems noticed while loading the vocabulary
// (unknown pre-tokenizer, bad special token ids, type overrides, ...),
// none of which prevented loading.
func (t *Tokenizer) Warnings() []string { return slices.Clone(t.warnings) }

// AddBOS reports whether BOS should be prepended to a prompt
// (tokenizer.ggml.add_bos_token, or llama.cpp's default for the vocabulary).
func (t *Tokenizer) AddBOS() bool { return t.addBOS && t.bos != NoToken }

// AddEOS reports whether EOS should be appended to encoded text
// (tokenizer.ggml.add_eos_token).
func (t *Tokenizer) AddEOS() bool { return t.addEOS && t.eos != NoToken }

// AddSpacePrefix reports whether SentencePiece encoding adds a dummy
// prefix space to text (always false for gpt2 vocabularies).
func (t *Tokenizer) AddSpacePrefix() bool { return t.kind == kindSPM && t.addSpacePrefix }

// BOS returns the beginning-of-sequence token id, or NoToken.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence token id, or NoToken.
func (t *Tokenizer) EOS() int { return t.eos }

// EOT returns the end-of-turn token id, or NoToken.
func (t *Tokenizer) EOT() int { return t.eot }

// EOM returns the end-of-message token id, or NoToken.
func (t *Tokenizer) EOM() int { return t.eom }

// UNK returns the unknown token id, or NoToken.
func (t *Tokenizer) UNK() int { return t.unk }

// PAD returns the padding token id, or NoToken.
func (t *Tokenizer) PAD() int { return t.pad }

// IsEOG reports whether id ends generation: EOS, EOT, EOM, or a token
// whose text llama.cpp treats as end of generation ("<|eot_id|>",
// "<|im_end|>", "<|endoftext|>", "<end_of_turn>", ...).
func (t *Tokenizer) IsEOG(id int) bool {
	_, ok := t.eog[id]
	return ok
}

// EOGs returns the end-of-generation token ids in increasing order.
func (t *Tokenizer) EOGs() []int {
	ids := make([]int, 0, len(t.eog))
	for id := range t.eog {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// valid reports whether id is a token id.
func (t *Tokenizer) valid(id int) bool { return id >= 0 && id < len(t.text) }

// Piece returns the text token id contributes to Decode: "▁" replaced by
// " " and byte tokens as their raw byte (llama), the byte-level mapping
// undone (gpt2), user-defined tokens verbatim, and "" for control,
// unknown and unused tokens and for invalid ids. A piece may be an
// incomplete UTF-8 sequence.
func (t *Tokenizer) Piece(id int) string {
	if !t.valid(id) {
		return ""
	}
	return t.pieces[id]
}

// TokenText returns the token's text as stored in the vocabulary (e.g.
// "▁the", "<0x0A>", "<s>", "Ġworld"), or "" for an invalid id.
func (t *Tokenizer) TokenText(id int) string {
	if !t.valid(id) {
		return ""
	}
	return t.text[id]
}

// TokenType returns the token's type (after llama.cpp's overrides of
// control-looking tokens), or TypeUndefined for an invalid id.
func (t *Tokenizer) TokenType(id int) TokenType {
	if !t.valid(id) {
		return TypeUndefined
	}
	return t.types[id]
}

// Score returns the token's SentencePiece score (0 for gpt2 vocabularies
// without scores or invalid ids).
func (t *Tokenizer) Score(id int) float32 {
	if !t.valid(id) {
		return 0
	}
	return t.scores[id]
}

// TokenID returns the id of the token with exactly this vocabulary text.
func (t *Tokenizer) TokenID(text string) (int, bool) {
	id, ok := t.toID[text]
	return int(id), ok
}

// Encode tokenizes text without adding BOS/EOS and without parsing special
// token text (so "<s>" in text is ordinary text), like llama_tokenize with
// add_special=false, parse_special=false. For llama vocabularies the dummy
// prefix space is added when AddSpacePrefix is true.
func (t *Tokenizer) Encode(text string) []int {
	return t.Tokenize(text, false, false)
}

// Tokenize is llama.cpp's llama_tokenize. addSpecial adds BOS (and EOS)
// when the vocabulary asks for them (AddBOS, AddEOS). parseSpecial makes
// the text of control and unknown tokens (such as "<s>" or
// "<|eot_id|>") in text map to those tokens; user-defined tokens are
// always matched as whole tokens, as in llama.cpp.
func (t *Tokenizer) Tokenize(text string, addSpecial, parseSpecial bool) []int {
	out := make([]int, 0, len(text)/3+2)
	frags := t.partition(text, parseSpecial)
	if addSpecial && t.AddBOS() {
		out = append(out, t.bos)
	}
	switch t.kind {
	case kindSPM:
		prevSpecial := true // the first fragment gets the dummy prefix
		s := spmPool.Get().(*spmSession)
		defer s.release()
		for _, f := range frags {
			if f.token >= 0 {
				out = append(out, f.token)
				prevSpecial = true
				continue
			}
			out = s.tokenize(t, f.text, t.addSpacePrefix && prevSpecial, out)
			prevSpecial = false
		}
	case kindBPE:
		s := bpePool.Get().(*bpeSession)
		defer s.release()
		for _, f := range frags {
			if f.token >= 0 {
				out = append(out, f.token)
				continue
			}
			out = s.tokenize(t, f.text, out)
		}
	}
	if addSpecial && t.AddEOS() {
		out = append(out, t.eos)
	}
	return out
}

// fragment is a raw text span (token < 0) or a pre-matched special token.
type fragment struct {
	text  string
	token int
}

// partition is llama.cpp's tokenizer_st_partition: split text at
// occurrences of special token texts, longest tokens first, leftmost
// non-overlapping occurrences within each raw fragment.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text: text, token: -1}}
	specials := t.specialsUser
	if parseSpecial {
		specials = t.specialsAll
	}
	var next []fragment
	for _, id := range specials {
		tok := t.text[id]
		if tok == "" {
			continue
		}
		found := false
		for _, f := range frags {
			if f.token < 0 && strings.Contains(f.text, tok) {
				found = true
				break
			}
		}
		if !found {
			continue
		}
		next = next[:0]
		for _, f := range frags {
			if f.token >= 0 {
				next = append(next, f)
				continue
			}
			s := f.text
			for {
				i := strings.Index(s, tok)
				if i < 0 {
					break
				}
				if i > 0 {
					next = append(next, fragment{text: s[:i], token: -1})
				}
				next = append(next, fragment{token: int(id)})
				s = s[i+len(tok):]
			}
			if s != "" {
				next = append(next, fragment{text: s, token: -1})
			}
		}
		frags, next = next, frags
	}
	return frags
}
