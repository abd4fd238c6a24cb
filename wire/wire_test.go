package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tessera-net/tessera/quant"
	"github.com/tessera-net/tessera/wire"
)

func commit() [32]byte {
	var c [32]byte
	for i := range c {
		c[i] = byte(i * 7)
	}
	return c
}

// samples holds valid messages of every type, including edge values.
func samples() []wire.Message {
	return []wire.Message{
		&wire.OpenSession{Version: wire.Version, ModelCommit: commit(), First: 0, Last: 6, MaxPositions: 256, DType: wire.DTypeF32},
		&wire.OpenSession{Version: math.MaxUint32, First: wire.LayerLimit - 1, Last: wire.LayerLimit, MaxPositions: wire.PositionLimit, DType: wire.DTypeF16},
		&wire.SessionOpened{SessionID: 42, MaxPositions: 128, DType: wire.DTypeF16, MaxMessageBytes: 1 << 20},
		&wire.SessionOpened{SessionID: math.MaxUint64, MaxPositions: 1, DType: wire.DTypeF32, MaxMessageBytes: wire.MessageLimit},
		&wire.Forward{SessionID: 7, Step: 0, Start: 0, N: 2, Payload: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		&wire.Forward{SessionID: 0, Step: math.MaxUint64, Start: wire.PositionLimit - 1, N: 1, Payload: []byte{}},
		&wire.ForwardResult{Step: 3, Start: 9, N: 1, Payload: []byte{0, 0, 0x80, 0x3f}},
		&wire.CloseSession{},
		&wire.Error{Code: wire.CodeTooLong, Message: "positions up to 300 exceed 256"},
		&wire.Error{Code: wire.CodeBusy},
		&wire.Info{Version: wire.Version, ModelCommit: commit(), First: 2, Last: 4, MaxPositions: 2048, FreeSessions: 0},
		&wire.Info{Version: 3, First: 0, Last: wire.LayerLimit, MaxPositions: 1, FreeSessions: wire.PositionLimit},
		&wire.OpenSession{Version: wire.Version, ModelCommit: commit(), First: 2, Last: 4, MaxPositions: 64, DType: wire.DTypeF16, Nonce: bytes.Repeat([]byte{9}, wire.NonceSize)},
		&wire.SessionOpened{SessionID: 3, MaxPositions: 64, DType: wire.DTypeF32, MaxMessageBytes: 1 << 16, NodeKey: bytes.Repeat([]byte{7}, wire.KeySize)},
		&wire.ForwardResult{Step: 4, Start: 10, N: 1, Payload: []byte{0, 0, 0x80, 0x3f}, Receipt: bytes.Repeat([]byte{5}, 64)},
		&wire.Info{Version: wire.Version, ModelCommit: commit(), First: 0, Last: 2, MaxPositions: 128, FreeSessions: 3, NodeKey: bytes.Repeat([]byte{7}, wire.KeySize)},
		&wire.OpenCells{SessionID: 3, Request: []byte("TSOREQ1\n\x00\x00\x00\x00")},
		&wire.Openings{Body: []byte("TSOPEN1\n\x00\x00\x00\x00")},
		&wire.Openings{Body: []byte{}},
		&wire.Error{Code: wire.CodeGone, Message: "step 3 is no longer kept"},
		&wire.OpenSession{Version: wire.Version, ModelCommit: commit(), First: 0, Last: 3, MaxPositions: 64, DType: wire.DTypeF32,
			Nonce: bytes.Repeat([]byte{9}, wire.NonceSize), Payer: bytes.Repeat([]byte{4}, wire.KeySize), PayerSig: bytes.Repeat([]byte{6}, wire.SigSize)},
		&wire.Error{Code: wire.CodeRefused, Message: "client cannot pay"},
		&wire.ReceiptRequest{SessionID: 3},
		&wire.ReceiptRequest{},
		&wire.ReceiptReply{Receipt: bytes.Repeat([]byte{5}, 64)},
		&wire.ReceiptReply{},
	}
}

// body strips the frame header.
func body(t testing.TB, m wire.Message) []byte {
	t.Helper()
	b, err := wire.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	_, n := binary.Uvarint(b)
	return b[n+1:]
}

func sameMessage(a, b wire.Message) bool {
	ma, err1 := wire.Marshal(a)
	mb, err2 := wire.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ma, mb) && reflect.TypeOf(a) == reflect.TypeOf(b)
}

