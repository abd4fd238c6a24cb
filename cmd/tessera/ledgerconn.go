package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/spf13/pflag"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/query"
	"github.com/tessera-net/tessera/p2p"
)

// ledgerFlags choose the ledger a node, gateway or client uses: a
// remote one's query API (--ledger-url) or an embedded solo store this
// process owns (--ledger-home). Neither: no ledger.
type ledgerFlags struct {
	URL  string
	Home string
	// Evidence names the models whose weights judge fraud evidence in
	// the embedded store (besides the embedded demo model).
	Evidence []string
}

// add registers --ledger-url and --ledger-home.
func (f *ledgerFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.URL, "ledger-url", "", "the ledger's query API: a validator's (tessera ledger node), or a node's or gateway's HTTP address serving /v1/ledger/")
	fs.StringVar(&f.Home, "ledger-home", "", "own an embedded (solo) ledger in this directory (DIR/ledger.db; created in dev mode if new) and serve it at /v1/ledger/")
	fs.StringArrayVar(&f.Evidence, "evidence-models", nil,
		"with --ledger-home: GGUF models or slices, or directories of them, whose weights judge fraud evidence (repeatable; the embedded model is always included)")
}

func (f ledgerFlags) enabled() bool { return f.URL != "" || f.Home != "" }

// open connects to the ledger the flags name; nil without one.
func (f ledgerFlags) open() (*ledgerConn, error) {
	switch {
	case f.URL != "" && f.Home != "":
		return nil, errors.New("give --ledger-url (a ledger elsewhere) or --ledger-home (an embedded one), not both")
	case f.URL != "":
		return remoteLedger(f.URL)
	case f.Home != "":
		if err := os.MkdirAll(f.Home, 0o700); err != nil {
			return nil, fmt.Errorf("--ledger-home: %w", err)
		}
		l, err := openSoloLedger(filepath.Join(f.Home, "ledger.db"), f.Evidence)
		if err != nil {
			return nil, fmt.Errorf("--ledger-home: %w", err)
		}
		return localLedger(l), nil
	}
	return nil, nil
}

// ledgerConn is the ledger a process uses: an embedded store it owns, or a
// remote ledger's query API. Both are used through query.API; /v1/ledger/
// serves the store, or forwards to the remote API.
type ledgerConn struct {
	api   query.API
	solo  *soloLedger  // the embedded store (closed by Close); nil when remote
	url   string       // the remote API's base URL; "" when embedded
	serve http.Handler // /v1/ledger/…

	mu       sync.Mutex
	chainID  string
	accounts map[ledger.PubKey]*ledgerAccount
}

// localLedger uses (and on Close closes) an embedded store.
func localLedger(l *soloLedger) *ledgerConn {
	return &ledgerConn{api: query.Local{Src: l}, solo: l, serve: query.Handler(l, nil), accounts: map[ledger.PubKey]*ledgerAccount{}}
}

// remoteLedgerTimeout bounds one call to a remote ledger.
const remoteLedgerTimeout = 10 * time.Second

// remoteLedger uses the query API at raw (a base URL: its path, if any,
// comes before /v1/ledger/).
func remoteLedger(raw string) (*ledgerConn, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--ledger-url %q: want http://HOST:PORT (a ledger's query API)", raw)
	}
	base := strings.TrimRight(u.String(), "/")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = remoteLedgerTimeout
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = tr
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "{%q: %q}\n", "error", "the ledger at "+base+" did not answer: "+err.Error())
	}
	return &ledgerConn{
		api:      &query.Client{URL: base, HTTP: &http.Client{Transport: tr, Timeout: remoteLedgerTimeout}},
		url:      base,
		serve:    proxy,
		accounts: map[ledger.PubKey]*ledgerAccount{},
	}, nil
}

// where names the ledger for people.
func (c *ledgerConn) where() string {
	if c.solo != nil {
		return "embedded ledger " + c.solo.Path()
	}
	return "ledger " + c.url
}

// handler serves the ledger's query API under /v1/ledger/.
func (c *ledgerConn) handler() http.Handler { return c.serve }

