package tokenizer

import (
	"strings"
	"testing"
)

const paragraph = `In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.
And God said, Let there be light: and there was light. And God saw the light, that it was good: and God divided the light from the darkness. And God called the light Day, and the darkness he called Night. And the evening and the morning were the first day.
And God said, Let there be a firmament in the midst of the waters, and let it divide the waters from the waters. And God made the firmament, and divided the waters which were under the firmament from the waters which were above the firmament: and it was so. (Genesis 1:1-7, 1611 edition.)`

func BenchmarkEncodeSPM(b *testing.B) {
	tk := kjv(b)
	b.SetBytes(int64(len(paragraph)))
	b.ReportAllocs()
	for b.Loop() {
		tk.Encode(paragraph)
	}
}

func BenchmarkEncodeBPE(b *testing.B) {
	for _, pre := range []string{"llama3", "gpt2"} {
		b.Run(pre, func(b *testing.B) {
			tk := newBPE(b, pre, helloMerges)
			b.SetBytes(int64(len(paragraph)))
			b.ReportAllocs()
			for b.Loop() {
				tk.Encode(paragraph)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	tk := kjv(b)
	ids := tk.Encode(strings.Repeat(paragraph, 4))
	b.ReportAllocs()
	for b.Loop() {
		tk.Decode(ids)
	}
}

func BenchmarkDecoderAdd(b *testing.B) {
	tk := kjv(b)
	ids := tk.Encode(paragraph + " 🙂 café")
	b.ReportAllocs()
	for b.Loop() {
		d := tk.NewDecoder()
		for _, id := range ids {
			d.Add(id)
		}
		d.Flush()
	}
}