func TestRoundTrip(t *testing.T) {
	var stream bytes.Buffer
	for _, m := range samples() {
		b, err := wire.Marshal(m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if len(b) != wire.FrameSize(m) {
			t.Errorf("%T: frame of %d bytes, FrameSize %d", m, len(b), wire.FrameSize(m))
		}
		got, err := wire.Unmarshal(b, 0)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip: got %+v, want %+v", got, m)
		}
		if err := wire.WriteMessage(&stream, m); err != nil {
			t.Fatal(err)
		}
	}
	// The same frames back to back, read through a reader that is not an
	// io.ByteReader and returns one byte per Read: ReadMessage must not read
	// past a frame.
	r := iotest.OneByteReader(bytes.NewReader(stream.Bytes()))
	for _, want := range samples() {
		got, err := wire.ReadMessage(r, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("read %+v, want %+v", got, want)
		}
	}
	if _, err := wire.ReadMessage(r, 1<<20); err != io.EOF {
		t.Fatalf("at end of stream: %v, want io.EOF", err)
	}
}

func TestWriterReuse(t *testing.T) {
	var buf bytes.Buffer
	w := wire.Writer{W: &buf}
	for _, m := range samples() {
		if err := w.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	br := bytes.NewReader(buf.Bytes())
	for _, want := range samples() {
		got, err := wire.ReadMessage(br, 0)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, %v; want %+v", got, err, want)
		}
	}
	if err := w.WriteMessage(&wire.Error{}); err == nil {
		t.Fatal("writer accepted an invalid message")
	}
}

func TestUnknownFieldsSkipped(t *testing.T) {
	for _, m := range samples() {
		b := body(t, m)
		// Fields 20..24 of every wire type before and after the known ones.
		var extra []byte
		extra = protowire.AppendTag(extra, 20, protowire.VarintType)
		extra = protowire.AppendVarint(extra, 1<<60)
		extra = protowire.AppendTag(extra, 21, protowire.Fixed64Type)
		extra = protowire.AppendFixed64(extra, 5)
		extra = protowire.AppendTag(extra, 22, protowire.BytesType)
		extra = protowire.AppendBytes(extra, []byte("future"))
		extra = protowire.AppendTag(extra, 23, protowire.Fixed32Type)
		extra = protowire.AppendFixed32(extra, 5)
		extra = protowire.AppendTag(extra, 24, protowire.StartGroupType)
		extra = protowire.AppendTag(extra, 1, protowire.VarintType)
		extra = protowire.AppendVarint(extra, 3)
		extra = protowire.AppendTag(extra, 24, protowire.EndGroupType)
		in := append(append(append([]byte(nil), extra...), b...), extra...)
		got, err := wire.DecodeMessage(m.Type(), in)
		if err != nil {
			t.Fatalf("%T with unknown fields: %v", m, err)
		}
		if !sameMessage(got, m) {
			t.Errorf("%T with unknown fields decoded to %+v", m, got)
		}
	}
}

