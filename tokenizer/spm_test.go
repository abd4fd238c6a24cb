package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// spmVocab builds a small SentencePiece vocabulary: <unk> <s> </s>, the
// 256 byte tokens (ids 3..258), then the given normal tokens with scores,
// then any extra tokens with explicit types.
type spmTok struct {
	text  string
	score float32
	typ   TokenType
}

func newSPM(t testing.TB, prefix bool, toks ...spmTok) *Tokenizer {
	t.Helper()
	cfg := Config{Model: ModelLlama, BOS: 1, EOS: 2, UNK: 0, EOT: NoToken, EOM: NoToken, PAD: NoToken, AddBOS: true, AddSpacePrefix: prefix}
	add := func(s string, score float32, ty TokenType) {
		cfg.Tokens = append(cfg.Tokens, s)
		cfg.Scores = append(cfg.Scores, score)
		cfg.Types = append(cfg.Types, int32(ty))
	}
	add("<unk>", 0, TypeUnknown)
	add("<s>", 0, TypeControl)
	add("</s>", 0, TypeControl)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 0, TypeByte)
	}
	for _, tk := range toks {
		ty := tk.typ
		if ty == 0 {
			ty = TypeNormal
		}
		add(tk.text, tk.score, ty)
	}
	tk, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// texts maps ids back to vocabulary texts for readable comparisons.
func texts(tk *Tokenizer, ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = tk.TokenText(id)
	}
	return out
}

func TestSPMMergeOrder(t *testing.T) {
	for _, c := range []struct {
		name string
		toks []spmTok
		text string
		want []string
	}{
		{"higher score first", []spmTok{{"a", -1, 0}, {"b", -1, 0}, {"c", -1, 0}, {"ab", -2, 0}, {"bc", -1.5, 0}},
			"abc", w("a", "bc")},
		{"tie leftmost", []spmTok{{"a", -1, 0}, {"b", -1, 0}, {"c", -1, 0}, {"ab", -2, 0}, {"bc", -2, 0}},
			"abc", w("ab", "c")},
		{"chain", []spmTok{{"a", -1, 0}, {"b", -1, 0}, {"c", -1, 0}, {"ab", -2, 0}, {"bc", -1.5, 0}, {"abc", -3, 0}},
			"abc", w("abc")},
		{"tie leftmost repeated", []spmTok{{"a", -1, 0}, {"aa", -2, 0}},
			"aaaaa", w("aa", "aa", "a")},
		{"pairs formed by a merge compete", []spmTok{{"a", -1, 0}, {"b", -1, 0}, {"ab", -5, 0}, {"ba", -4, 0}, {"aba", -1, 0}},
			"abab", w("aba", "b")},
		{"byte fallback", []spmTok{{"a", -1, 0}},
			"aé", w("a", "<0xC3>", "<0xA9>")},
		{"emoji fallback", []spmTok{{"x", -1, 0}},
			"x🙂", w("x", "<0xF0>", "<0x9F>", "<0x99>", "<0x82>")},
		{"multibyte token", []spmTok{{"é", -1, 0}, {"ét", -1, 0}, {"t", -1, 0}},
			"étét", w("ét", "ét")},
		{"invalid utf8", []spmTok{{"a", -1, 0}},
			"a\xff\xe2\x82", w("a", "<0xFF>", "<0xE2>", "<0x82>")},
		{"control text not special", []spmTok{{"s", -1, 0}},
			"<s>", w("<0x3C>", "s", "<0x3E>")},
	} {
		tk := newSPM(t, false, c.toks...)
		got := texts(tk, tk.Encode(c.text))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Encode(%q) = %q, want %q", c.name, c.text, got, c.want)
		}
		if d := tk.Decode(tk.Encode(c.text)); d != c.text {
			t.Errorf("%s: round trip %q -> %q", c.name, c.text, d)
		}
	}
}

func TestSPMSpaces(t *testing.T) {
	toks := []spmTok{{"▁", -1, 0}, {"a", -1, 0}, {"b", -1, 0}, {"▁a", -2, 0}, {"▁b", -2, 0}, {"▁▁", -3, 0}}
	tk := newSPM(t, true, toks...)
	for _, c := range []struct {
		text string
		want []string
	}{
		{"a b", w("▁a", "▁b")},
		{" a", w("▁", "▁a")},
		{"a  b", w("▁a", "▁", "▁b")},
		{"  ", w("▁▁", "▁")},
		{"", nil},
		{" ", w("▁▁")},
		{"b▁a", w("▁b", "▁a")}, // U+2581 in the input is a space
	} {
		got := texts(tk, tk.Encode(c.text))
		if !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %q, want %q", c.text, got, c.want)
		}
		ids := tk.Tokenize(c.text, true, false)
		if len(ids) == 0 || ids[0] != 1 {
			t.Errorf("Tokenize(%q, true) = %v: no BOS", c.text, ids)
		}
		want := strings.ReplaceAll(c.text, "▁", " ")
		if d := tk.DecodeWith(ids, DecodeOptions{TrimPrefixSpace: true}); d != want {
			t.Errorf("trimmed decode of %q = %q", c.text, d)
		}
		if c.text != "" {
			if d := tk.Decode(ids); d != " "+want {
				t.Errorf("decode of %q = %q, want dummy prefix kept", c.text, d)
			}
		}
	}
	// Without the dummy prefix.
	tk = newSPM(t, false, toks...)
	if got := texts(tk, tk.Encode("a b")); !slices.Equal(got, w("a", "▁b")) {
		t.Errorf("no prefix: %q", got)
	}
	if d := tk.DecodeWith(tk.Encode(" a"), DecodeOptions{TrimPrefixSpace: true}); d != " a" {
		t.Errorf("TrimPrefixSpace must not trim without a dummy prefix: %q", d)
	}
}