// Close closes an embedded store; a nil *ledgerConn is a no-op.
func (c *ledgerConn) Close() error {
	if c == nil || c.solo == nil {
		return nil
	}
	return c.solo.Close()
}

// info returns the chain's summary, and remembers its id.
func (c *ledgerConn) info(ctx context.Context) (ledger.Info, error) {
	info, err := c.api.Info(ctx)
	if err != nil {
		return info, fmt.Errorf("%s: %w", c.where(), err)
	}
	c.mu.Lock()
	c.chainID = info.ChainID
	c.mu.Unlock()
	return info, nil
}

func (c *ledgerConn) chain(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.chainID
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	info, err := c.info(ctx)
	return info.ChainID, err
}

// account returns the sender of key's transactions. Every transaction of
// an account in this process goes through one, so their nonces follow
// each other.
func (c *ledgerConn) account(key ed25519.PrivateKey) *ledgerAccount {
	k := ledger.KeyOf(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.accounts[k]
	if a == nil {
		a = &ledgerAccount{conn: c, key: key, pub: k}
		c.accounts[k] = a
	}
	return a
}

// ledgerAccount sends one account's transactions one at a time.
type ledgerAccount struct {
	conn *ledgerConn
	key  ed25519.PrivateKey
	pub  ledger.PubKey
	mu   sync.Mutex
}

// send signs body with the account's next nonce and submits it; it
// returns once the transaction is committed (a rejection is a
// *ledger.RejectError). A nonce taken meanwhile by another process using
// the same key is retried.
func (a *ledgerAccount) send(ctx context.Context, body ledger.Body) (ledger.Receipt, error) {
	chainID, err := a.conn.chain(ctx)
	if err != nil {
		return ledger.Receipt{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for attempt := 0; ; attempt++ {
		acct, err := a.conn.api.Account(ctx, a.pub)
		if err != nil {
			return ledger.Receipt{}, fmt.Errorf("%s: %w", a.conn.where(), err)
		}
		tx := &ledger.Tx{ChainID: chainID, Nonce: acct.Nonce, Body: body}
		tx.Sign(a.key)
		rc, err := a.conn.api.Submit(ctx, tx.Encode())
		if ledger.CodeOf(err) == ledger.CodeBadNonce && attempt < 3 {
			continue
		}
		if err != nil {
			return rc, fmt.Errorf("%s by %s: %w", body.Kind(), shortKey(a.pub), err)
		}
		return rc, nil
	}
}

// shortKey is an account key as people see it in logs.
func shortKey(k ledger.PubKey) string { return k.String()[:12] + "…" }

// ledgerKeyFile is where a path names a key: the file, or a node data
// directory's identity file (a node's ledger account is its identity).
func ledgerKeyFile(path string) string {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return filepath.Join(path, p2p.IdentityFile)
	}
	return path
}

// maxKeyFile bounds what readLedgerKey reads (an Ed25519 key file is 68 bytes).
const maxKeyFile = 4096

// readLedgerKey reads a ledger account's private key: a file in libp2p's
// key format (what `tessera ledger key --new` writes, and a node's
// identity.key), or a node data directory.
func readLedgerKey(path string) (ed25519.PrivateKey, error) {
	path = ledgerKeyFile(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ledger key: %w (create one with: tessera ledger key --new %s)", err, path)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("ledger key %s is readable or writable by other users (mode %04o): chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("ledger key %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("ledger key %s: not a key file (larger than %d bytes)", path, maxKeyFile)
	}
	k, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("ledger key %s: not a key file: %w", path, err)
	}
	if k.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("ledger key %s holds a %s key, the ledger needs Ed25519", path, k.Type())
	}
	raw, err := k.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("ledger key %s: bad Ed25519 key", path)
	}
	return ed25519.PrivateKey(raw), nil
}

// newLedgerKey writes a new key to path (mode 0600; an existing file is
// never replaced) and returns it.
func newLedgerKey(path string) (ed25519.PrivateKey, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	data, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	raw, _ := priv.Raw()
	return ed25519.PrivateKey(raw), nil
}
