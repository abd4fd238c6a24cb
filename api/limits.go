package api

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// CodeRateLimit is the code of a refusal by an account's limits, as
// OpenAI answers a rate limit (its type names what was limited:
// TypeRequests).
const (
	CodeRateLimit = "rate_limit_exceeded"
	TypeRequests  = "requests"
)

// maxLimitedKeys bounds the accounts (or anonymous clients) whose limits
// are tracked at once; beyond it the least recently seen idle one is
// forgotten.
const maxLimitedKeys = 65536

// keyLimits applies Config.RequestsPerMinute and MaxConcurrentPerKey to
// each account. Anonymous requests (a gateway without keys) are limited
// per client address instead, so that one client cannot take the others'
// share.
type keyLimits struct {
	rpm, concurrent int
	now             func() time.Time

	mu        sync.Mutex
	keys      map[string]*keyState
	lastSweep time.Time
}

type keyState struct {
	bucket  *rate.Limiter // nil without a rate limit
	running int
	seen    time.Time
}

func newKeyLimits(cfg Config) *keyLimits {
	if cfg.RequestsPerMinute <= 0 && cfg.MaxConcurrentPerKey <= 0 {
		return nil
	}
	return &keyLimits{rpm: cfg.RequestsPerMinute, concurrent: cfg.MaxConcurrentPerKey, now: cfg.Now, keys: map[string]*keyState{}}
}

// limitKey is the key r's limits are kept under.
func limitKey(r *http.Request, account string) string {
	if account != Anonymous {
		return "account " + account
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "client " + host
}

// acquire admits a generation request of key: it spends one request of
// the key's rate and takes one of its concurrent slots, which release
// gives back. A refusal is a 429 with Retry-After. A nil *keyLimits
// admits everything.
func (k *keyLimits) acquire(key string) (release func(), e *Error) {
	if k == nil {
		return func() {}, nil
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	st, ok := k.keys[key]
	if !ok {
		k.sweep(now)
		st = &keyState{}
		if k.rpm > 0 {
			st.bucket = rate.NewLimiter(rate.Every(time.Minute/time.Duration(k.rpm)), k.rpm)
		}
		k.keys[key] = st
	}
	st.seen = now
	if k.concurrent > 0 && st.running >= k.concurrent {
		return nil, &Error{Status: http.StatusTooManyRequests, Type: TypeRequests, Code: CodeRateLimit, RetryAfter: time.Second,
			Message: fmt.Sprintf("Rate limit reached for %s on concurrent generations: Limit %d, Running %d. Please try again when one finishes.",
				key, k.concurrent, st.running)}
	}
	if st.bucket != nil {
		r := st.bucket.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			return nil, &Error{Status: http.StatusTooManyRequests, Type: TypeRequests, Code: CodeRateLimit, RetryAfter: d,
				Message: fmt.Sprintf("Rate limit reached for %s on requests per min (RPM): Limit %d. Please try again in %s.",
					key, k.rpm, retrySeconds(d)+"s")}
		}
	}
	st.running++
	var once sync.Once
	return func() {
		once.Do(func() {
			k.mu.Lock()
			defer k.mu.Unlock()
			st.running--
		})
	}, nil
}

// sweep forgets keys with nothing running whose bucket has refilled (a
// minute unseen), at most once a minute unless the table is full; then it
// forgets the least recently seen idle key. k.mu is held.
func (k *keyLimits) sweep(now time.Time) {
	full := len(k.keys) >= maxLimitedKeys
	if !full && now.Sub(k.lastSweep) < time.Minute {
		return
	}
	k.lastSweep = now
	for key, st := range k.keys {
		if st.running == 0 && now.Sub(st.seen) >= time.Minute {
			delete(k.keys, key)
		}
	}
	for len(k.keys) >= maxLimitedKeys {
		var oldest string
		var at time.Time
		for key, st := range k.keys {
			if st.running == 0 && (oldest == "" || st.seen.Before(at)) {
				oldest, at = key, st.seen
			}
		}
		if oldest == "" {
			return
		}
		delete(k.keys, oldest)
	}
}

// tracked is the number of keys tracked (for tests).
func (k *keyLimits) tracked() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

// retrySeconds is d in whole seconds, rounded up, at least 1: the value
// of a Retry-After header.
func retrySeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// generates reports whether endpoint runs generations (and so is subject
// to the per-key limits).
func generates(endpoint string) bool {
	return endpoint == "completions" || endpoint == "chat_completions"
}

// checkTokenLimits applies Config.MaxPromptTokens and MaxCompletionTokens
// to j: a prompt or an explicit max_tokens beyond them is a 400; an
// implicit max_tokens is lowered to the limit.
func (s *Server) checkTokenLimits(j *job, promptParam string) *Error {
	if lim := s.cfg.MaxPromptTokens; lim > 0 && len(j.prompt) > lim {
		return invalid(promptParam, CodeContextLength,
			"Your %s resulted in %d tokens; this gateway accepts prompts of at most %d tokens. Shorten the %s.",
			promptParam, len(j.prompt), lim, promptParam)
	}
	if lim := s.cfg.MaxCompletionTokens; lim > 0 && j.req.MaxTokens > lim {
		if j.maxTokensParam != "" {
			return invalid(j.maxTokensParam, CodeInvalidValue,
				"%s is too large: %d. This gateway generates at most %d tokens per request.", j.maxTokensParam, j.req.MaxTokens, lim)
		}
		j.req.MaxTokens = lim
	}
	return nil
}
