package api

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Keys maps API keys to account names (the ledger accounts that pay for
// generations). Keys are held as SHA-256 digests, so the table does not
// keep them in the clear and a lookup does not compare secrets byte by
// byte. A nil *Keys accepts every request as the account "anonymous".
type Keys struct {
	accounts map[[32]byte]string
}

// Anonymous is the account of requests when no keys are configured.
const Anonymous = "anonymous"

// NewKeys builds a key table from key → account.
func NewKeys(m map[string]string) (*Keys, error) {
	k := &Keys{accounts: make(map[[32]byte]string, len(m))}
	for key, account := range m {
		if err := k.add(key, account); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Add gives key to account.
func (k *Keys) Add(key, account string) error { return k.add(key, account) }

func (k *Keys) add(key, account string) error {
	switch {
	case key == "":
		return errors.New("api: empty API key")
	case strings.ContainsAny(key, " \t\r\n"):
		return errors.New("api: an API key contains white space")
	case account == "":
		return fmt.Errorf("api: API key %s has no account", redact(key))
	}
	d := sha256.Sum256([]byte(key))
	if prev, dup := k.accounts[d]; dup && prev != account {
		return fmt.Errorf("api: API key %s is given to accounts %q and %q", redact(key), prev, account)
	}
	k.accounts[d] = account
	return nil
}

// Len returns the number of keys.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.accounts)
}

// ParseKeys reads a keys file: either a JSON object {"KEY": "account", …}
// or lines "KEY ACCOUNT" (blank lines and lines starting with # are
// skipped).
func ParseKeys(r io.Reader) (*Keys, error) {
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, err
	}
	if t := strings.TrimSpace(string(data)); strings.HasPrefix(t, "{") {
		var m map[string]string
		if err := json.Unmarshal([]byte(t), &m); err != nil {
			return nil, fmt.Errorf("api: keys file: %w", err)
		}
		return NewKeys(m)
	}
	k := &Keys{accounts: map[[32]byte]string{}}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("api: keys file line %d: want \"KEY ACCOUNT\", got %d fields", n, len(f))
		}
		if err := k.add(f[0], f[1]); err != nil {
			return nil, fmt.Errorf("api: keys file line %d: %w", n, err)
		}
	}
	if k.Len() == 0 {
		return nil, errors.New("api: keys file holds no keys")
	}
	return k, nil
}

// LoadKeysFile reads a keys file (see ParseKeys).
func LoadKeysFile(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	k, err := ParseKeys(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Account returns the account of key.
func (k *Keys) Account(key string) (string, bool) {
	if k == nil {
		return Anonymous, true
	}
	a, ok := k.accounts[sha256.Sum256([]byte(key))]
	return a, ok
}

// authenticate returns the request's account or the 401 to answer.
func (k *Keys) authenticate(r *http.Request) (string, *Error) {
	if k == nil {
		return Anonymous, nil
	}
	h := r.Header.Get("Authorization")
	scheme, key, _ := strings.Cut(h, " ")
	key = strings.TrimSpace(key)
	if h == "" || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", &Error{Status: http.StatusUnauthorized, Type: TypeInvalidRequest, Code: CodeInvalidAPIKey,
			Message: "You didn't provide an API key. Send it in the Authorization header as 'Authorization: Bearer YOUR_KEY'."}
	}
	a, ok := k.Account(key)
	if !ok {
		return "", &Error{Status: http.StatusUnauthorized, Type: TypeInvalidRequest, Code: CodeInvalidAPIKey,
			Message: "Incorrect API key provided: " + redact(key) + "."}
	}
	return a, nil
}

// redact shows the ends of a key only.
func redact(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	return key[:3] + "****" + key[len(key)-4:]
}
