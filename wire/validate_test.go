package wire_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/tessera-net/tessera/wire"
)

func validateSamples() []wire.Message {
	return []wire.Message{
		&wire.ValidateJob{Job: []byte("tessera-reexec-job…")},
		&wire.ValidateVerdict{Verdict: bytes.Repeat([]byte{7}, 300)},
		&wire.ValidateVerdict{Verdict: []byte{1}, Evidence: bytes.Repeat([]byte{9}, 1000)},
		wire.NewError(wire.CodeBusy, "validator busy"),
	}
}

// TestValidateMessages: the validate protocol's messages round-trip, the
// reader refuses the forward protocol's messages and invalid ones.
func TestValidateMessages(t *testing.T) {
	for _, m := range validateSamples() {
		b, err := wire.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wire.ReadValidateMessage(bytes.NewReader(b), 0)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip: %+v, want %+v", got, m)
		}
	}
	if _, err := wire.Marshal(&wire.ValidateJob{}); err == nil {
		t.Error("an empty job encoded")
	}
	if _, err := wire.Marshal(&wire.ValidateVerdict{Verdict: make([]byte, wire.MaxVerdict+1)}); err == nil {
		t.Error("an oversized verdict encoded")
	}
	fwd, _ := wire.Marshal(&wire.CloseSession{})
	if _, err := wire.ReadValidateMessage(bytes.NewReader(fwd), 0); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("forward-protocol message accepted: %v", err)
	}
	job, _ := wire.Marshal(&wire.ValidateJob{Job: make([]byte, 1000)})
	if _, err := wire.ReadValidateMessage(bytes.NewReader(job), 100); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("oversized frame: %v", err)
	}
	if _, err := wire.ReadValidateMessage(bytes.NewReader(nil), 0); err != io.EOF {
		t.Errorf("empty stream: %v", err)
	}
	if _, err := wire.ReadValidateMessage(bytes.NewReader(job[:10]), 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated frame: %v", err)
	}
}

// FuzzValidate: the validate protocol's reader never panics, fails only
// with the documented errors, and what it decodes re-encodes to a frame
// that decodes to the same message.
func FuzzValidate(f *testing.F) {
	for _, m := range validateSamples() {
		b, err := wire.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		d := append([]byte(nil), b...)
		d[len(d)/2] ^= 0x41
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wire.ReadValidateMessage(bytes.NewReader(b), 1<<16)
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrTooLarge) &&
				!errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		frame, err := wire.Marshal(m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		m2, err := wire.ReadValidateMessage(bytes.NewReader(frame), 0)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoded message differs: %+v, %v", m2, err)
		}
	})
}
