package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Error is an error answered to a client in OpenAI's shape:
//
//	{"error": {"message": "…", "type": "…", "param": null, "code": "…"}}
//
// A Backend returns one (possibly wrapped) to choose the status and code
// of its failure; any other error is answered as a 500 server_error.
type Error struct {
	Status  int    // HTTP status
	Type    string // "invalid_request_error", "server_error", "insufficient_quota", …
	Code    string // machine-readable: "invalid_api_key", "model_not_found", "missing_coverage", …
	Param   string // the request field at fault, if any
	Message string
	// NoRetry tells the official clients not to retry (header
	// X-Should-Retry: false), for errors a retry cannot fix.
	NoRetry bool
	// RetryAfter, when set, is answered as a Retry-After header (whole
	// seconds): when a rate-limited request may succeed.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message)
}

// Error types, as OpenAI names them.
const (
	TypeInvalidRequest    = "invalid_request_error"
	TypeServer            = "server_error"
	TypeInsufficientQuota = "insufficient_quota"
	TypeRateLimit         = "rate_limit_error"
)

// Error codes this gateway answers with.
const (
	CodeInvalidAPIKey       = "invalid_api_key"
	CodeModelNotFound       = "model_not_found"
	CodeNotFound            = "not_found"
	CodeCertificateNotFound = "certificate_not_found"
	CodeMethodNotAllowed    = "method_not_allowed"
	CodeInvalidJSON         = "invalid_json"
	CodeInvalidValue        = "invalid_value"
	CodeMissingParam        = "missing_required_parameter"
	CodeUnsupported         = "unsupported_parameter"
	CodeContextLength       = "context_length_exceeded"
	CodeTooLarge            = "request_too_large"
	CodeMissingCoverage     = "missing_coverage"
	CodeNodeFailed          = "node_failed"
	CodeBusy                = "server_busy"
	CodeInsufficientQuota   = "insufficient_quota"
	CodeLedgerUnavailable   = "ledger_unavailable"
	CodeInternal            = "internal_error"
)

// invalid is a 400 invalid_request_error about param.
func invalid(param, code, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// ErrMissingCoverage is the error a backend returns when no chain of
// nodes covers the model's layers: 503, code missing_coverage.
func ErrMissingCoverage(msg string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: CodeMissingCoverage, Message: msg}
}

// ErrNodeFailed is the error a backend returns when a node of the chain
// failed during a generation: 502, code node_failed.
func ErrNodeFailed(msg string) *Error {
	return &Error{Status: http.StatusBadGateway, Type: TypeServer, Code: CodeNodeFailed, Message: msg}
}

// ErrInsufficientCredits is the error a backend returns when the
// account's ledger balance cannot pay for a generation: 429, type and
// code insufficient_quota, as OpenAI answers an exhausted quota, with
// X-Should-Retry: false so the official clients raise it at once instead
// of retrying a request that cannot succeed.
func ErrInsufficientCredits(msg string) *Error {
	return &Error{Status: http.StatusTooManyRequests, Type: TypeInsufficientQuota, Code: CodeInsufficientQuota, Message: msg, NoRetry: true}
}

// ErrLedgerUnavailable is the error a backend returns when it cannot
// check an account's balance because the ledger does not answer: 503,
// code ledger_unavailable (the clients retry it).
func ErrLedgerUnavailable(msg string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: CodeLedgerUnavailable, Message: msg}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *Error) body() errorBody {
	d := errorDetail{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		d.Param = &e.Param
	}
	if e.Code != "" {
		d.Code = &e.Code
	}
	return errorBody{Error: d}
}

// writeError answers e as JSON.
func writeError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="tessera"`)
	}
	if e.NoRetry {
		h.Set("X-Should-Retry", "false")
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", retrySeconds(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e.body())
}
