package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// newBPE builds a byte-level vocabulary: the 256 byte characters (id =
// byte value), the result of every merge (in merge order), then extra
// tokens (text, type).
func newBPE(t testing.TB, pre string, merges []string, extra ...spmTok) *Tokenizer {
	t.Helper()
	cfg := Config{Model: ModelGPT2, Pre: pre, Merges: merges, BOS: NoToken, EOS: NoToken, EOT: NoToken, EOM: NoToken, UNK: NoToken, PAD: NoToken}
	seen := map[string]bool{}
	add := func(s string, ty TokenType) {
		if seen[s] {
			return
		}
		seen[s] = true
		cfg.Tokens = append(cfg.Tokens, s)
		cfg.Types = append(cfg.Types, int32(ty))
	}
	for b := range 256 {
		add(byteToStr[b], TypeNormal)
	}
	for _, m := range merges {
		add(strings.Replace(m, " ", "", 1), TypeNormal)
	}
	for _, e := range extra {
		ty := e.typ
		if ty == 0 {
			ty = TypeNormal
		}
		add(e.text, ty)
	}
	tk, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// helloMerges spell "hello", " world" and "'s" in byte-level form.
var helloMerges = []string{"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "' s", "1 2", "12 3"}

func TestByteToUnicode(t *testing.T) {
	if byteToStr[' '] != "Ġ" || byteToStr['\n'] != "Ċ" || byteToStr['a'] != "a" || byteToStr[0xAD] != "Ń" || byteToStr[0xFF] != "ÿ" {
		t.Errorf("mapping: %q %q %q %q %q", byteToStr[' '], byteToStr['\n'], byteToStr['a'], byteToStr[0xAD], byteToStr[0xFF])
	}
	seen := map[rune]bool{}
	for b := range 256 {
		r := byteToRune[b]
		if seen[r] || runeToByte[r] != byte(b) {
			t.Fatalf("byte %d maps to %U, not a bijection", b, r)
		}
		seen[r] = true
	}
	if got := decodeByteLevel("ĠhelloĊ"); got != " hello\n" {
		t.Errorf("decodeByteLevel: %q", got)
	}
}

func TestBPEEncode(t *testing.T) {
	for _, pre := range []string{"gpt2", "llama3", "qwen2"} {
		tk := newBPE(t, pre, helloMerges)
		for _, c := range []struct {
			text string
			want []string
		}{
			{"hello world", w("hello", "Ġworld")},
			{"hello  world", w("hello", "Ġ", "Ġworld")},
			{"world's", w("w", "or", "ld", "'s")},
			{"hello\n", w("hello", "Ċ")},
			{"é", w("Ã", "©")},
			{"", nil},
		} {
			got := texts(tk, tk.Encode(c.text))
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: Encode(%q) = %q, want %q", pre, c.text, got, c.want)
			}
			if d := tk.Decode(tk.Encode(c.text)); d != c.text {
				t.Errorf("%s: round trip %q -> %q", pre, c.text, d)
			}
		}
	}
}

func TestBPEDigits(t *testing.T) {
	for pre, want := range map[string][]string{
		"llama3": w("123", "12"),
		"qwen2":  w("1", "2", "3", "1", "2"),
		"gpt2":   w("123", "12"),
	} {
		tk := newBPE(t, pre, helloMerges)
		if got := texts(tk, tk.Encode("12312")); !slices.Equal(got, want) {
			t.Errorf("%s: Encode(12312) = %q, want %q", pre, got, want)
		}
	}
}

func TestBPERankOrder(t *testing.T) {
	// Merges apply by rank, lowest first, wherever they are in the word.
	tk := newBPE(t, "gpt2", []string{"b c", "a b"})
	if got := texts(tk, tk.Encode("abc")); !slices.Equal(got, w("a", "bc")) {
		t.Errorf("got %q", got)
	}
	tk = newBPE(t, "gpt2", []string{"a b", "b c"})
	if got := texts(tk, tk.Encode("abc")); !slices.Equal(got, w("ab", "c")) {
		t.Errorf("got %q", got)
	}
	// Equal pairs: leftmost first.
	tk = newBPE(t, "gpt2", []string{"a a"})
	if got := texts(tk, tk.Encode("aaaaa")); !slices.Equal(got, w("aa", "aa", "a")) {
		t.Errorf("got %q", got)
	}
}

func TestBPEIgnoreMerges(t *testing.T) {
	// llama3 looks a whole word up before merging (ignore_merges).
	extra := spmTok{text: "Ġxyz"}
	tk := newBPE(t, "llama3", helloMerges, extra)
	if got := texts(tk, tk.Encode(" xyz")); !slices.Equal(got, w("Ġxyz")) {
		t.Errorf("llama3: %q", got)
	}
	tk = newBPE(t, "gpt2", helloMerges, extra)
	if got := texts(tk, tk.Encode(" xyz")); !slices.Equal(got, w("Ġ", "x", "y", "z")) {
		t.Errorf("gpt2: %q", got)
	}
}

func TestBPEMergeResultNotInVocab(t *testing.T) {
	// A merged symbol that is not a token falls back to its bytes looked
	// up as one-byte tokens; bytes without one are dropped (llama.cpp).
	cfg := Config{Model: ModelGPT2, Pre: "gpt2", Tokens: []string{"a", "b", "c"}, Merges: []string{"a b", "ab c"},
		BOS: NoToken, EOS: NoToken, EOT: NoToken, EOM: NoToken, UNK: NoToken, PAD: NoToken}
	tk, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Encode("abcd"); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("got %v", got)
	}
}

