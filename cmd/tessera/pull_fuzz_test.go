package main

import (
	"fmt"
	"testing"
)

// FuzzParseContentRange: `tessera pull` resumes a download from the
// Content-Range header of a server it does not control. Whatever the
// header, an accepted range is one RFC 9110 allows: a known size is not
// negative, a byte range is ordered and inside the size, and formatting it
// back parses to the same values.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 100-199/*", "bytes */100", "bytes */*", "bytes 5-3/10",
		"bytes 0-1/-7", "bytes 0-100/100", "bytes +1-2/3", "bytes -1-2/3", "bytes 1-2", "items 0-1/2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, size, ok := parseContentRange(s)
		if !ok {
			return
		}
		if size < -1 {
			t.Fatalf("%q: size %d", s, size)
		}
		if start == -1 && end == -1 {
			return // "bytes */SIZE"
		}
		if start < 0 || end < start || (size >= 0 && end >= size) {
			t.Fatalf("%q accepted as %d-%d/%d", s, start, end, size)
		}
		total := "*"
		if size >= 0 {
			total = fmt.Sprint(size)
		}
		s2 := fmt.Sprintf("bytes %d-%d/%s", start, end, total)
		if a, b, c, ok := parseContentRange(s2); !ok || a != start || b != end || c != size {
			t.Fatalf("%q parsed as %d-%d/%d, but %q as %d-%d/%d (%v)", s, start, end, size, s2, a, b, c, ok)
		}
	})
}