func TestMalformed(t *testing.T) {
	tag := func(b []byte, num protowire.Number, typ protowire.Type) []byte {
		return protowire.AppendTag(b, num, typ)
	}
	v := func(b []byte, num protowire.Number, x uint64) []byte {
		return protowire.AppendVarint(tag(b, num, protowire.VarintType), x)
	}
	by := func(b []byte, num protowire.Number, x []byte) []byte {
		return protowire.AppendBytes(tag(b, num, protowire.BytesType), x)
	}
	c := commit()
	open := func(version, first, last, maxPos, dtype uint64, commit []byte) []byte {
		var b []byte
		b = v(b, 1, version)
		b = by(b, 2, commit)
		b = v(b, 3, first)
		b = v(b, 4, last)
		b = v(b, 5, maxPos)
		return v(b, 6, dtype)
	}
	fwd := func(start, n uint64) []byte {
		var b []byte
		b = v(b, 1, 1)
		b = v(b, 2, 0)
		b = v(b, 3, start)
		b = v(b, 4, n)
		return by(b, 5, []byte{1, 2})
	}
	cases := []struct {
		name string
		typ  wire.MsgType
		body []byte
		want string
	}{
		{"open valid control", wire.TypeOpenSession, open(1, 0, 6, 256, 1, c[:]), ""},
		{"version 0", wire.TypeOpenSession, open(0, 0, 6, 256, 1, c[:]), "version 0"},
		{"version > uint32", wire.TypeOpenSession, open(1<<32, 0, 6, 256, 1, c[:]), "version"},
		{"short commit", wire.TypeOpenSession, open(1, 0, 6, 256, 1, c[:31]), "model_commit"},
		{"empty range", wire.TypeOpenSession, open(1, 3, 3, 256, 1, c[:]), "layer range"},
		{"reversed range", wire.TypeOpenSession, open(1, 4, 3, 256, 1, c[:]), "layer range"},
		{"layer beyond limit", wire.TypeOpenSession, open(1, 0, wire.LayerLimit+1, 256, 1, c[:]), "last"},
		{"zero max positions", wire.TypeOpenSession, open(1, 0, 6, 0, 1, c[:]), "max positions"},
		{"huge max positions", wire.TypeOpenSession, open(1, 0, 6, 1<<40, 1, c[:]), "max_positions"},
		{"unknown dtype", wire.TypeOpenSession, open(1, 0, 6, 256, 3, c[:]), "dtype"},
		{"dtype 0", wire.TypeOpenSession, open(1, 0, 6, 256, 0, c[:]), "dtype"},
		{"dtype > byte", wire.TypeOpenSession, open(1, 0, 6, 256, 257, c[:]), "dtype"},
		{"missing field", wire.TypeOpenSession, open(1, 0, 6, 256, 1, c[:])[:40], "missing"},
		{"duplicated field", wire.TypeOpenSession, v(open(1, 0, 6, 256, 1, c[:]), 3, 0), "twice"},
		{"wrong wire type", wire.TypeOpenSession, append(by(nil, 1, []byte{1}), open(1, 0, 6, 256, 1, c[:])[2:]...), "wire type"},
		{"truncated varint", wire.TypeOpenSession, append(open(1, 0, 6, 256, 1, c[:]), 0x08, 0x80), "version"},
		{"truncated bytes", wire.TypeForward, fwd(0, 1)[:len(fwd(0, 1))-1], "payload"},
		{"field number 0", wire.TypeForward, append([]byte{0x00, 0x01}, fwd(0, 1)...), "tag"},
		{"forward n 0", wire.TypeForward, fwd(0, 0), "n 0"},
		{"forward start+n beyond limit", wire.TypeForward, fwd(wire.PositionLimit-1, 2), "outside"},
		{"forward start beyond limit", wire.TypeForward, fwd(1<<40, 1), "start"},
		{"forward valid control", wire.TypeForward, fwd(5, 1), ""},
		{"opened missing dtype", wire.TypeSessionOpened, v(v(v(nil, 1, 1), 2, 5), 4, 100), "missing"},
		{"opened valid control", wire.TypeSessionOpened, v(v(v(v(nil, 1, 1), 2, 5), 3, 1), 4, 100), ""},
		{"opened message limit 0", wire.TypeSessionOpened, v(v(v(v(nil, 1, 1), 2, 5), 3, 1), 4, 0), "max message bytes"},
		{"opened message limit huge", wire.TypeSessionOpened, v(v(v(v(nil, 1, 1), 2, 5), 3, 1), 4, 1<<31), "max_message_bytes"},
		{"error code 0", wire.TypeError, by(v(nil, 1, 0), 2, nil), "code"},
		{"error code unknown", wire.TypeError, by(v(nil, 1, 12), 2, nil), "code"},
		{"error bad utf-8", wire.TypeError, by(v(nil, 1, 1), 2, []byte{0xff}), "UTF-8"},
		{"error too long", wire.TypeError, by(v(nil, 1, 1), 2, bytes.Repeat([]byte("a"), wire.MaxErrorMessage+1)), "exceeds"},
		{"close with bad trailing byte", wire.TypeCloseSession, []byte{0x08}, "CloseSession"},
		{"unknown type", wire.MsgType(0), nil, "unknown message type"},
		{"unknown type 12", wire.MsgType(12), nil, "unknown message type"},
		{"receipt request missing session", wire.TypeReceiptRequest, nil, "missing"},
		{"receipt reply too long", wire.TypeReceiptReply, by(nil, 1, make([]byte, wire.MaxReceipt+1)), "exceeds"},
		{"open short nonce", wire.TypeOpenSession, by(open(1, 0, 6, 256, 1, c[:]), 7, []byte{1, 2, 3}), "nonce"},
		{"open duplicated nonce", wire.TypeOpenSession, by(by(open(1, 0, 6, 256, 1, c[:]), 7, c[:]), 7, c[:]), "twice"},
		{"open nonce control", wire.TypeOpenSession, by(open(1, 0, 6, 256, 1, c[:]), 7, c[:]), ""},
		{"opened short key", wire.TypeSessionOpened, by(v(v(v(v(nil, 1, 1), 2, 5), 3, 1), 4, 100), 5, c[:5]), "node key"},
		{"info short key", wire.TypeInfo, by(open(1, 0, 6, 256, 0, c[:]), 7, c[:31]), "node key"},
		{"result receipt too long", wire.TypeForwardResult, by(by(v(v(v(nil, 1, 0), 2, 0), 3, 1), 4, nil), 5, make([]byte, wire.MaxReceipt+1)), "receipt"},
		{"result receipt wrong type", wire.TypeForwardResult, v(by(v(v(v(nil, 1, 0), 2, 0), 3, 1), 4, nil), 5, 1), "wire type"},
		{"open cells empty request", wire.TypeOpenCells, by(v(nil, 1, 3), 2, nil), "empty request"},
		{"open cells missing request", wire.TypeOpenCells, v(nil, 1, 3), "missing"},
		{"openings missing body", wire.TypeOpenings, nil, "missing"},
		{"openings control", wire.TypeOpenings, by(nil, 1, []byte{1}), ""},
		{"info missing field", wire.TypeInfo, open(1, 0, 6, 256, 1, c[:])[:40], "missing"},
		{"info free sessions beyond limit", wire.TypeInfo, open(1, 0, 6, 256, wire.PositionLimit+1, c[:]), "free_sessions"},
		{"info valid control", wire.TypeInfo, open(1, 0, 6, 256, 0, c[:]), ""},
		{"end group without start", wire.TypeCloseSession, tag(nil, 3, protowire.EndGroupType), "CloseSession"},
	}
	for _, tc := range cases {
		m, err := wire.DecodeMessage(tc.typ, tc.body)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: decoded to %+v, want an error", tc.name, m)
			continue
		}
		if !errors.Is(err, wire.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want ErrMalformed mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestTruncatedFrames(t *testing.T) {
	for _, m := range samples() {
		b, _ := wire.Marshal(m)
		for i := range len(b) {
			if _, err := wire.Unmarshal(b[:i], 0); err == nil {
				t.Fatalf("%T: %d-byte prefix of %d decoded", m, i, len(b))
			}
			_, err := wire.ReadMessage(bytes.NewReader(b[:i]), 0)
			if i == 0 && err != io.EOF {
				t.Fatalf("empty stream: %v, want io.EOF", err)
			}
			if i > 0 && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%T: %d-byte prefix: %v, want io.ErrUnexpectedEOF", m, i, err)
			}
		}
		// A frame one byte shorter than its content: the body is cut.
		short := append([]byte(nil), b...)
		short[0]-- // all sample frames are shorter than 128 bytes
		if _, err := wire.Unmarshal(short[:len(short)-1], 0); err == nil && m.Type() != wire.TypeCloseSession {
			t.Errorf("%T: cut body decoded", m)
		}
		if _, err := wire.Unmarshal(append(b, 0), 0); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%T: trailing byte: %v", m, err)
		}
	}
}

