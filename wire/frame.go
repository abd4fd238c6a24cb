package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxMessageBytes is the frame limit ReadMessage applies when given
// a limit <= 0.
const DefaultMaxMessageBytes = 16 << 20

// FrameSize is the number of bytes AppendFrame writes for m.
func FrameSize(m Message) int {
	n := 1 + m.size()
	return varintLen(uint64(n)) + n
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// AppendFrame appends the frame of m (length, type, body) to dst. It
// refuses messages that would not decode: out-of-range values, an unknown
// dtype or error code.
func AppendFrame(dst []byte, m Message) ([]byte, error) {
	if err := m.validate(); err != nil {
		return dst, fmt.Errorf("wire: cannot encode %s: %w", m.Type(), err)
	}
	size := 1 + m.size()
	dst = binary.AppendUvarint(dst, uint64(size))
	dst = append(dst, byte(m.Type()))
	start := len(dst)
	dst = m.appendBody(dst)
	if len(dst)-start != size-1 {
		panic(fmt.Sprintf("wire: %s body is %d bytes, size said %d", m.Type(), len(dst)-start, size-1))
	}
	return dst, nil
}

// Marshal returns the frame of m.
func Marshal(m Message) ([]byte, error) {
	return AppendFrame(make([]byte, 0, FrameSize(m)), m)
}

// WriteMessage writes the frame of m to w in one Write call.
func WriteMessage(w io.Writer, m Message) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Writer writes frames through a reused buffer.
type Writer struct {
	W   io.Writer
	buf []byte
}

// WriteMessage writes the frame of m to w.W in one Write call.
func (w *Writer) WriteMessage(m Message) error {
	var err error
	w.buf, err = AppendFrame(w.buf[:0], m)
	if err != nil {
		return err
	}
	_, err = w.W.Write(w.buf)
	if cap(w.buf) > 1<<20 && len(w.buf) < cap(w.buf)/4 {
		w.buf = nil // do not pin one huge prefill buffer forever
	}
	return err
}

// DecodeMessage decodes the body of a message of type t.
func DecodeMessage(t MsgType, body []byte) (Message, error) {
	m := newMessage(t)
	if m == nil {
		return nil, fmt.Errorf("%w: unknown message type %d", ErrMalformed, uint8(t))
	}
	if err := m.decode(body); err != nil {
		return nil, err
	}
	return m, nil
}

// Unmarshal decodes the single frame that makes up b, whose length may not
// exceed maxSize (<= 0: DefaultMaxMessageBytes). Byte slices of the message
// alias b.
func Unmarshal(b []byte, maxSize int) (Message, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageBytes
	}
	size, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: truncated frame length", ErrMalformed)
	case n < 0:
		return nil, fmt.Errorf("%w: frame length overflows", ErrMalformed)
	case size == 0:
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	case size > uint64(maxSize):
		return nil, fmt.Errorf("%w: frame of %d bytes, limit %d", ErrTooLarge, size, maxSize)
	case size != uint64(len(b)-n):
		return nil, fmt.Errorf("%w: frame length %d but %d bytes follow", ErrMalformed, size, len(b)-n)
	}
	return DecodeMessage(MsgType(b[n]), b[n+1:])
}

// ReadMessage reads one frame from r and decodes it. A frame longer than
// maxSize (<= 0: DefaultMaxMessageBytes) is refused with an error wrapping
// ErrTooLarge before its bytes are read or any memory is allocated for it;
// the stream is then out of step and should be closed. At a clean end of
// stream (no byte of a new frame) ReadMessage returns io.EOF; a stream
// ending inside a frame gives an error wrapping io.ErrUnexpectedEOF; bad
// bytes give an error wrapping ErrMalformed; read errors are wrapped as they
// come.
//
// ReadMessage reads the frame length byte by byte unless r is an
// io.ByteReader (wrap a raw stream in a bufio.Reader), and never reads past
// the frame.
func ReadMessage(r io.Reader, maxSize int) (Message, error) {
	t, body, err := readFrame(r, maxSize)
	if err != nil {
		return nil, err
	}
	return DecodeMessage(t, body)
}

// readFrame reads one frame as ReadMessage does and returns its type and
// body.
func readFrame(r io.Reader, maxSize int) (MsgType, []byte, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageBytes
	}
	size, err := readUvarint(r)
	if err != nil {
		return 0, nil, err
	}
	if size == 0 {
		return 0, nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if size > uint64(maxSize) {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes, limit %d", ErrTooLarge, size, maxSize)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("wire: reading a frame of %d bytes: %w", size, err)
	}
	return MsgType(buf[0]), buf[1:], nil
}

// readUvarint reads a frame length: io.EOF before its first byte,
// io.ErrUnexpectedEOF inside it.
func readUvarint(r io.Reader) (uint64, error) {
	br, _ := r.(io.ByteReader)
	var one [1]byte
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		var b byte
		var err error
		if br != nil {
			b, err = br.ReadByte()
		} else {
			_, err = io.ReadFull(r, one[:])
			b = one[0]
		}
		if err != nil {
			if err == io.EOF {
				if i == 0 {
					return 0, io.EOF
				}
				err = io.ErrUnexpectedEOF
			}
			if i == 0 {
				return 0, err
			}
			return 0, fmt.Errorf("wire: reading a frame length: %w", err)
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, fmt.Errorf("%w: frame length overflows 64 bits", ErrMalformed)
}
