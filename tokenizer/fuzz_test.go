package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// idsFromBytes turns fuzz input into token ids, mostly valid, some out of
// range on either side.
func idsFromBytes(data []byte, vocab int) []int {
	ids := make([]int, 0, len(data)/2)
	for i := 0; i+1 < len(data); i += 2 {
		v := int(data[i]) | int(data[i+1])<<8
		ids = append(ids, v%(vocab+20)-10)
	}
	return ids
}

func FuzzDecode(f *testing.F) {
	spm := kjv(f)
	bpe := newBPE(f, "llama3", helloMerges,
		spmTok{text: "<|eot_id|>", typ: TypeControl}, spmTok{text: "<tool>", typ: TypeUserDefined})
	f.Add([]byte{1, 0, 0xF3, 0, 0xA2, 0, 0x9C, 0, 0x85, 0}, uint8(0))
	f.Add([]byte{0xE5, 0, 0x85, 0, 0x2E, 0}, uint8(1))
	f.Add([]byte{0xFF, 0xFF, 0, 0x80, 5, 1}, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		tk := spm
		if mode&4 != 0 {
			tk = bpe
		}
		opt := DecodeOptions{TrimPrefixSpace: mode&1 != 0, Special: mode&2 != 0}
		ids := idsFromBytes(data, tk.VocabSize())
		whole := tk.DecodeWith(ids, opt)
		d := tk.NewDecoderWith(opt)
		var sb strings.Builder
		for _, id := range ids {
			s := d.Add(id)
			if !utf8.ValidString(s) {
				t.Fatalf("Add(%d) emitted invalid UTF-8 %q", id, s)
			}
			sb.WriteString(s)
		}
		s := d.Flush()
		if !utf8.ValidString(s) {
			t.Fatalf("Flush emitted invalid UTF-8 %q", s)
		}
		sb.WriteString(s)
		if want := string([]rune(whole)); sb.String() != want {
			t.Fatalf("stream %q != decode %q (ids %v)", sb.String(), want, ids)
		}
		if utf8.ValidString(whole) && sb.String() != whole {
			t.Fatalf("stream %q != decode %q", sb.String(), whole)
		}
		if checked, err := tk.DecodeChecked(ids); checked != tk.Decode(ids) {
			t.Fatalf("DecodeChecked %q (%v) != Decode", checked, err)
		}
	})
}

func FuzzEncode(f *testing.F) {
	spm := kjv(f)
	var bpes []*Tokenizer
	for _, pre := range []string{"llama3", "qwen2", "gpt2"} {
		bpes = append(bpes, newBPE(f, pre, helloMerges, spmTok{text: "<tool>", typ: TypeUserDefined}))
	}
	for _, s := range []string{"", " ", "In the beginning", "emoji 🙂 here", "café\n\n  x", "a\xffb\xe2\x82", "▁x", "<s></s><unk>", "<0x0A>", "don't 12345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// SentencePiece: exact round trip modulo the dummy prefix and
		// "▁" (which is a space to SentencePiece). For invalid UTF-8 the
		// character split (by lead byte, as llama.cpp) can swallow part of
		// an escaped "▁" into byte tokens, which then decode as raw bytes
		// rather than a space, so only the length is checked there.
		ids := spm.Tokenize(s, true, false)
		for _, id := range ids {
			if id < 0 || id >= spm.VocabSize() {
				t.Fatalf("invalid id %d", id)
			}
		}
		got := spm.DecodeWith(ids, DecodeOptions{TrimPrefixSpace: true})
		if want := strings.ReplaceAll(s, "▁", " "); utf8.ValidString(s) && got != want {
			t.Fatalf("spm: %q -> %v -> %q", s, ids, got)
		}
		if n := len(s) + 2*strings.Count(s, " "); len(got) < len(s)-2*strings.Count(s, "▁") || len(got) > n {
			t.Fatalf("spm: %q -> %v -> %q: length out of bounds", s, ids, got)
		}
		// Byte-level BPE: round trip of the text as llama.cpp sees it
		// (invalid UTF-8 bytes become U+FFFD).
		var norm []byte
		for _, c := range decodeCodepoints(nil, s) {
			norm = appendCodepoint(norm, c)
		}
		for _, tk := range bpes {
			if got := tk.Decode(tk.Encode(s)); got != string(norm) {
				t.Fatalf("%s: %q -> %q, want %q", tk.Pre(), s, got, norm)
			}
		}
	})
}
