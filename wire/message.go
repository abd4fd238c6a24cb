package wire

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// ProtocolID names the forward protocol on libp2p streams.
const ProtocolID = "/tessera/forward/1.0.0"

// Version is the protocol version a client sends in OpenSession and a node
// states in Info and its announcements. Version 2 nodes accept sessions
// for any non-empty part of the layers they serve (version 1 nodes only
// for exactly their range); the messages are the same. In version 3
// sessions with a nonce, a call's receipt comes one call late: with the
// next ForwardResult, or on a ReceiptRequest (see the package doc).
// Nodes serve sessions of every version from 1 to Version; a node older
// than a client's version refuses the session with CodeBadRequest naming
// the versions it speaks.
const Version = 3

// Limits on decoded values; larger values are out of range.
const (
	// LayerLimit bounds layer indices (OpenSession.First and Last).
	LayerLimit = 1 << 16
	// PositionLimit bounds positions and position counts (MaxPositions,
	// Start+N).
	PositionLimit = 1 << 28
	// MaxErrorMessage is the longest Error.Message in bytes.
	MaxErrorMessage = 1024
	// MessageLimit bounds SessionOpened.MaxMessageBytes.
	MessageLimit = 1<<31 - 1
)

var (
	// ErrMalformed is wrapped by every error about bytes that do not decode
	// to a valid message or payload.
	ErrMalformed = errors.New("wire: malformed message")
	// ErrTooLarge is wrapped by the error for a frame longer than the
	// reader's limit.
	ErrTooLarge = errors.New("wire: message too large")
)

// MsgType identifies a message in its frame.
type MsgType uint8

// Message types.
const (
	TypeOpenSession    MsgType = 1
	TypeSessionOpened  MsgType = 2
	TypeForward        MsgType = 3
	TypeForwardResult  MsgType = 4
	TypeCloseSession   MsgType = 5
	TypeError          MsgType = 6
	TypeInfo           MsgType = 7 // the info protocol's only message
	TypeOpenCells      MsgType = 8
	TypeOpenings       MsgType = 9
	TypeReceiptRequest MsgType = 10
	TypeReceiptReply   MsgType = 11
)

