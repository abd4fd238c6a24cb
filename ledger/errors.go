package ledger

import (
	"errors"
	"fmt"
)

// Code classifies why a transaction was rejected. 0 is success; the codes
// are stable (they are stored in block records and returned over ABCI).
type Code uint32

// Result codes.
const (
	CodeOK                Code = 0
	CodeMalformed         Code = 1  // does not decode, or breaks a limit of the encoding
	CodeWrongChain        Code = 2  // signed for another chain
	CodeBadSignature      Code = 3  // sender's or auditor's signature does not verify
	CodeBadNonce          Code = 4  // replayed (already used) or out-of-order nonce
	CodeInsufficientFunds Code = 5  // balance or stake too small
	CodeInvalid           Code = 6  // a field breaks a rule (zero amount, self-transfer …)
	CodeUnauthorized      Code = 7  // the sender may not do this
	CodeUnknownNode       Code = 8  // not a registered node
	CodeExcluded          Code = 9  // node excluded for fraud
	CodeDuplicate         Code = 10 // certificate or evidence already recorded
	CodeInvalidEvidence   Code = 11 // the evidence checker rejects the evidence
	CodeDisabled          Code = 12 // faucet outside dev mode, no evidence checker
	CodeOverflow          Code = 13 // an amount would not fit in 64 bits
	// CodeUnjudgeable: the evidence checker cannot decide on this machine
	// (ErrCannotJudge). Not a verdict: a block holding such a transaction
	// cannot be applied here (Builder.Err), and the solo store refuses the
	// transaction without recording it.
	CodeUnjudgeable Code = 14
)

// ErrCannotJudge is returned (wrapped) by an EvidenceChecker that cannot
// decide on this machine, for instance because it lacks the weights the
// evidence is about. Answering "invalid" instead would be a verdict that
// other machines may not share.
var ErrCannotJudge = errors.New("cannot judge the evidence on this machine")

var codeNames = [...]string{
	"ok", "malformed", "wrong chain", "bad signature", "bad nonce",
	"insufficient funds", "invalid", "unauthorized", "unknown node",
	"excluded node", "duplicate", "invalid evidence", "disabled", "overflow",
	"cannot judge",
}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code %d", uint32(c))
}

// ErrNotFound is returned (wrapped) by stores when a block or transaction
// does not exist.
var ErrNotFound = errors.New("not found")

// RejectError is why the state machine refused a transaction. A rejected
// transaction changes nothing (not even the sender's nonce).
type RejectError struct {
	Code   Code
	Reason string
}

func (e *RejectError) Error() string {
	return "ledger: transaction rejected (" + e.Code.String() + "): " + e.Reason
}

func reject(c Code, format string, args ...any) error {
	return &RejectError{Code: c, Reason: fmt.Sprintf(format, args...)}
}

// CodeOf returns the Code of a RejectError in err's chain, CodeOK for nil,
// and CodeMalformed for any other error.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var r *RejectError
	if errors.As(err, &r) {
		return r.Code
	}
	return CodeMalformed
}