func TestBPESpecials(t *testing.T) {
	tk := newBPE(t, "llama3", helloMerges,
		spmTok{text: "<|begin_of_text|>", typ: TypeControl},
		spmTok{text: "<|eot_id|>", typ: TypeControl},
		spmTok{text: "<|endoftext|>", typ: TypeNormal},
		spmTok{text: "<tool>", typ: TypeUserDefined})
	bot, _ := tk.TokenID("<|begin_of_text|>")
	eot, _ := tk.TokenID("<|eot_id|>")
	eoText, _ := tk.TokenID("<|endoftext|>")
	tool, _ := tk.TokenID("<tool>")
	if got := tk.Tokenize("<|begin_of_text|>hello<tool>", false, true); !slices.Equal(got, []int{bot, tk.mustID(t, "hello"), tool}) {
		t.Errorf("parseSpecial: %v", got)
	}
	if got := tk.Tokenize("hello<|eot_id|>", false, false); slices.Contains(got, eot) {
		t.Errorf("control parsed without parseSpecial: %v", got)
	}
	if !tk.IsEOG(eot) || !tk.IsEOG(eoText) || tk.IsEOG(bot) || tk.EOT() != eot {
		t.Errorf("EOG %v, EOT %d", tk.EOGs(), tk.EOT())
	}
	if tk.TokenType(eoText) != TypeControl {
		t.Errorf("<|endoftext|> not forced to control")
	}
	if d := tk.Decode([]int{bot, tk.mustID(t, "hello"), tool, eot}); d != "hello<tool>" {
		t.Errorf("decode %q", d)
	}
	if d := tk.DecodeWith([]int{bot, tk.mustID(t, "hello")}, DecodeOptions{Special: true}); d != "<|begin_of_text|>hello" {
		t.Errorf("decode special %q", d)
	}
}

func (t *Tokenizer) mustID(tb testing.TB, s string) int {
	id, ok := t.TokenID(s)
	if !ok {
		tb.Fatalf("no token %q", s)
	}
	return id
}

func TestPreFallback(t *testing.T) {
	tk := newBPE(t, "mystery-pre", helloMerges)
	if req, fb := tk.PreFallback(); !fb || req != "mystery-pre" || tk.Pre() != "gpt2" || len(tk.Warnings()) == 0 {
		t.Errorf("fallback %q %v pre %q warnings %q", req, fb, tk.Pre(), tk.Warnings())
	}
	tk = newBPE(t, "llama-bpe", helloMerges)
	if _, fb := tk.PreFallback(); fb || tk.Pre() != "llama3" {
		t.Errorf("llama-bpe: pre %q fallback %v", tk.Pre(), fb)
	}
	tk = newSPM(t, true)
	if tk.Pre() != "" {
		t.Errorf("SPM pre %q", tk.Pre())
	}
}