// countingReader records how many bytes were read.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestOversizedFrame(t *testing.T) {
	// A frame claiming 1 TiB is refused after its 6-byte length, before any
	// allocation.
	hdr := binary.AppendUvarint(nil, 1<<40)
	in := append(hdr, 1, 2, 3)
	cr := &countingReader{r: bytes.NewReader(in)}
	_, err := wire.ReadMessage(cr, 1<<20)
	if !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if cr.n != len(hdr) {
		t.Errorf("read %d bytes, want only the %d-byte length", cr.n, len(hdr))
	}
	// Refusing a frame that claims 1 MiB + 1 allocates only the error.
	hdr2 := binary.AppendUvarint(nil, 1<<20+1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		_, _ = wire.ReadMessage(bytes.NewReader(hdr2), 1<<20)
	}
	runtime.ReadMemStats(&after)
	if perRun := (after.TotalAlloc - before.TotalAlloc) / 10; perRun > 4096 {
		t.Errorf("%d bytes allocated refusing an oversized frame", perRun)
	}
	// Exactly at the limit is accepted.
	m := &wire.Forward{SessionID: 1, N: 1, Payload: make([]byte, 100)}
	b, _ := wire.Marshal(m)
	_, n := binary.Uvarint(b)
	limit := len(b) - n
	if _, err := wire.ReadMessage(bytes.NewReader(b), limit); err != nil {
		t.Fatalf("frame at the limit: %v", err)
	}
	if _, err := wire.ReadMessage(bytes.NewReader(b), limit-1); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("frame one byte over the limit: %v", err)
	}
	if _, err := wire.Unmarshal(b, limit-1); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("Unmarshal over the limit: %v", err)
	}
	// A length that overflows 64 bits, and an empty frame.
	if _, err := wire.ReadMessage(bytes.NewReader(bytes.Repeat([]byte{0xff}, 11)), 0); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("overflowing length: %v", err)
	}
	if _, err := wire.ReadMessage(bytes.NewReader([]byte{0}), 0); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("empty frame: %v", err)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	bad := []wire.Message{
		&wire.OpenSession{Version: 1, First: 2, Last: 2, MaxPositions: 1, DType: wire.DTypeF32},
		&wire.OpenSession{Version: 1, First: 0, Last: 2, MaxPositions: 1, DType: 9},
		&wire.SessionOpened{MaxPositions: 0, DType: wire.DTypeF32, MaxMessageBytes: 100},
		&wire.SessionOpened{MaxPositions: 1, DType: wire.DTypeF32, MaxMessageBytes: 0},
		&wire.Forward{Start: -1, N: 1},
		&wire.ForwardResult{Start: 0, N: 0},
		&wire.Error{Code: 0},
		&wire.Error{Code: wire.CodeInternal, Message: "\xff"},
		&wire.Info{Version: 1, First: 0, Last: 2, MaxPositions: 1, FreeSessions: -1},
		&wire.Info{Version: 0, First: 0, Last: 2, MaxPositions: 1},
		&wire.OpenSession{Version: 1, First: 0, Last: 2, MaxPositions: 1, DType: wire.DTypeF32, Nonce: []byte{1}},
		&wire.SessionOpened{MaxPositions: 1, DType: wire.DTypeF32, MaxMessageBytes: 1, NodeKey: make([]byte, 33)},
		&wire.ForwardResult{Start: 0, N: 1, Receipt: make([]byte, wire.MaxReceipt+1)},
		&wire.Info{Version: 1, First: 0, Last: 2, MaxPositions: 1, NodeKey: []byte{1}},
		&wire.OpenCells{SessionID: 1},
		&wire.OpenSession{Version: 1, First: 0, Last: 2, MaxPositions: 1, DType: wire.DTypeF32, Payer: make([]byte, wire.KeySize)},
		&wire.OpenSession{Version: 1, First: 0, Last: 2, MaxPositions: 1, DType: wire.DTypeF32, PayerSig: make([]byte, wire.SigSize)},
		&wire.OpenSession{Version: 1, First: 0, Last: 2, MaxPositions: 1, DType: wire.DTypeF32, Payer: make([]byte, 31), PayerSig: make([]byte, wire.SigSize)},
		&wire.Error{Code: wire.CodeRefused + 1},
		&wire.ReceiptReply{Receipt: make([]byte, wire.MaxReceipt+1)},
	}
	for _, m := range bad {
		if _, err := wire.Marshal(m); err == nil {
			t.Errorf("encoded invalid %+v", m)
		}
	}
}

