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
	"path/filepath"
	"sort"
	"strings"
)

// Keys maps API keys to account names, and accounts to the files of
// their ledger keys (the ledger accounts that pay for their generations;
// the gateway holds them). API keys are held as SHA-256 digests, so the
// table does not keep them in the clear and a lookup does not compare
// secrets byte by byte. A nil *Keys accepts every request as the account
// "anonymous".
type Keys struct {
	accounts map[[32]byte]string
	ledger   map[string]string // account → ledger key file
}

// Anonymous is the account of requests when no keys are configured.
const Anonymous = "anonymous"

// NewKeys builds a key table from key → account.
func NewKeys(m map[string]string) (*Keys, error) {
	k := &Keys{accounts: make(map[[32]byte]string, len(m)), ledger: map[string]string{}}
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

// SetLedgerKey records the file of account's ledger key.
func (k *Keys) SetLedgerKey(account, file string) error {
	if prev, ok := k.ledger[account]; ok && prev != file {
		return fmt.Errorf("api: account %q has two ledger keys, %s and %s", account, prev, file)
	}
	k.ledger[account] = file
	return nil
}

// LedgerKey returns the file of account's ledger key, if the table names one.
func (k *Keys) LedgerKey(account string) (string, bool) {
	if k == nil {
		return "", false
	}
	f, ok := k.ledger[account]
	return f, ok
}

// Accounts returns the accounts the keys belong to, sorted.
func (k *Keys) Accounts() []string {
	if k == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, a := range k.accounts {
		seen[a] = true
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Len returns the number of keys.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.accounts)
}

// ParseKeys reads a keys file: either a JSON object whose values are an
// account name or {"account": NAME, "ledger_key": FILE},
//
//	{"sk-1": "alice", "sk-2": {"account": "bob", "ledger_key": "bob.key"}}
//
// or lines "KEY ACCOUNT [LEDGER_KEY_FILE]" (blank lines and lines
// starting with # are skipped). A ledger key file names the key of the
// ledger account that pays for the account's generations.
func ParseKeys(r io.Reader) (*Keys, error) {
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, err
	}
	k, _ := NewKeys(nil)
	if t := strings.TrimSpace(string(data)); strings.HasPrefix(t, "{") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(t), &m); err != nil {
			return nil, fmt.Errorf("api: keys file: %w", err)
		}
		for key, raw := range m {
			var e struct {
				Account   string `json:"account"`
				LedgerKey string `json:"ledger_key"`
			}
			if err := json.Unmarshal(raw, &e.Account); err != nil {
				dec := json.NewDecoder(strings.NewReader(string(raw)))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&e); err != nil {
					return nil, fmt.Errorf("api: keys file: key %s: want an account name or {\"account\", \"ledger_key\"}: %w", redact(key), err)
				}
			}
			if err := k.addEntry(key, e.Account, e.LedgerKey); err != nil {
				return nil, fmt.Errorf("api: keys file: %w", err)
			}
		}
	} else {
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			f := strings.Fields(line)
			if len(f) != 2 && len(f) != 3 {
				return nil, fmt.Errorf("api: keys file line %d: want \"KEY ACCOUNT [LEDGER_KEY_FILE]\", got %d fields", n, len(f))
			}
			if err := k.addEntry(f[0], f[1], strings.Join(f[2:], "")); err != nil {
				return nil, fmt.Errorf("api: keys file line %d: %w", n, err)
			}
		}
	}
	if k.Len() == 0 {
		return nil, errors.New("api: keys file holds no keys")
	}
	return k, nil
}

func (k *Keys) addEntry(key, account, ledgerKey string) error {
	if err := k.add(key, account); err != nil {
		return err
	}
	if ledgerKey != "" {
		return k.SetLedgerKey(account, ledgerKey)
	}
	return nil
}

// LoadKeysFile reads a keys file (see ParseKeys); relative ledger key
// files are relative to the keys file's directory.
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
	for a, file := range k.ledger {
		if !filepath.IsAbs(file) {
			k.ledger[a] = filepath.Join(filepath.Dir(path), file)
		}
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
