package tokenizer

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// stream decodes ids through a Decoder, returning each Add result and the
// Flush result last.
func stream(d *Decoder, ids []int) []string {
	var out []string
	for _, id := range ids {
		out = append(out, d.Add(id))
	}
	return append(out, d.Flush())
}

func TestDecoderEmojiBytes(t *testing.T) {
	tk := kjv(t)
	// "🙂" = F0 9F 99 82, byte tokens are 3 + byte value.
	ids := []int{1, 3 + 0xF0, 3 + 0x9F, 3 + 0x99, 3 + 0x82, 261}
	got := stream(tk.NewDecoder(), ids)
	want := []string{"", "", "", "", "🙂", " the", ""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("stream %q, want %q", got, want)
	}
	if d := tk.Decode(ids); d != "🙂 the" {
		t.Errorf("Decode %q", d)
	}
	// The golden sentence with an emoji, token by token.
	ids = tk.Tokenize("emoji 🙂 here", true, false)
	d := tk.NewDecoderWith(DecodeOptions{TrimPrefixSpace: true})
	var sb strings.Builder
	for _, id := range ids {
		s := d.Add(id)
		if !utf8.ValidString(s) {
			t.Fatalf("Add emitted invalid UTF-8 %q", s)
		}
		sb.WriteString(s)
	}
	sb.WriteString(d.Flush())
	if sb.String() != "emoji 🙂 here" {
		t.Errorf("streamed %q", sb.String())
	}
}

func TestDecoderInvalid(t *testing.T) {
	tk := kjv(t)
	b := func(x byte) int { return 3 + int(x) }
	for _, c := range []struct {
		name string
		ids  []int
		want []string
	}{
		// E2 82 could still become "€"; 'a' shows it cannot.
		{"truncated then ascii", []int{b(0xE2), b(0x82), b('a')}, []string{"", "", "\uFFFD\uFFFDa", ""}},
		{"completed", []int{b(0xE2), b(0x82), b(0xAC)}, []string{"", "", "€", ""}},
		{"lone continuation", []int{b(0x80), b('x')}, []string{"\uFFFD", "x", ""}},
		{"invalid lead", []int{b(0xFF)}, []string{"\uFFFD", ""}},
		{"surrogate prefix", []int{b(0xED), b(0xA0)}, []string{"", "\uFFFD\uFFFD", ""}},
		{"flush partial", []int{b(0xF0), b(0x9F)}, []string{"", "", "\uFFFD\uFFFD"}},
		{"invalid ids skipped", []int{-1, b('h'), 1 << 40, 2048, b('i')}, []string{"", "h", "", "", "i", ""}},
		{"control", []int{1, 2, 0}, []string{"", "", "", ""}},
	} {
		got := stream(tk.NewDecoder(), c.ids)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if whole := string([]rune(tk.Decode(c.ids))); strings.Join(got, "") != whole {
			t.Errorf("%s: stream %q != Decode %q", c.name, strings.Join(got, ""), whole)
		}
	}
}

func TestDecoderTrimAndReset(t *testing.T) {
	tk := kjv(t)
	ids := tk.Tokenize("Hello world", true, false)
	d := tk.NewDecoderWith(DecodeOptions{TrimPrefixSpace: true})
	if got := strings.Join(stream(d, ids), ""); got != "Hello world" {
		t.Errorf("trimmed %q", got)
	}
	// After the first text the space is kept.
	if got := d.Add(261); got != " the" {
		t.Errorf("later token %q", got)
	}
	d.Reset()
	if got := d.Add(261); got != "the" {
		t.Errorf("after Reset %q", got)
	}
	d = tk.NewDecoder()
	if got := strings.Join(stream(d, ids), ""); got != " Hello world" {
		t.Errorf("untrimmed %q", got)
	}
	d = tk.NewDecoderWith(DecodeOptions{Special: true})
	if got := strings.Join(stream(d, []int{1, 261, 2}), ""); got != "<s> the</s>" {
		t.Errorf("special %q", got)
	}
}

func TestDecodeChecked(t *testing.T) {
	tk := kjv(t)
	s, err := tk.DecodeChecked([]int{261, 2048, -5})
	var ie *InvalidTokenError
	if s != " the" || !errors.As(err, &ie) || ie.ID != 2048 || ie.Index != 1 || ie.VocabSize != 2048 {
		t.Errorf("DecodeChecked = %q, %v", s, err)
	}
	if s, err := tk.DecodeChecked([]int{261}); s != " the" || err != nil {
		t.Errorf("DecodeChecked = %q, %v", s, err)
	}
	if tk.Piece(-1) != "" || tk.Piece(1<<40) != "" || tk.TokenText(5000) != "" || tk.TokenType(-3) != TypeUndefined || tk.Score(9999) != 0 {
		t.Error("accessors on invalid ids")
	}
	if tk.Decode(nil) != "" {
		t.Error("Decode(nil)")
	}
}

func TestBPEStreamingBytes(t *testing.T) {
	tk := newBPE(t, "llama3", helloMerges)
	// Without merges for it, "🙂" encodes as four byte-character tokens.
	ids := tk.Encode("hello🙂")
	if len(ids) != 5 {
		t.Fatalf("ids %v", ids)
	}
	got := stream(tk.NewDecoder(), ids)
	want := []string{"hello", "", "", "", "🙂", ""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("stream %q, want %q", got, want)
	}
}
