package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// DecodeOptions adjust decoding. The zero value is plain Decode.
type DecodeOptions struct {
	// TrimPrefixSpace drops one space at the very start of the output when
	// the tokenizer adds a SentencePiece dummy prefix (AddSpacePrefix), so
	// that decoding Encode(s) gives back s. Pieces that decode to nothing
	// (BOS, ...) before the first text do not end the trimming window.
	TrimPrefixSpace bool
	// Special renders control and unknown tokens as their vocabulary text
	// (e.g. "<s>", "</s>") instead of nothing, like llama.cpp's
	// token_to_piece with special=true.
	Special bool
}

// piece returns the decoded bytes of a valid id under opt.
func (t *Tokenizer) piece(id int, special bool) string {
	if special {
		switch t.types[id] {
		case TypeControl, TypeUnknown:
			return t.text[id]
		}
	}
	return t.pieces[id]
}

// Decode returns the concatenated pieces of ids (see Piece): for llama
// vocabularies "▁" becomes " " (including the dummy-prefix space, which is
// kept) and byte tokens become raw bytes; control tokens such as BOS/EOS
// give "". Invalid ids are skipped. The result is the raw byte string,
// which may be invalid UTF-8 if ids split a multi-byte character.
func (t *Tokenizer) Decode(ids []int) string {
	return t.DecodeWith(ids, DecodeOptions{})
}

// DecodeWith is Decode with options.
func (t *Tokenizer) DecodeWith(ids []int, opt DecodeOptions) string {
	var b strings.Builder
	trim := opt.TrimPrefixSpace && t.AddSpacePrefix()
	for _, id := range ids {
		if !t.valid(id) {
			continue
		}
		p := t.piece(id, opt.Special)
		if trim && p != "" {
			trim = false
			if p[0] == ' ' {
				p = p[1:]
			}
		}
		b.WriteString(p)
	}
	return b.String()
}

// InvalidTokenError reports a token id outside the vocabulary.
type InvalidTokenError struct {
	ID        int // the offending id
	Index     int // its position in the input
	VocabSize int
}

// Error implements error.
func (e *InvalidTokenError) Error() string {
	return fmt.Sprintf("tokenizer: invalid token id %d at index %d (vocabulary size %d)", e.ID, e.Index, e.VocabSize)
}

// DecodeChecked is Decode that also reports the first invalid id as an
// *InvalidTokenError; the returned text is what Decode returns (invalid
// ids skipped).
func (t *Tokenizer) DecodeChecked(ids []int) (string, error) {
	var err error
	for i, id := range ids {
		if !t.valid(id) {
			err = &InvalidTokenError{ID: id, Index: i, VocabSize: len(t.text)}
			break
		}
	}
	return t.Decode(ids), err
}

// Decoder turns a stream of token ids into text, emitting only complete
// UTF-8 characters. Bytes of a character split across tokens (byte
// fallback, byte-level BPE) are held back until the character completes;
// bytes that cannot begin or continue a valid character become U+FFFD,
// one per byte, as soon as that is certain. The concatenation of all Add
// results and the final Flush equals string([]rune(DecodeWith(ids, opt))),
// i.e. exactly the Decode text whenever that is valid UTF-8.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	t       *Tokenizer
	opt     DecodeOptions
	pending []byte // trailing bytes of a possibly incomplete character
	trim    bool   // prefix space not yet seen/dropped
}

// NewDecoder returns a streaming decoder with the default options (as
// Decode).
func (t *Tokenizer) NewDecoder() *Decoder { return t.NewDecoderWith(DecodeOptions{}) }

// NewDecoderWith returns a streaming decoder with options (as DecodeWith).
func (t *Tokenizer) NewDecoderWith(opt DecodeOptions) *Decoder {
	return &Decoder{t: t, opt: opt, trim: opt.TrimPrefixSpace && t.AddSpacePrefix()}
}

// Add decodes one token and returns the text it completes (possibly "").
// Invalid ids are skipped.
func (d *Decoder) Add(id int) string {
	if !d.t.valid(id) {
		return ""
	}
	p := d.t.piece(id, d.opt.Special)
	if p == "" {
		return ""
	}
	if d.trim {
		d.trim = false
		if p[0] == ' ' {
			p = p[1:]
		}
	}
	if len(d.pending) == 0 {
		// Fast path: nothing held back and the piece is whole text.
		if utf8.ValidString(p) {
			return p
		}
	}
	d.pending = append(d.pending, p...)
	return d.drain(false)
}

// Flush returns any held-back bytes (an incomplete character at the end of
// the stream) as U+FFFD, one per byte, and empties the buffer.
func (d *Decoder) Flush() string { return d.drain(true) }

// Reset discards held-back bytes and restarts the decoder as new (so the
// prefix space is trimmed again if so configured).
func (d *Decoder) Reset() {
	d.pending = d.pending[:0]
	d.trim = d.opt.TrimPrefixSpace && d.t.AddSpacePrefix()
}

// drain converts the complete prefix of pending to text (all of it when
// final) and keeps the rest.
func (d *Decoder) drain(final bool) string {
	p := d.pending
	out := make([]byte, 0, len(p)+2)
	i := 0
	for i < len(p) {
		if p[i] < utf8.RuneSelf {
			out = append(out, p[i])
			i++
			continue
		}
		if !final && !utf8.FullRune(p[i:]) {
			break // may still complete
		}
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, p[i:i+size]...)
		}
		i += size
	}
	d.pending = p[:copy(p, p[i:])]
	return string(out)
}