func TestNewError(t *testing.T) {
	long := strings.Repeat("é", wire.MaxErrorMessage) // 2 bytes each
	e := wire.NewError(wire.CodeInternal, long+"\xff")
	if len(e.Message) > wire.MaxErrorMessage || !strings.HasPrefix(long, e.Message) {
		t.Fatalf("message of %d bytes", len(e.Message))
	}
	if _, err := wire.Marshal(e); err != nil {
		t.Fatal(err)
	}
	var target *wire.Error
	if err := error(wire.NewError(wire.CodeBusy, "later")); !errors.As(err, &target) || target.Code != wire.CodeBusy ||
		err.Error() != "remote error (busy): later" {
		t.Fatalf("error value: %v", err)
	}
}

func TestHiddenF32Exact(t *testing.T) {
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, -2.5, math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32, 1e-40, 3.1415927}
	p, err := wire.EncodeHidden([]byte{9}, wire.DTypeF32, vals, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	if p[0] != 9 || len(p) != 1+wire.HiddenBytes(wire.DTypeF32, 3, 3) {
		t.Fatalf("EncodeHidden did not append: %d bytes", len(p))
	}
	got := make([]float32, len(vals))
	if err := wire.DecodeHidden(got, wire.DTypeF32, p[1:], 3, 3); err != nil {
		t.Fatal(err)
	}
	for i := range vals {
		if math.Float32bits(got[i]) != math.Float32bits(vals[i]) {
			t.Errorf("value %d: %v became %v", i, vals[i], got[i])
		}
	}
}