func (t MsgType) String() string {
	switch t {
	case TypeOpenSession:
		return "OpenSession"
	case TypeSessionOpened:
		return "SessionOpened"
	case TypeForward:
		return "Forward"
	case TypeForwardResult:
		return "ForwardResult"
	case TypeCloseSession:
		return "CloseSession"
	case TypeError:
		return "Error"
	case TypeInfo:
		return "Info"
	case TypeOpenCells:
		return "OpenCells"
	case TypeOpenings:
		return "Openings"
	case TypeReceiptRequest:
		return "ReceiptRequest"
	case TypeReceiptReply:
		return "ReceiptReply"
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// DType is the encoding of hidden-state values in a payload.
type DType uint8

// Hidden-state encodings.
const (
	DTypeF32 DType = 1 // little-endian IEEE binary32, exact
	DTypeF16 DType = 2 // little-endian IEEE binary16, round to nearest even
)

// Size is the number of bytes per value, 0 for an unknown DType.
func (d DType) Size() int {
	switch d {
	case DTypeF32:
		return 4
	case DTypeF16:
		return 2
	}
	return 0
}

// Valid reports whether d is a known encoding.
func (d DType) Valid() bool { return d.Size() != 0 }

func (d DType) String() string {
	switch d {
	case DTypeF32:
		return "f32"
	case DTypeF16:
		return "f16"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// ParseDType parses "f32" or "f16".
func ParseDType(s string) (DType, error) {
	switch s {
	case "f32":
		return DTypeF32, nil
	case "f16":
		return DTypeF16, nil
	}
	return 0, fmt.Errorf("wire: unknown dtype %q (want f32 or f16)", s)
}

// Code classifies an Error.
type Code uint8

// Error codes.
const (
	CodeBadRequest      Code = 1 // malformed or invalid message
	CodeModelMismatch   Code = 2 // the node serves another model
	CodeRangeMismatch   Code = 3 // the node serves other layers
	CodeTooManySessions Code = 4 // the node's session limit is reached
	CodeTooLong         Code = 5 // positions beyond the session's limit
	CodeMessageTooLarge Code = 6 // frame longer than the node accepts
	CodeOutOfOrder      Code = 7 // message not valid in the session's state
	CodeInternal        Code = 8 // the node failed
	CodeBusy            Code = 9 // the node cannot serve now (shutting down)
	// CodeGone answers an OpenCells for trace cells the node no longer
	// keeps (outside its retention window) or never computed; the session
	// stays open.
	CodeGone Code = 10
	// CodeRefused answers an OpenSession that the node's admission policy
	// refuses, such as a client whose ledger balance cannot pay for the
	// session.
	CodeRefused Code = 11

	maxCode = CodeRefused
)

func (c Code) String() string {
	switch c {
	case CodeBadRequest:
		return "bad request"
	case CodeModelMismatch:
		return "model mismatch"
	case CodeRangeMismatch:
		return "range mismatch"
	case CodeTooManySessions:
		return "too many sessions"
	case CodeTooLong:
		return "too long"
	case CodeMessageTooLarge:
		return "message too large"
	case CodeOutOfOrder:
		return "out of order"
	case CodeInternal:
		return "internal"
	case CodeBusy:
		return "busy"
	case CodeGone:
		return "gone"
	case CodeRefused:
		return "refused"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Message is one of *OpenSession, *SessionOpened, *Forward, *ForwardResult,
// *CloseSession, *Error, *Info, *OpenCells, *Openings, *ReceiptRequest and
// *ReceiptReply.
type Message interface {
	Type() MsgType
	validate() error
	size() int
	appendBody(b []byte) []byte
	decode(b []byte) error
}

// OpenSession starts a session on a node (client → node).
type OpenSession struct {
	Version      uint32   // protocol version, Version; >= 1
	ModelCommit  [32]byte // commitment of the whole model
	First, Last  int      // layer range [First, Last), non-empty, Last <= LayerLimit
	MaxPositions int      // positions the client needs, 1..PositionLimit
	DType        DType    // encoding the client asks for
	// Nonce, when set (NonceSize bytes), asks the node to sign a receipt
	// for every ForwardResult and to keep traces for OpenCells; it is
	// bound into every receipt of the session. Optional field.
	Nonce []byte
	// Payer is the Ed25519 ledger account the client pays from and
	// PayerSig its signature over the session request (package swarm's
	// PayerStatement), so that a node can admit only clients able to pay
	// for the session. Optional fields, set together.
	Payer    []byte
	PayerSig []byte
}

// Sizes of the optional key and nonce fields.
const (
	NonceSize = 32
	KeySize   = 32 // Ed25519 public key
	SigSize   = 64 // Ed25519 signature
	// MaxReceipt bounds ForwardResult.Receipt.
	MaxReceipt = 4096
)

// SessionOpened accepts an OpenSession (node → client).
type SessionOpened struct {
	SessionID    uint64
	MaxPositions int   // positions granted, 1..PositionLimit; may be below the request
	DType        DType // encoding of both directions' payloads
	// MaxMessageBytes is the longest frame the node accepts, 1..MessageLimit;
	// clients split prefills into Forward messages that fit.
	MaxMessageBytes int
	// NodeKey is the Ed25519 public key the node signs receipts with
	// (KeySize bytes), empty when it does not sign. Optional field.
	NodeKey []byte
}

// Forward asks the node to run its layers over N positions from Start
// (client → node). Step counts the session's Forward messages from 0.
type Forward struct {
	SessionID uint64
	Step      uint64
	Start, N  int    // N >= 1, Start+N <= PositionLimit
	Payload   []byte // N × dim hidden states, see EncodeHidden
}

// ForwardResult carries the transformed hidden states (node → client).
type ForwardResult struct {
	Step     uint64 // the Step of the Forward answered
	Start, N int
	Payload  []byte
	// Receipt is a node's signed receipt (package proof's encoding), when
	// the session was opened with a Nonce: in sessions of version 2 and
	// below, the receipt of this call; from version 3, the receipt of the
	// previous call (Step-1), absent at step 0 and after a ReceiptRequest
	// delivered it. Optional field, at most MaxReceipt bytes.
	Receipt []byte
}

// OpenCells asks the node for openings of cells of the session's traces
// (client → node). Request is package proof's encoding of the cell
// references. The node answers Openings, or an Error: CodeGone (the
// session continues) when cells are no longer kept.
type OpenCells struct {
	SessionID uint64
	Request   []byte
}

// Openings answers OpenCells (node → client): package proof's encoding of
// the cell openings, in the order requested.
type Openings struct {
	Body []byte
}

// ReceiptRequest asks the node for the receipt of the session's last
// forward call, when it has not been delivered yet (client → node, version
// 3 sessions with a nonce). The node answers ReceiptReply. Clients send it
// before closing a session, or whenever they need every receipt so far.
type ReceiptRequest struct {
	SessionID uint64
}

// ReceiptReply answers ReceiptRequest (node → client): the receipt owed,
// or nothing when every receipt was delivered already. Optional field, at
// most MaxReceipt bytes.
type ReceiptReply struct {
	Receipt []byte
}

// CloseSession ends the session; the node frees it and closes the stream.
type CloseSession struct{}

// Info is what a node says about itself on its info stream (node →
// client, one message, then the node closes the stream): which model and
// layers it serves and how much room it has.
type Info struct {
	Version      uint32   // protocol version of the forward protocol, >= 1
	ModelCommit  [32]byte // commitment of the whole model
	First, Last  int      // layers served [First, Last), as in OpenSession
	MaxPositions int      // most positions a session is granted, 1..PositionLimit
	FreeSessions int      // sessions that can be opened now, 0..PositionLimit
	// NodeKey is the Ed25519 public key the node signs receipts with
	// (KeySize bytes; with libp2p, the key of its peer id), empty when it
	// does not sign. Optional field.
	NodeKey []byte
}

// Error reports why a node refused a message. It is also a Go error, so
// clients can return it wrapped and callers can test it with errors.As.
type Error struct {
	Code    Code
	Message string // valid UTF-8, at most MaxErrorMessage bytes
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Message == "" {
		return "remote error: " + e.Code.String()
	}
	return "remote error (" + e.Code.String() + "): " + e.Message
}

// NewError builds an Error, trimming msg to MaxErrorMessage bytes at a
// character boundary and replacing invalid UTF-8.
func NewError(code Code, msg string) *Error {
	msg = string([]rune(msg)) // invalid bytes become U+FFFD
	for len(msg) > MaxErrorMessage {
		_, size := utf8.DecodeLastRuneInString(msg)
		msg = msg[:len(msg)-size]
	}
	return &Error{Code: code, Message: msg}
}

func (*OpenSession) Type() MsgType    { return TypeOpenSession }
func (*SessionOpened) Type() MsgType  { return TypeSessionOpened }
func (*Forward) Type() MsgType        { return TypeForward }
func (*ForwardResult) Type() MsgType  { return TypeForwardResult }
func (*CloseSession) Type() MsgType   { return TypeCloseSession }
func (*Error) Type() MsgType          { return TypeError }
func (*Info) Type() MsgType           { return TypeInfo }
func (*OpenCells) Type() MsgType      { return TypeOpenCells }
func (*Openings) Type() MsgType       { return TypeOpenings }
func (*ReceiptRequest) Type() MsgType { return TypeReceiptRequest }
func (*ReceiptReply) Type() MsgType   { return TypeReceiptReply }

// newMessage returns an empty message of type t, or nil.
func newMessage(t MsgType) Message {
	switch t {
	case TypeOpenSession:
		return new(OpenSession)
	case TypeSessionOpened:
		return new(SessionOpened)
	case TypeForward:
		return new(Forward)
	case TypeForwardResult:
		return new(ForwardResult)
	case TypeCloseSession:
		return new(CloseSession)
	case TypeError:
		return new(Error)
	case TypeInfo:
		return new(Info)
	case TypeOpenCells:
		return new(OpenCells)
	case TypeOpenings:
		return new(Openings)
	case TypeReceiptRequest:
		return new(ReceiptRequest)
	case TypeReceiptReply:
		return new(ReceiptReply)
	}
	return nil
}

// ---- validation (shared by encoder and decoder) ----

func checkPositions(start, n int) error {
	if start < 0 || start >= PositionLimit {
		return fmt.Errorf("start %d outside [0, %d)", start, PositionLimit)
	}
	if n < 1 || n > PositionLimit-start {
		return fmt.Errorf("n %d outside [1, %d]", n, PositionLimit-start)
	}
	return nil
}

func checkMaxPositions(n int) error {
	if n < 1 || n > PositionLimit {
		return fmt.Errorf("max positions %d outside [1, %d]", n, PositionLimit)
	}
	return nil
}

func checkDType(d DType) error {
	if !d.Valid() {
		return fmt.Errorf("unknown dtype %d", uint8(d))
	}
	return nil
}

func checkRange(version uint32, first, last int) error {
	if version < 1 {
		return errors.New("version 0")
	}
	if first < 0 || last > LayerLimit || first >= last {
		return fmt.Errorf("layer range %d:%d is empty or outside [0, %d)", first, last, LayerLimit)
	}
	return nil
}

func checkOptional(name string, b []byte, size int) error {
	if len(b) != 0 && len(b) != size {
		return fmt.Errorf("%s has %d bytes, want 0 or %d", name, len(b), size)
	}
	return nil
}

func (m *OpenSession) validate() error {
	if err := checkRange(m.Version, m.First, m.Last); err != nil {
		return err
	}
	if err := checkMaxPositions(m.MaxPositions); err != nil {
		return err
	}
	if err := checkOptional("nonce", m.Nonce, NonceSize); err != nil {
		return err
	}
	if err := checkOptional("payer", m.Payer, KeySize); err != nil {
		return err
	}
	if err := checkOptional("payer signature", m.PayerSig, SigSize); err != nil {
		return err
	}
	if (len(m.Payer) == 0) != (len(m.PayerSig) == 0) {
		return errors.New("payer and payer signature must be set together")
	}
	return checkDType(m.DType)
}

func (m *Info) validate() error {
	if err := checkRange(m.Version, m.First, m.Last); err != nil {
		return err
	}
	if err := checkMaxPositions(m.MaxPositions); err != nil {
		return err
	}
	if m.FreeSessions < 0 || m.FreeSessions > PositionLimit {
		return fmt.Errorf("free sessions %d outside [0, %d]", m.FreeSessions, PositionLimit)
	}
	return checkOptional("node key", m.NodeKey, KeySize)
}

func (m *SessionOpened) validate() error {
	if err := checkMaxPositions(m.MaxPositions); err != nil {
		return err
	}
	if m.MaxMessageBytes < 1 || m.MaxMessageBytes > MessageLimit {
		return fmt.Errorf("max message bytes %d outside [1, %d]", m.MaxMessageBytes, MessageLimit)
	}
	if err := checkOptional("node key", m.NodeKey, KeySize); err != nil {
		return err
	}
	return checkDType(m.DType)
}

func (m *Forward) validate() error { return checkPositions(m.Start, m.N) }

func (m *ForwardResult) validate() error {
	if len(m.Receipt) > MaxReceipt {
		return fmt.Errorf("receipt of %d bytes exceeds %d", len(m.Receipt), MaxReceipt)
	}
	return checkPositions(m.Start, m.N)
}

func (m *OpenCells) validate() error {
	if len(m.Request) == 0 {
		return errors.New("empty request")
	}
	return nil
}

func (m *Openings) validate() error { return nil }

func (m *ReceiptRequest) validate() error { return nil }

func (m *ReceiptReply) validate() error {
	if len(m.Receipt) > MaxReceipt {
		return fmt.Errorf("receipt of %d bytes exceeds %d", len(m.Receipt), MaxReceipt)
	}
	return nil
}

func (m *CloseSession) validate() error { return nil }

func (m *Error) validate() error {
	if m.Code < 1 || m.Code > maxCode {
		return fmt.Errorf("unknown error code %d", uint8(m.Code))
	}
	if len(m.Message) > MaxErrorMessage {
		return fmt.Errorf("error message of %d bytes exceeds %d", len(m.Message), MaxErrorMessage)
	}
	if !utf8.ValidString(m.Message) {
		return errors.New("error message is not valid UTF-8")
	}
	return nil
}

// ---- encoding ----

const (
	varint = protowire.VarintType
	lenDel = protowire.BytesType
)

func sizeVarint(num protowire.Number, v uint64) int {
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeBytes(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, varint), v)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, lenDel), v)
}

// Optional bytes fields are written only when not empty, so messages
// without them encode exactly as before the fields existed.
func sizeOptional(num protowire.Number, v []byte) int {
	if len(v) == 0 {
		return 0
	}
	return sizeBytes(num, len(v))
}

func appendOptional(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return appendBytes(b, num, v)
}

func (m *OpenSession) size() int {
	return sizeVarint(1, uint64(m.Version)) + sizeBytes(2, len(m.ModelCommit)) +
		sizeVarint(3, uint64(m.First)) + sizeVarint(4, uint64(m.Last)) +
		sizeVarint(5, uint64(m.MaxPositions)) + sizeVarint(6, uint64(m.DType)) + sizeOptional(7, m.Nonce) +
		sizeOptional(8, m.Payer) + sizeOptional(9, m.PayerSig)
}

func (m *OpenSession) appendBody(b []byte) []byte {
	b = appendVarint(b, 1, uint64(m.Version))
	b = appendBytes(b, 2, m.ModelCommit[:])
	b = appendVarint(b, 3, uint64(m.First))
	b = appendVarint(b, 4, uint64(m.Last))
	b = appendVarint(b, 5, uint64(m.MaxPositions))
	b = appendVarint(b, 6, uint64(m.DType))
	b = appendOptional(b, 7, m.Nonce)
	b = appendOptional(b, 8, m.Payer)
	return appendOptional(b, 9, m.PayerSig)
}

func (m *SessionOpened) size() int {
	return sizeVarint(1, m.SessionID) + sizeVarint(2, uint64(m.MaxPositions)) + sizeVarint(3, uint64(m.DType)) +
		sizeVarint(4, uint64(m.MaxMessageBytes)) + sizeOptional(5, m.NodeKey)
}

func (m *SessionOpened) appendBody(b []byte) []byte {
	b = appendVarint(b, 1, m.SessionID)
	b = appendVarint(b, 2, uint64(m.MaxPositions))
	b = appendVarint(b, 3, uint64(m.DType))
	b = appendVarint(b, 4, uint64(m.MaxMessageBytes))
	return appendOptional(b, 5, m.NodeKey)
}

func (m *Forward) size() int {
	return sizeVarint(1, m.SessionID) + sizeVarint(2, m.Step) + sizeVarint(3, uint64(m.Start)) +
		sizeVarint(4, uint64(m.N)) + sizeBytes(5, len(m.Payload))
}

func (m *Forward) appendBody(b []byte) []byte {
	b = appendVarint(b, 1, m.SessionID)
	b = appendVarint(b, 2, m.Step)
	b = appendVarint(b, 3, uint64(m.Start))
	b = appendVarint(b, 4, uint64(m.N))
	return appendBytes(b, 5, m.Payload)
}

func (m *ForwardResult) size() int {
	return sizeVarint(1, m.Step) + sizeVarint(2, uint64(m.Start)) + sizeVarint(3, uint64(m.N)) +
		sizeBytes(4, len(m.Payload)) + sizeOptional(5, m.Receipt)
}

func (m *ForwardResult) appendBody(b []byte) []byte {
	b = appendVarint(b, 1, m.Step)
	b = appendVarint(b, 2, uint64(m.Start))
	b = appendVarint(b, 3, uint64(m.N))
	b = appendBytes(b, 4, m.Payload)
	return appendOptional(b, 5, m.Receipt)
}

func (m *OpenCells) size() int {
	return sizeVarint(1, m.SessionID) + sizeBytes(2, len(m.Request))
}

func (m *OpenCells) appendBody(b []byte) []byte {
	b = appendVarint(b, 1, m.SessionID)
	return appendBytes(b, 2, m.Request)
}

func (m *Openings) size() int { return sizeBytes(1, len(m.Body)) }

func (m *Openings) appendBody(b []byte) []byte { return appendBytes(b, 1, m.Body) }

func (m *ReceiptRequest) size() int { return sizeVarint(1, m.SessionID) }

func (m *ReceiptRequest) appendBody(b []byte) []byte { return appendVarint(b, 1, m.SessionID) }

func (m *ReceiptReply) size() int { return sizeOptional(1, m.Receipt) }

func (m *ReceiptReply) appendBody(b []byte) []byte { return appendOptional(b, 1, m.Receipt) }

func (m *Info) size() int {
	return sizeVarint(1, uint64(m.Version)) + sizeBytes(2, len(m.ModelCommit)) +
		sizeVarint(3, uint64(m.First)) + sizeVarint(4, uint64(m.Last)) +
		sizeVarint(5, uint64(m.MaxPositions)) + sizeVarint(6, uint64(m.FreeSessions)) + sizeOptional(7, m.NodeKey)
}

func (m *Info) appendBody(b []byte) []byte {
	b = appendVarint(b, 1, uint64(m.Version))
	b = appendBytes(b, 2, m.ModelCommit[:])
	b = appendVarint(b, 3, uint64(m.First))
	b = appendVarint(b, 4, uint64(m.Last))
	b = appendVarint(b, 5, uint64(m.MaxPositions))
	b = appendVarint(b, 6, uint64(m.FreeSessions))
	return appendOptional(b, 7, m.NodeKey)
}

func (m *CloseSession) size() int                  { return 0 }
func (m *CloseSession) appendBody(b []byte) []byte { return b }

func (m *Error) size() int {
	return sizeVarint(1, uint64(m.Code)) + sizeBytes(2, len(m.Message))
}

func (m *Error) appendBody(b []byte) []byte {
	b = appendVarint(b, 1, uint64(m.Code))
	b = protowire.AppendTag(b, 2, lenDel)
	return protowire.AppendString(b, m.Message)
}

// ---- decoding ----

// schema lists a message's fields; field i+1 has wire type types[i]. The
// first required fields must be present (0: all of them, negative: none);
// the others, added in later versions, are optional.
type schema struct {
	name     string
	fields   []string
	types    []protowire.Type
	required int
}

// field is one decoded known field: v for varints, b for bytes (aliasing
// the input).
type field struct {
	v uint64
	b []byte
}

// parse reads body b against s, returning the value of every known field.
// Required fields must appear, and every known field may appear at most
// once; unknown fields are skipped.
func (s *schema) parse(b []byte) ([]field, error) {
	out := make([]field, len(s.fields))
	var seen uint32
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, s.errorf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		i := int(num) - 1
		if i < 0 || i >= len(s.fields) {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, s.errorf("unknown field %d: %v", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		name := s.fields[i]
		if typ != s.types[i] {
			return nil, s.errorf("field %s has wire type %d, want %d", name, typ, s.types[i])
		}
		if seen&(1<<i) != 0 {
			return nil, s.errorf("field %s appears twice", name)
		}
		seen |= 1 << i
		switch typ {
		case varint:
			out[i].v, n = protowire.ConsumeVarint(b)
		case lenDel:
			out[i].b, n = protowire.ConsumeBytes(b)
		}
		if n < 0 {
			return nil, s.errorf("field %s: %v", name, protowire.ParseError(n))
		}
		b = b[n:]
	}
	required := s.required
	switch {
	case required == 0:
		required = len(s.fields)
	case required < 0: // every field optional
		required = 0
	}
	for i, name := range s.fields[:required] {
		if seen&(1<<i) == 0 {
			return nil, s.errorf("required field %s is missing", name)
		}
	}
	return out, nil
}

func (s *schema) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, s.name, fmt.Sprintf(format, args...))
}

// small converts a varint to an int no larger than limit.
func (s *schema) small(f []field, i int, limit uint64) (int, error) {
	if f[i].v > limit {
		return 0, s.errorf("field %s = %d exceeds %d", s.fields[i], f[i].v, limit)
	}
	return int(f[i].v), nil
}

var (
	openSessionSchema = schema{"OpenSession",
		[]string{"version", "model_commit", "first", "last", "max_positions", "dtype", "nonce", "payer", "payer_sig"},
		[]protowire.Type{varint, lenDel, varint, varint, varint, varint, lenDel, lenDel, lenDel}, 6}
	sessionOpenedSchema = schema{"SessionOpened",
		[]string{"session_id", "max_positions", "dtype", "max_message_bytes", "node_key"},
		[]protowire.Type{varint, varint, varint, varint, lenDel}, 4}
	forwardSchema = schema{"Forward",
		[]string{"session_id", "step", "start", "n", "payload"},
		[]protowire.Type{varint, varint, varint, varint, lenDel}, 0}
	forwardResultSchema = schema{"ForwardResult",
		[]string{"step", "start", "n", "payload", "receipt"},
		[]protowire.Type{varint, varint, varint, lenDel, lenDel}, 4}
	infoSchema = schema{"Info",
		[]string{"version", "model_commit", "first", "last", "max_positions", "free_sessions", "node_key"},
		[]protowire.Type{varint, lenDel, varint, varint, varint, varint, lenDel}, 6}
	closeSessionSchema = schema{"CloseSession", nil, nil, 0}
	errorSchema        = schema{"Error",
		[]string{"code", "message"},
		[]protowire.Type{varint, lenDel}, 0}
	openCellsSchema = schema{"OpenCells",
		[]string{"session_id", "request"},
		[]protowire.Type{varint, lenDel}, 0}
	openingsSchema = schema{"Openings",
		[]string{"body"},
		[]protowire.Type{lenDel}, 0}
	receiptRequestSchema = schema{"ReceiptRequest",
		[]string{"session_id"},
		[]protowire.Type{varint}, 0}
	receiptReplySchema = schema{"ReceiptReply",
		[]string{"receipt"},
		[]protowire.Type{lenDel}, -1}
)

// decoded finishes a decode: it validates m and wraps the error.
func (s *schema) decoded(m Message) error {
	if err := m.validate(); err != nil {
		return s.errorf("%v", err)
	}
	return nil
}

// parseHeader parses a body whose fields 1..6 are version, model_commit,
// first, last, max_positions and a small number bounded by last, and
// returns the optional bytes fields from 7 on as extra.
func (s *schema) parseHeader(b []byte, last uint64) (version uint32, commit [32]byte, v [4]int, extra [][]byte, err error) {
	f, err := s.parse(b)
	if err != nil {
		return
	}
	for _, x := range f[6:] {
		extra = append(extra, optional(x.b))
	}
	if f[0].v > math.MaxUint32 {
		err = s.errorf("field version = %d exceeds %d", f[0].v, uint32(math.MaxUint32))
		return
	}
	if len(f[1].b) != len(commit) {
		err = s.errorf("model_commit has %d bytes, want %d", len(f[1].b), len(commit))
		return
	}
	for k, lim := range []uint64{LayerLimit, LayerLimit, PositionLimit, last} {
		if v[k], err = s.small(f, k+2, lim); err != nil {
			return
		}
	}
	copy(commit[:], f[1].b)
	return uint32(f[0].v), commit, v, extra, nil
}

// optional maps an absent or empty optional field to nil.
func optional(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (m *OpenSession) decode(b []byte) error {
	s := &openSessionSchema
	version, commit, v, extra, err := s.parseHeader(b, 255)
	if err != nil {
		return err
	}
	*m = OpenSession{Version: version, ModelCommit: commit, First: v[0], Last: v[1], MaxPositions: v[2], DType: DType(v[3]),
		Nonce: extra[0], Payer: extra[1], PayerSig: extra[2]}
	return s.decoded(m)
}

func (m *Info) decode(b []byte) error {
	s := &infoSchema
	version, commit, v, extra, err := s.parseHeader(b, PositionLimit)
	if err != nil {
		return err
	}
	*m = Info{Version: version, ModelCommit: commit, First: v[0], Last: v[1], MaxPositions: v[2], FreeSessions: v[3], NodeKey: extra[0]}
	return s.decoded(m)
}

func (m *SessionOpened) decode(b []byte) error {
	s := &sessionOpenedSchema
	f, err := s.parse(b)
	if err != nil {
		return err
	}
	maxPos, err := s.small(f, 1, PositionLimit)
	if err != nil {
		return err
	}
	dt, err := s.small(f, 2, 255)
	if err != nil {
		return err
	}
	maxMsg, err := s.small(f, 3, MessageLimit)
	if err != nil {
		return err
	}
	*m = SessionOpened{SessionID: f[0].v, MaxPositions: maxPos, DType: DType(dt), MaxMessageBytes: maxMsg, NodeKey: optional(f[4].b)}
	return s.decoded(m)
}

func (m *Forward) decode(b []byte) error {
	s := &forwardSchema
	f, err := s.parse(b)
	if err != nil {
		return err
	}
	start, err := s.small(f, 2, PositionLimit)
	if err != nil {
		return err
	}
	n, err := s.small(f, 3, PositionLimit)
	if err != nil {
		return err
	}
	*m = Forward{SessionID: f[0].v, Step: f[1].v, Start: start, N: n, Payload: f[4].b}
	return s.decoded(m)
}

func (m *ForwardResult) decode(b []byte) error {
	s := &forwardResultSchema
	f, err := s.parse(b)
	if err != nil {
		return err
	}
	start, err := s.small(f, 1, PositionLimit)
	if err != nil {
		return err
	}
	n, err := s.small(f, 2, PositionLimit)
	if err != nil {
		return err
	}
	*m = ForwardResult{Step: f[0].v, Start: start, N: n, Payload: f[3].b, Receipt: optional(f[4].b)}
	return s.decoded(m)
}

func (m *OpenCells) decode(b []byte) error {
	s := &openCellsSchema
	f, err := s.parse(b)
	if err != nil {
		return err
	}
	*m = OpenCells{SessionID: f[0].v, Request: f[1].b}
	return s.decoded(m)
}

func (m *Openings) decode(b []byte) error {
	s := &openingsSchema
	f, err := s.parse(b)
	if err != nil {
		return err
	}
	*m = Openings{Body: f[0].b}
	return s.decoded(m)
}

func (m *ReceiptRequest) decode(b []byte) error {
	s := &receiptRequestSchema
	f, err := s.parse(b)
	if err != nil {
		return err
	}
	*m = ReceiptRequest{SessionID: f[0].v}
	return s.decoded(m)
}

func (m *ReceiptReply) decode(b []byte) error {
	s := &receiptReplySchema
	f, err := s.parse(b)
	if err != nil {
		return err
	}
	*m = ReceiptReply{Receipt: optional(f[0].b)}
	return s.decoded(m)
}

func (m *CloseSession) decode(b []byte) error {
	_, err := closeSessionSchema.parse(b)
	return err
}

func (m *Error) decode(b []byte) error {
	s := &errorSchema
	f, err := s.parse(b)
	if err != nil {
		return err
	}
	code, err := s.small(f, 0, 255)
	if err != nil {
		return err
	}
	*m = Error{Code: Code(code), Message: string(f[1].b)}
	return s.decoded(m)
}
