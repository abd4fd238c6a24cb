package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func keyBytes(t *testing.T, k crypto.PrivKey) []byte {
	t.Helper()
	b, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIdentityCreatedWithPrivatePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	dataDir := filepath.Join(t.TempDir(), "a", "b")
	if _, err := LoadOrCreateIdentity(dataDir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dataDir, IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("identity file mode %04o, want 0600", got)
	}
	for _, d := range []string{dataDir, filepath.Dir(dataDir)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&0o077 != 0 {
			t.Errorf("directory %s mode %04o, want 0700", d, got)
		}
	}
	// No temporary files are left behind.
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only %s", len(entries), IdentityFile)
	}
}

func TestIdentityStableAcrossLoads(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equals(k2) {
		t.Fatal("second load returned a different key")
	}
	if k1.Type() != crypto.Ed25519 {
		t.Fatalf("key type %s, want Ed25519", k1.Type())
	}
	k3, err := LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if k1.Equals(k3) {
		t.Fatal("two data directories share a key")
	}
}

func TestIdentityConcurrentCreation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	const n = 8
	keys := make([]crypto.PrivKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateIdentity(dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if !keys[i].Equals(keys[0]) {
			t.Fatalf("goroutine %d got a different key than goroutine 0", i)
		}
	}
	onDisk, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !onDisk.Equals(keys[0]) {
		t.Fatal("key on disk differs from the one returned")
	}
}

func TestIdentityBadFiles(t *testing.T) {
	good, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	goodBytes := keyBytes(t, good)
	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	flippedPub := bytes.Clone(goodBytes)
	flippedPub[len(flippedPub)-1] ^= 1 // last byte: inside the public half

	cases := []struct {
		name    string
		data    []byte
		mention string
	}{
		{"garbage", []byte("this is not a key\n"), "corrupt"},
		{"empty", nil, "empty"},
		{"truncated", goodBytes[:20], "corrupt"},
		{"too large", make([]byte, maxIdentitySize+10), "corrupt"},
		{"secp256k1", keyBytes(t, secp), "Ed25519"},
		{"public half damaged", flippedPub, "public key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, IdentityFile)
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateIdentity(dir)
			if err == nil {
				t.Fatal("bad identity file accepted")
			}
			if !errors.Is(err, ErrBadIdentity) {
				t.Errorf("error does not wrap ErrBadIdentity: %v", err)
			}
			for _, want := range []string{path, tc.mention, "mv "} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			// The file is left exactly as it was.
			after, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !bytes.Equal(after, tc.data) {
				t.Error("bad identity file was modified")
			}
			// And New reports the same error instead of starting.
			if h, err := New(context.Background(), Config{DataDir: dir}); err == nil {
				h.Close()
				t.Error("New started with a bad identity file")
			} else if !strings.Contains(err.Error(), path) {
				t.Errorf("New error %q does not mention %s", err, path)
			}
		})
	}
}

func TestIdentityOpenPermissionsRejected(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	dir := t.TempDir()
	if _, err := LoadOrCreateIdentity(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, IdentityFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateIdentity(dir)
	if err == nil || !errors.Is(err, ErrBadIdentity) ||
		!strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("want an error telling to chmod 600 %s, got %v", path, err)
	}
}

func TestIdentityLegacyLongForm(t *testing.T) {
	// Older libp2p versions stored Ed25519 keys as seed‖pub‖pub (96 bytes).
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := k.Raw()
	long := append(bytes.Clone(raw), raw[32:]...)
	data := append([]byte{0x08, 0x01, 0x12, byte(len(long))}, long...)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, IdentityFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equals(k) {
		t.Fatal("legacy key decoded to a different key")
	}
}

func TestIdentityEmptyDataDir(t *testing.T) {
	if _, err := LoadOrCreateIdentity(""); err == nil {
		t.Fatal("empty data dir accepted")
	}
}

func TestHostIdentityAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	start := func(dataDir string) string {
		h := newHost(t, Config{DataDir: dataDir})
		id := h.ID()
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := start(dir)
	if again := start(dir); again != first {
		t.Fatalf("peer ID changed across restarts: %s then %s", first, again)
	}
	if other := start(t.TempDir()); other == first {
		t.Fatal("another data dir gave the same peer ID")
	}
}

func TestHostKeyOptions(t *testing.T) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h := newHost(t, Config{Key: k, DataDir: dir})
	want, _ := peer.IDFromPrivateKey(k)
	if h.ID() != want.String() {
		t.Fatalf("ID %s, want %s from Config.Key", h.ID(), want)
	}
	if !h.PrivKey().Equals(k) {
		t.Fatal("PrivKey differs from Config.Key")
	}
	if _, err := os.Stat(filepath.Join(dir, IdentityFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an identity file was written although Config.Key was given")
	}

	// PubKey is the raw Ed25519 key the peer ID is derived from.
	pub := h.PubKey()
	if len(pub) != 32 {
		t.Fatalf("PubKey is %d bytes, want 32", len(pub))
	}
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := peer.IDFromPublicKey(pk); id.String() != h.ID() {
		t.Fatal("PubKey does not match the peer ID")
	}

	// Without Key or DataDir: a fresh ephemeral identity each time.
	e1, e2 := newHost(t, Config{}), newHost(t, Config{})
	if e1.ID() == e2.ID() {
		t.Fatal("two ephemeral hosts share an ID")
	}

	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := New(context.Background(), Config{Key: secp}); err == nil {
		h.Close()
		t.Fatal("a secp256k1 Config.Key was accepted")
	}
}