func TestHiddenF16(t *testing.T) {
	vals := []float32{0, 1, -2.5, 1.0009765625, 1.00048828125, 65504, 6e-8, 1e-10, 0.1, -300.7}
	p, err := wire.EncodeHidden(nil, wire.DTypeF16, vals, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 20 {
		t.Fatalf("%d bytes", len(p))
	}
	got := make([]float32, len(vals))
	if err := wire.DecodeHidden(got, wire.DTypeF16, p, 2, 5); err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		want := quant.FP16ToFP32(quant.FP32ToFP16(v))
		if math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Errorf("%v: got %v, want %v (round to nearest even)", v, got[i], want)
		}
	}
	// 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even gives 1.
	if got[4] != 1 {
		t.Errorf("tie rounded to %v, want 1", got[4])
	}
	// Re-encoding a decoded f16 payload reproduces it.
	again, err := wire.EncodeHidden(nil, wire.DTypeF16, got, 2, 5)
	if err != nil || !bytes.Equal(again, p) {
		t.Fatalf("f16 re-encoding differs: %v", err)
	}
}

func TestHiddenErrors(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	for _, dt := range []wire.DType{wire.DTypeF32, wire.DTypeF16} {
		for _, v := range []float32{nan, inf} {
			if _, err := wire.EncodeHidden(nil, dt, []float32{1, v}, 1, 2); !errors.Is(err, wire.ErrNonFinite) {
				t.Errorf("%s: encoding %v: %v", dt, v, err)
			}
		}
		if _, err := wire.EncodeHidden(nil, dt, []float32{1, 2, 3}, 1, 2); err == nil {
			t.Errorf("%s: encoded 3 values as 1×2", dt)
		}
		if err := wire.DecodeHidden(make([]float32, 2), dt, make([]byte, 2*dt.Size()+1), 1, 2); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: long payload: %v", dt, err)
		}
		if err := wire.DecodeHidden(make([]float32, 2), dt, make([]byte, 2*dt.Size()-1), 1, 2); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: short payload: %v", dt, err)
		}
		if err := wire.DecodeHidden(make([]float32, 3), dt, make([]byte, 2*dt.Size()), 1, 2); err == nil {
			t.Errorf("%s: dst of the wrong length accepted", dt)
		}
		if err := wire.DecodeHidden(nil, dt, nil, 0, 2); err == nil {
			t.Errorf("%s: zero positions accepted", dt)
		}
	}
	if _, err := wire.EncodeHidden(nil, wire.DTypeF16, []float32{70000}, 1, 1); !errors.Is(err, wire.ErrNonFinite) {
		t.Errorf("f16 overflow: %v", err)
	}
	nanF32 := binary.LittleEndian.AppendUint32(nil, 0x7fc00000)
	if err := wire.DecodeHidden(make([]float32, 1), wire.DTypeF32, nanF32, 1, 1); !errors.Is(err, wire.ErrNonFinite) || !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("NaN f32 payload: %v", err)
	}
	infF16 := binary.LittleEndian.AppendUint16(nil, 0x7c00)
	if err := wire.DecodeHidden(make([]float32, 1), wire.DTypeF16, infF16, 1, 1); !errors.Is(err, wire.ErrNonFinite) {
		t.Errorf("Inf f16 payload: %v", err)
	}
	if _, err := wire.EncodeHidden(nil, wire.DType(0), []float32{1}, 1, 1); err == nil {
		t.Error("unknown dtype encoded")
	}
}

func TestNames(t *testing.T) {
	if wire.ProtocolID != "/tessera/forward/1.0.0" {
		t.Fatal(wire.ProtocolID)
	}
	for c := wire.CodeBadRequest; c <= wire.CodeBusy; c++ {
		if strings.HasPrefix(c.String(), "Code(") {
			t.Errorf("code %d has no name", c)
		}
	}
	for _, s := range []string{"f32", "f16"} {
		d, err := wire.ParseDType(s)
		if err != nil || d.String() != s {
			t.Errorf("ParseDType(%q) = %v, %v", s, d, err)
		}
	}
	if _, err := wire.ParseDType("bf16"); err == nil {
		t.Error("bf16 parsed")
	}
	for ty := wire.TypeOpenSession; ty <= wire.TypeInfo; ty++ {
		if strings.HasPrefix(ty.String(), "MsgType(") {
			t.Errorf("type %d has no name", ty)
		}
	}
}
