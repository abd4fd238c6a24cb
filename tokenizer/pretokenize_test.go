package tokenizer

import (
	"slices"
	"testing"
)

func w(s ...string) []string { return s }

// splitCases give the words of each regex, as Python's re module computes
// them for the same patterns (cross-checked on random strings as well).
var splitCases = []struct {
	text                string
	gpt2, llama3, qwen2 []string
}{
	{"Hello world", w("Hello", " world"), w("Hello", " world"), w("Hello", " world")},
	{"I'm here, you're there; it's 'quoted'", w("I", "'m", " here", ",", " you", "'re", " there", ";", " it", "'s", " '", "quoted", "'"), w("I", "'m", " here", ",", " you", "'re", " there", ";", " it", "'s", " '", "quoted", "'"), w("I", "'m", " here", ",", " you", "'re", " there", ";", " it", "'s", " '", "quoted", "'")},
	{"DON'T WE'LL I'VE", w("DON", "'", "T", " WE", "'", "LL", " I", "'", "VE"), w("DON", "'T", " WE", "'LL", " I", "'VE"), w("DON", "'T", " WE", "'LL", " I", "'VE")},
	{"'s'S 'x", w("'s", "'", "S", " '", "x"), w("'s", "'S", " '", "x"), w("'s", "'S", " '", "x")},
	{"we'd they'll you've", w("we", "'d", " they", "'ll", " you", "'ve"), w("we", "'d", " they", "'ll", " you", "'ve"), w("we", "'d", " they", "'ll", " you", "'ve")},
	{"12345 1234567", w("12345", " 1234567"), w("123", "45", " ", "123", "456", "7"), w("1", "2", "3", "4", "5", " ", "1", "2", "3", "4", "5", "6", "7")},
	{"3.14159", w("3", ".", "14159"), w("3", ".", "141", "59"), w("3", ".", "1", "4", "1", "5", "9")},
	{"a\nb", w("a", "\n", "b"), w("a", "\n", "b"), w("a", "\n", "b")},
	{"a\n\n  b", w("a", "\n\n ", " b"), w("a", "\n\n", " ", " b"), w("a", "\n\n", " ", " b")},
	{"line\r\n", w("line", "\r\n"), w("line", "\r\n"), w("line", "\r\n")},
	{"  two", w(" ", " two"), w(" ", " two"), w(" ", " two")},
	{"a   b", w("a", "  ", " b"), w("a", "  ", " b"), w("a", "  ", " b")},
	{"a \t b", w("a", " \t", " b"), w("a", " \t", " b"), w("a", " \t", " b")},
	{"trailing  ", w("trailing", "  "), w("trailing", "  "), w("trailing", "  ")},
	{"x \n y", w("x", " \n", " y"), w("x", " \n", " y"), w("x", " \n", " y")},
	{"émigré naïve", w("émigré", " naïve"), w("émigré", " naïve"), w("émigré", " naïve")},
	{"日本語のテキスト", w("日本語のテキスト"), w("日本語のテキスト"), w("日本語のテキスト")},
	{"Привет, мир", w("Привет", ",", " мир"), w("Привет", ",", " мир"), w("Привет", ",", " мир")},
	{"emoji 🙂🙂 here", w("emoji", " 🙂🙂", " here"), w("emoji", " 🙂🙂", " here"), w("emoji", " 🙂🙂", " here")},
	{"hi!!\n\nthere", w("hi", "!!", "\n", "\n", "there"), w("hi", "!!\n\n", "there"), w("hi", "!!\n\n", "there")},
	{" !?\n", w(" !?", "\n"), w(" !?\n"), w(" !?\n")},
	{"tab\tsep", w("tab", "\t", "sep"), w("tab", "\tsep"), w("tab", "\tsep")},
	{"\n", w("\n"), w("\n"), w("\n")},
	{" ", w(" "), w(" "), w(" ")},
	{"", nil, nil, nil},
	{"a\u00a0b", w("a", "\u00a0", "b"), w("a", "\u00a0b"), w("a", "\u00a0b")},
	{"١٢٣٤ ٥", w("١٢٣٤", " ٥"), w("١٢٣", "٤", " ", "٥"), w("١", "٢", "٣", "٤", " ", "٥")},
	{"snake_case_name", w("snake", "_", "case", "_", "name"), w("snake", "_case", "_name"), w("snake", "_case", "_name")},
}

func TestSplitTables(t *testing.T) {
	for _, c := range splitCases {
		for _, k := range []struct {
			name string
			pre  preKind
			want []string
		}{{"gpt2", preGPT2, c.gpt2}, {"llama3", preLlama3, c.llama3}, {"qwen2", preQwen2, c.qwen2}} {
			if got := wordsOf(k.pre, c.text); !slices.Equal(got, k.want) {
				t.Errorf("%s(%q)\n got %q\nwant %q", k.name, c.text, got, k.want)
			}
		}
	}
}

func TestSplitInvalidUTF8(t *testing.T) {
	// Invalid bytes become U+FFFD (as llama.cpp's unicode_cpts_from_utf8),
	// which is [^\s\p{L}\p{N}].
	got := wordsOf(preLlama3, "a\xffb \xe2\x82")
	want := w("a", "\uFFFDb", " \uFFFD\uFFFD")
	if !slices.Equal(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestLookupPre(t *testing.T) {
	for _, c := range []struct {
		name, eff      string
		ignore, fallbk bool
	}{
		{"llama3", "llama3", true, false},
		{"llama-bpe", "llama3", true, false},
		{"qwen2", "qwen2", false, false},
		{"gpt2", "gpt2", false, false},
		{"gpt-2", "gpt2", false, false},
		{"default", "gpt2", false, false},
		{"", "gpt2", false, true},
		{"no-such-pre", "gpt2", false, true},
	} {
		_, eff, ignore, fb := lookupPre(c.name)
		if eff != c.eff || ignore != c.ignore || fb != c.fallbk {
			t.Errorf("lookupPre(%q) = %q %v %v", c.name, eff, ignore, fb)
		}
	}
}
