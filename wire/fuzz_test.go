package wire_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/tessera-net/tessera/wire"
)

// The seed corpora in testdata/fuzz are written by
//
//	go test ./wire -run TestWriteCorpus -write-corpus
//
// from the seeds below (valid messages and damaged copies of them).
var writeCorpus = flag.Bool("write-corpus", false, "rewrite the committed fuzz seed corpora")

func seedsOf(t wire.MsgType) []wire.Message {
	var out []wire.Message
	for _, m := range samples() {
		if m.Type() == t {
			out = append(out, m)
		}
	}
	return out
}

// bodySeeds are valid bodies of type t and damaged variants: truncated,
// with a flipped byte, with a duplicated field.
func bodySeeds(tb testing.TB, t wire.MsgType) [][]byte {
	var out [][]byte
	for _, m := range seedsOf(t) {
		b := body(tb, m)
		out = append(out, b, append(append([]byte(nil), b...), 0xa0, 0x01, 0x05)) // + unknown field 20
		if len(b) > 2 {
			out = append(out, b[:len(b)/2])
			flipped := append([]byte(nil), b...)
			flipped[len(b)/3] ^= 0x41
			out = append(out, flipped)
			out = append(out, append(append([]byte(nil), b...), b[:2]...))
		}
	}
	return out
}

// fuzzBody checks the decoder of one message type: it never panics, every
// failure wraps ErrMalformed, and whatever decodes is valid, re-encodes and
// decodes to the same message.
func fuzzBody(f *testing.F, t wire.MsgType) {
	for _, b := range bodySeeds(f, t) {
		f.Add(b)
	}
	f.Fuzz(func(tt *testing.T, b []byte) {
		m, err := wire.DecodeMessage(t, b)
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				tt.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		checkReencode(tt, m)
	})
}

func checkReencode(t *testing.T, m wire.Message) {
	t.Helper()
	frame, err := wire.Marshal(m)
	if err != nil {
		t.Fatalf("decoded %+v does not encode: %v", m, err)
	}
	m2, err := wire.Unmarshal(frame, len(frame))
	if err != nil {
		t.Fatalf("re-encoded %+v does not decode: %v", m, err)
	}
	if !sameMessage(m, m2) {
		t.Fatalf("round trip changed %+v into %+v", m, m2)
	}
}

func FuzzOpenSession(f *testing.F)    { fuzzBody(f, wire.TypeOpenSession) }
func FuzzSessionOpened(f *testing.F)  { fuzzBody(f, wire.TypeSessionOpened) }
func FuzzForward(f *testing.F)        { fuzzBody(f, wire.TypeForward) }
func FuzzForwardResult(f *testing.F)  { fuzzBody(f, wire.TypeForwardResult) }
func FuzzCloseSession(f *testing.F)   { fuzzBody(f, wire.TypeCloseSession) }
func FuzzError(f *testing.F)          { fuzzBody(f, wire.TypeError) }
func FuzzInfo(f *testing.F)           { fuzzBody(f, wire.TypeInfo) }
func FuzzOpenCells(f *testing.F)      { fuzzBody(f, wire.TypeOpenCells) }
func FuzzOpenings(f *testing.F)       { fuzzBody(f, wire.TypeOpenings) }
func FuzzReceiptRequest(f *testing.F) { fuzzBody(f, wire.TypeReceiptRequest) }
func FuzzReceiptReply(f *testing.F)   { fuzzBody(f, wire.TypeReceiptReply) }

func streamSeeds(tb testing.TB) [][]byte {
	var all []byte
	var out [][]byte
	for _, m := range samples() {
		b, err := wire.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
		all = append(all, b...)
	}
	out = append(out, all, all[:len(all)-3], []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 3}, []byte{0}, []byte{2, 9, 0})
	return out
}

// FuzzReadMessage reads frames from arbitrary bytes until an error: the
// reader never panics, never allocates beyond its limit, reads the same
// through a one-byte reader (so it never reads past a frame), and
// everything it returns re-encodes.
func FuzzReadMessage(f *testing.F) {
	for _, b := range streamSeeds(f) {
		f.Add(b)
	}
	const limit = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		r1 := bytes.NewReader(data)
		r2 := iotest.OneByteReader(bytes.NewReader(data))
		for {
			m1, err1 := wire.ReadMessage(r1, limit)
			m2, err2 := wire.ReadMessage(r2, limit)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("byte reader: %v; one-byte reader: %v", err1, err2)
			}
			if err1 != nil {
				if err1 != io.EOF && !errors.Is(err1, io.ErrUnexpectedEOF) &&
					!errors.Is(err1, wire.ErrMalformed) && !errors.Is(err1, wire.ErrTooLarge) {
					t.Fatalf("unexpected error class: %v", err1)
				}
				return
			}
			if !sameMessage(m1, m2) {
				t.Fatalf("readers disagree: %+v vs %+v", m1, m2)
			}
			if wire.FrameSize(m1) > limit+8 {
				t.Fatalf("frame of %d bytes passed a %d limit", wire.FrameSize(m1), limit)
			}
			checkReencode(t, m1)
		}
	})
}

func hiddenSeeds() [][]byte {
	return [][]byte{
		{1, 1, 2, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0},
		{2, 2, 2, 0, 0x3c, 0x00, 0x40, 0x00, 0x80, 0xff, 0x7b},
		{2, 1, 1, 0x00, 0x7c},
		{1, 1, 1, 0, 0, 0xc0, 0x7f},
		{1, 3, 1, 0},
		{3, 1, 1, 0, 0},
	}
}

// FuzzDecodeHidden decodes payloads: the first byte is the dtype, the next
// two the shape (positions, dim); lengths and values are checked, and a
// decoded payload re-encodes to the same bytes.
func FuzzDecodeHidden(f *testing.F) {
	for _, b := range hiddenSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		dt, n, dim := wire.DType(data[0]), int(data[1]), int(data[2])
		payload := data[3:]
		dst := make([]float32, n*dim)
		err := wire.DecodeHidden(dst, dt, payload, n, dim)
		if err != nil {
			return
		}
		again, err := wire.EncodeHidden(nil, dt, dst, n, dim)
		if err != nil {
			t.Fatalf("decoded payload does not encode: %v", err)
		}
		if !bytes.Equal(again, payload) {
			t.Fatalf("re-encoding changed %x into %x", payload, again)
		}
	})
}

// TestWriteCorpus writes the seed corpora under testdata/fuzz (with
// -write-corpus) so that `go test` replays them as regression cases.
func TestWriteCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to rewrite testdata/fuzz")
	}
	write := func(name string, seeds [][]byte) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, typ := range map[string]wire.MsgType{
		"FuzzOpenSession": wire.TypeOpenSession, "FuzzSessionOpened": wire.TypeSessionOpened,
		"FuzzForward": wire.TypeForward, "FuzzForwardResult": wire.TypeForwardResult,
		"FuzzCloseSession": wire.TypeCloseSession, "FuzzError": wire.TypeError, "FuzzInfo": wire.TypeInfo,
		"FuzzOpenCells": wire.TypeOpenCells, "FuzzOpenings": wire.TypeOpenings,
		"FuzzReceiptRequest": wire.TypeReceiptRequest, "FuzzReceiptReply": wire.TypeReceiptReply,
	} {
		write(name, bodySeeds(t, typ))
	}
	write("FuzzReadMessage", streamSeeds(t))
	write("FuzzDecodeHidden", hiddenSeeds())
}