func TestSPMSpecialTokens(t *testing.T) {
	toks := []spmTok{{"▁", -1, 0}, {"x", -1, 0}, {"y", -1, 0}, {"▁x", -2, 0}, {"▁y", -2, 0},
		{"<tool>", 0, TypeUserDefined}, {"<|eot_id|>", 0, TypeNormal}}
	tk := newSPM(t, true, toks...)
	// User-defined tokens are always matched; the text after them gets a
	// dummy prefix again (llama.cpp's is_prev_special).
	if got := texts(tk, tk.Encode("x<tool>y")); !slices.Equal(got, w("▁x", "<tool>", "▁y")) {
		t.Errorf("user-defined: %q", got)
	}
	if d := tk.Decode(tk.Encode("x<tool>y")); d != " x<tool> y" {
		t.Errorf("user-defined decode: %q", d)
	}
	// Control tokens only with parseSpecial.
	if got := texts(tk, tk.Tokenize("<s>x", false, true)); !slices.Equal(got, w("<s>", "▁x")) {
		t.Errorf("parseSpecial: %q", got)
	}
	if got := texts(tk, tk.Tokenize("x</s>", false, false)); slices.Contains(got, "</s>") {
		t.Errorf("control token parsed without parseSpecial: %q", got)
	}
	// "<|eot_id|>" is detected as EOT, forced to control and ends generation.
	eot, _ := tk.TokenID("<|eot_id|>")
	if tk.EOT() != eot || tk.TokenType(eot) != TypeControl || !tk.IsEOG(eot) || !tk.IsEOG(2) || tk.IsEOG(1) {
		t.Errorf("EOT %d (want %d) type %v eog %v", tk.EOT(), eot, tk.TokenType(eot), tk.EOGs())
	}
	if tk.Piece(eot) != "" || tk.DecodeWith([]int{1, eot}, DecodeOptions{Special: true}) != "<s><|eot_id|>" {
		t.Errorf("control pieces: %q %q", tk.Piece(eot), tk.DecodeWith([]int{1, eot}, DecodeOptions{Special: true}))
	}
	if len(tk.Warnings()) == 0 {
		t.Error("type override not reported")
	}
}

func TestSPMAddEOSAndMissingBytes(t *testing.T) {
	cfg := Config{Model: ModelLlama, Tokens: []string{"<unk>", "<s>", "</s>", "▁", "a"}, Types: []int32{2, 3, 3, 1, 1},
		BOS: 1, EOS: 2, UNK: 0, EOT: NoToken, EOM: NoToken, PAD: NoToken, AddBOS: true, AddEOS: true, AddSpacePrefix: true}
	tk, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// No byte tokens: unknown characters become <unk> per byte.
	if got := tk.Tokenize("aé", true, false); !slices.Equal(got, []int{1, 3, 4, 0, 0, 2}) {
		t.Errorf("got %v", got)
	}
}

func TestNewErrors(t *testing.T) {
	base := Config{Model: ModelLlama, Tokens: []string{"a", "b"}, BOS: NoToken, EOS: NoToken, EOT: NoToken, EOM: NoToken, UNK: NoToken, PAD: NoToken}
	for name, mod := range map[string]func(*Config){
		"model":  func(c *Config) { c.Model = "bert" },
		"empty":  func(c *Config) { c.Tokens = nil },
		"scores": func(c *Config) { c.Scores = []float32{1} },
		"types":  func(c *Config) { c.Types = []int32{1, 1, 1} },
		"bos":    func(c *Config) { c.BOS = 2 },
		"eos":    func(c *Config) { c.EOS = -2 },
		"eog":    func(c *Config) { c.ExtraEOG = []int{5} },
	} {
		c := base
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(base); err != nil {
		t.Error(err)
	}
	// Empty token texts are renamed like llama.cpp does.
	c := base
	c.Tokens = []string{"a", ""}
	tk, err := New(c)
	if err != nil || tk.TokenText(1) != "[EMPTY_1]" {
		t.Errorf("empty token: %v %q", err, tk.TokenText(1))
	}
}
