// Package webtest drives headless Chromium for the dashboard's end-to-end
// tests: it loads a page, returns the DOM after the page's scripts ran and
// writes screenshots as test artifacts. Tests skip, saying why, when
// Chromium is not installed (Debian: apt-get install -y chromium).
package webtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultPath is where Debian's chromium package puts the browser;
// TESSERA_CHROMIUM overrides it.
const DefaultPath = "/usr/bin/chromium"

// Chromium returns the browser's path, or skips t when it is absent.
func Chromium(t testing.TB) string {
	t.Helper()
	path := DefaultPath
	if p := os.Getenv("TESSERA_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		t.Skipf("headless browser test skipped: %s is absent (install Debian's chromium: apt-get install -y chromium, or set TESSERA_CHROMIUM)", path)
	}
	return path
}

// ArtifactDir returns the directory test artifacts go to:
// $TESSERA_ARTIFACTS (created if needed) or a temporary directory of t.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("TESSERA_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// Options of a page load.
type Options struct {
	Width, Height int           // window size (0: 1280×900)
	Budget        time.Duration // virtual time the page's scripts get (0: 5 s)
}

func (o Options) args(t testing.TB, url string, extra ...string) []string {
	w, h := o.Width, o.Height
	if w == 0 {
		w, h = 1280, 900
	}
	budget := o.Budget
	if budget == 0 {
		budget = 5 * time.Second
	}
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + t.TempDir(),
		"--window-size=" + strconv.Itoa(w) + "," + strconv.Itoa(h),
		"--virtual-time-budget=" + strconv.Itoa(int(budget.Milliseconds())),
	}
	return append(append(args, extra...), url)
}

func run(t testing.TB, args []string) []byte {
	t.Helper()
	bin := Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// DumpDOM loads url and returns the serialised DOM once the page's
// scripts have had o.Budget of virtual time.
func DumpDOM(t testing.TB, url string, o Options) string {
	t.Helper()
	return string(run(t, o.args(t, url, "--dump-dom")))
}

// Screenshot loads url and writes a PNG of the window to the artifact
// directory as name; it returns the file's path (and logs it).
func Screenshot(t testing.TB, url, name string, o Options) string {
	t.Helper()
	path := filepath.Join(ArtifactDir(t), name)
	run(t, o.args(t, url, "--screenshot="+path))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	if len(data) < 8 || string(data[1:4]) != "PNG" {
		t.Fatalf("screenshot %s is not a PNG", path)
	}
	t.Logf("screenshot of %s: %s (%d bytes)", url, path, len(data))
	return path
}
