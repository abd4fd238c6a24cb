package p2p

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// IdentityFile is the name of the node's private key inside its data
// directory. It holds the libp2p protobuf encoding of an Ed25519 private key
// (crypto.MarshalPrivateKey), the format go-libp2p and Kubo use.
const IdentityFile = "identity.key"

// maxIdentitySize bounds what LoadOrCreateIdentity reads: an Ed25519 key is
// 68 bytes in this encoding (72 in the legacy 96-byte form).
const maxIdentitySize = 4096

// ErrBadIdentity is wrapped by the errors LoadOrCreateIdentity returns when
// the identity file exists but cannot be used (corrupt, wrong key type, too
// open permissions). Such a file is never replaced automatically: it is the
// node's identity, and replacing it would silently change the peer ID.
var ErrBadIdentity = errors.New("p2p: unusable identity file")

// LoadOrCreateIdentity returns the node's persistent Ed25519 key, stored in
// <dataDir>/identity.key. If the file does not exist, a new key is generated
// and written atomically with mode 0600 (dataDir and missing parents are
// created with mode 0700). An existing file that is corrupt, holds another
// key type, or is readable by other users is an error wrapping
// ErrBadIdentity that names the file and says how to fix it.
//
// Two processes creating the identity of one data directory at the same
// time end up with the same key: the file is published with a hard link,
// which never overwrites an existing file.
func LoadOrCreateIdentity(dataDir string) (crypto.PrivKey, error) {
	if dataDir == "" {
		return nil, errors.New("p2p: LoadOrCreateIdentity: data directory is empty")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("p2p: create data directory: %w", err)
	}
	path := filepath.Join(dataDir, IdentityFile)

	key, err := readIdentity(path)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}

	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("p2p: generate identity: %w", err)
	}
	data, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("p2p: encode identity: %w", err)
	}
	switch err := writeNewFile(path, data); {
	case err == nil:
		return priv, nil
	case errors.Is(err, fs.ErrExist):
		// Another process created it first: use theirs.
		return readIdentity(path)
	default:
		return nil, fmt.Errorf("p2p: write identity file %s: %w", path, err)
	}
}

// badIdentity builds the error for an identity file that exists but cannot
// be used.
func badIdentity(path, problem string) error {
	return fmt.Errorf("%w %s: %s; the file is the node's private key and is never replaced "+
		"automatically: restore it from a backup, or move it aside (mv %s %s.bad) to create "+
		"a new identity with a new peer ID", ErrBadIdentity, path, problem, path, path)
}

// readIdentity reads and validates an identity file. A missing file yields
// an error wrapping fs.ErrNotExist.
func readIdentity(path string) (crypto.PrivKey, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("p2p: read identity file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("p2p: read identity file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, badIdentity(path, "is not a regular file")
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w %s: readable or writable by other users (mode %04o); "+
			"restrict it with: chmod 600 %s", ErrBadIdentity, path, fi.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIdentitySize+1))
	if err != nil {
		return nil, fmt.Errorf("p2p: read identity file %s: %w", path, err)
	}
	if len(data) > maxIdentitySize {
		return nil, badIdentity(path, fmt.Sprintf("is corrupt (larger than %d bytes)", maxIdentitySize))
	}
	if len(data) == 0 {
		return nil, badIdentity(path, "is corrupt (empty)")
	}
	key, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, badIdentity(path, fmt.Sprintf("is corrupt (%v)", err))
	}
	if key.Type() != crypto.Ed25519 {
		return nil, badIdentity(path, fmt.Sprintf("holds a %s key, Tessera needs Ed25519", key.Type()))
	}
	raw, err := key.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, badIdentity(path, "is corrupt (bad Ed25519 key length)")
	}
	// An Ed25519 private key is seed ‖ public key: a damaged public half
	// would make every signature fail to verify.
	if !bytes.Equal(ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize]), raw) {
		return nil, badIdentity(path, "is corrupt (public key does not match the private key)")
	}
	return key, nil
}

// writeNewFile writes data to path atomically with mode 0600 and fails with
// an error wrapping fs.ErrExist if path already exists; it never overwrites.
func writeNewFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a link, this only removes the temporary name
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// Some file systems have no hard links: fall back to a rename, which
		// is still atomic but could replace a file created in between.
		if _, serr := os.Lstat(path); serr == nil {
			return fs.ErrExist
		}
		if err := os.Rename(tmpName, path); err != nil {
			return err
		}
	}
	syncDir(dir)
	return nil
}

// syncDir makes a new directory entry durable (best effort: not every
// platform can fsync a directory).
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
