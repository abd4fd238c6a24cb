package wire

import (
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// ValidateProtocolID names the validate protocol: a client hands a
// validator one hop's session to re-execute (DESIGN section 5, level L2)
// and gets its signed verdict. One job per stream: the client writes a
// ValidateJob, the validator answers a ValidateVerdict or an Error
// (CodeRangeMismatch or CodeModelMismatch: it holds no weights for the
// job; CodeBusy: too many jobs at once; CodeBadRequest: the job does not
// check; CodeMessageTooLarge; CodeInternal) and closes the stream.
const ValidateProtocolID = "/tessera/validate/1.0.0"

// Message types of the validate protocol, apart from those of the forward
// protocol so that a message on the wrong protocol is never mistaken.
const (
	TypeValidateJob     MsgType = 64
	TypeValidateVerdict MsgType = 65
)

// MaxVerdict bounds ValidateVerdict.Verdict.
const MaxVerdict = 4096

// ValidateJob asks a validator to re-execute (client → validator): Job is
// package proof's encoding of a ReexecJob.
type ValidateJob struct {
	Job []byte
}

// ValidateVerdict answers a ValidateJob (validator → client): package
// proof's encodings of the validator's signed Verdict and, when it states
// a difference, of the Evidence it names.
type ValidateVerdict struct {
	Verdict  []byte
	Evidence []byte // optional
}

// Type implements Message.
func (*ValidateJob) Type() MsgType { return TypeValidateJob }

// Type implements Message.
func (*ValidateVerdict) Type() MsgType { return TypeValidateVerdict }

func (m *ValidateJob) validate() error {
	if len(m.Job) == 0 {
		return errors.New("empty job")
	}
	return nil
}

func (m *ValidateVerdict) validate() error {
	if len(m.Verdict) == 0 || len(m.Verdict) > MaxVerdict {
		return fmt.Errorf("verdict of %d bytes (1..%d)", len(m.Verdict), MaxVerdict)
	}
	return nil
}

func (m *ValidateJob) size() int                  { return sizeBytes(1, len(m.Job)) }
func (m *ValidateJob) appendBody(b []byte) []byte { return appendBytes(b, 1, m.Job) }

func (m *ValidateVerdict) size() int {
	return sizeBytes(1, len(m.Verdict)) + sizeOptional(2, m.Evidence)
}

func (m *ValidateVerdict) appendBody(b []byte) []byte {
	b = appendBytes(b, 1, m.Verdict)
	return appendOptional(b, 2, m.Evidence)
}

var (
	validateJobSchema = schema{"ValidateJob",
		[]string{"job"},
		[]protowire.Type{lenDel}, 0}
	validateVerdictSchema = schema{"ValidateVerdict",
		[]string{"verdict", "evidence"},
		[]protowire.Type{lenDel, lenDel}, 1}
)

func (m *ValidateJob) decode(b []byte) error {
	s := &validateJobSchema
	f, err := s.parse(b)
	if err != nil {
		return err
	}
	*m = ValidateJob{Job: f[0].b}
	return s.decoded(m)
}

func (m *ValidateVerdict) decode(b []byte) error {
	s := &validateVerdictSchema
	f, err := s.parse(b)
	if err != nil {
		return err
	}
	*m = ValidateVerdict{Verdict: f[0].b, Evidence: optional(f[1].b)}
	return s.decoded(m)
}

// ReadValidateMessage reads one frame of the validate protocol, as
// ReadMessage does (same limit, errors and end of stream): a
// *ValidateJob, a *ValidateVerdict or an *Error. Other message types are
// refused with an error wrapping ErrMalformed.
func ReadValidateMessage(r io.Reader, maxSize int) (Message, error) {
	t, body, err := readFrame(r, maxSize)
	if err != nil {
		return nil, err
	}
	var m Message
	switch t {
	case TypeValidateJob:
		m = new(ValidateJob)
	case TypeValidateVerdict:
		m = new(ValidateVerdict)
	case TypeError:
		m = new(Error)
	default:
		return nil, fmt.Errorf("%w: message type %d is not part of the validate protocol", ErrMalformed, uint8(t))
	}
	if err := m.decode(body); err != nil {
		return nil, err
	}
	return m, nil
}
