package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// modelServer serves one file with Range and If-Range support (as
// http.ServeContent does), records the requests, and can break the first
// transfers after some bytes.
type modelServer struct {
	*httptest.Server
	mu       sync.Mutex
	content  []byte
	etag     string
	requests []*http.Request
	breakAt  []int // byte counts after which successive responses break
	noRanges bool
}

func newModelServer(t *testing.T, size int) *modelServer {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(r.Uint32())
	}
	copy(content, "GGUF")
	s := &modelServer{content: content, etag: `"v1"`}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *modelServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Clone(context.Background()))
	content, etag := s.content, s.etag
	var limit = -1
	if len(s.breakAt) > 0 {
		limit, s.breakAt = s.breakAt[0], s.breakAt[1:]
	}
	noRanges := s.noRanges
	s.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/missing.gguf") {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/gated.gguf") && r.Header.Get("Authorization") != "Bearer hf_secret" {
		http.Error(w, "gated", http.StatusUnauthorized)
		return
	}
	if noRanges {
		r.Header.Del("Range")
	}
	w.Header().Set("ETag", etag)
	if limit >= 0 {
		w = &breakingWriter{ResponseWriter: w, left: limit}
	}
	http.ServeContent(w, r, "model.gguf", time.Unix(1700000000, 0), bytes.NewReader(content))
}

func (s *modelServer) requestLog() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.requests...)
}

// breakingWriter sends left bytes of the body, then drops the connection.
type breakingWriter struct {
	http.ResponseWriter
	left int
}

func (b *breakingWriter) Write(p []byte) (int, error) {
	if len(p) > b.left {
		_, _ = b.ResponseWriter.Write(p[:b.left])
		b.left = 0
		b.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	b.left -= len(p)
	return b.ResponseWriter.Write(p)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func pullTo(t *testing.T, dir, src, want string) (string, string, error) {
	t.Helper()
	var progress bytes.Buffer
	p, err := pullModel(context.Background(), pullOptions{Source: src, Dir: dir, SHA256: want, Progress: &progress, Retries: 3})
	return p, progress.String(), err
}

func TestPullDownloadsAndChecks(t *testing.T) {
	s := newModelServer(t, 300_000)
	dir := filepath.Join(t.TempDir(), "models")
	p, progress, err := pullTo(t, dir, s.URL+"/files/kjv.gguf", sha(s.content))
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, "kjv.gguf") {
		t.Errorf("path %s", p)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, s.content) {
		t.Fatalf("downloaded %d bytes (%v), want the %d served", len(got), err, len(s.content))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.partial*")); len(left) != 0 {
		t.Errorf("partial files left: %v", left)
	}
	if !strings.Contains(progress, "saved "+p) || !strings.Contains(progress, sha(s.content)) {
		t.Errorf("progress output %q", progress)
	}
	// Pulling again checks the file and makes no request.
	n := len(s.requestLog())
	if _, progress, err = pullTo(t, dir, s.URL+"/files/kjv.gguf", sha(s.content)); err != nil || !strings.Contains(progress, "already present") {
		t.Errorf("second pull: %v %q", err, progress)
	}
	if len(s.requestLog()) != n {
		t.Error("a present file was downloaded again")
	}
	if _, _, err = pullTo(t, dir, s.URL+"/files/kjv.gguf", strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "already present with sha256") {
		t.Errorf("a present file with another digest: %v", err)
	}
}

// A transfer that breaks is resumed with a Range request guarded by the
// ETag, automatically and across runs.
func TestPullResumes(t *testing.T) {
	s := newModelServer(t, 500_000)
	dir := t.TempDir()
	s.breakAt = []int{120_000, 200_000}
	p, progress, err := pullTo(t, dir, s.URL+"/m/resume.gguf", sha(s.content))
	if err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, s.content) {
		t.Fatal("the resumed download differs from the file")
	}
	reqs := s.requestLog()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if reqs[0].Header.Get("Range") != "" {
		t.Errorf("first request asked for range %q", reqs[0].Header.Get("Range"))
	}
	if r := reqs[1].Header.Get("Range"); r != "bytes=120000-" || reqs[1].Header.Get("If-Range") != `"v1"` {
		t.Errorf("second request: Range %q If-Range %q", r, reqs[1].Header.Get("If-Range"))
	}
	if r := reqs[2].Header.Get("Range"); r != "bytes=320000-" {
		t.Errorf("third request: Range %q", r)
	}
	if !strings.Contains(progress, "resuming resume.gguf") {
		t.Errorf("progress %q", progress)
	}

	// Across runs: a run that gives up keeps the partial file; the next
	// run resumes it.
	dir = t.TempDir()
	s.mu.Lock()
	s.requests, s.breakAt = nil, []int{100_000}
	s.mu.Unlock()
	var progressBuf bytes.Buffer
	_, err = pullModel(context.Background(), pullOptions{Source: s.URL + "/m/two-runs.gguf", Dir: dir, Progress: &progressBuf, Retries: 0})
	if err == nil || !strings.Contains(err.Error(), "partial file") {
		t.Fatalf("a broken transfer without retries: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "two-runs.gguf.partial")); err != nil || st.Size() != 100_000 {
		t.Fatalf("partial file after the first run: %v %v", st, err)
	}
	if _, _, err = pullTo(t, dir, s.URL+"/m/two-runs.gguf", sha(s.content)); err != nil {
		t.Fatal(err)
	}
	if r := s.requestLog()[1].Header.Get("Range"); r != "bytes=100000-" {
		t.Errorf("the second run asked for %q", r)
	}

	// The file changed on the server: If-Range fails, the server sends it
	// whole, and the result is the new file.
	dir = t.TempDir()
	s.mu.Lock()
	s.breakAt = []int{50_000}
	s.mu.Unlock()
	_, _ = pullModel(context.Background(), pullOptions{Source: s.URL + "/m/changed.gguf", Dir: dir, Retries: 0})
	s.mu.Lock()
	s.etag = `"v2"`
	s.content = append(append([]byte(nil), s.content[:400_000]...), bytes.Repeat([]byte{7}, 10)...)
	s.mu.Unlock()
	p, progress, err = pullTo(t, dir, s.URL+"/m/changed.gguf", sha(s.content))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, s.content) || !strings.Contains(progress, "from the start") {
		t.Errorf("changed file: %d bytes, progress %q", len(got), progress)
	}
}

func TestPullWithoutRangeSupport(t *testing.T) {
	s := newModelServer(t, 200_000)
	s.noRanges = true
	s.breakAt = []int{70_000}
	p, _, err := pullTo(t, t.TempDir(), s.URL+"/norange.gguf", sha(s.content))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, s.content) {
		t.Error("restarting from scratch gave a different file")
	}
}

func TestPullRejects(t *testing.T) {
	s := newModelServer(t, 100_000)
	dir := t.TempDir()
	_, _, err := pullTo(t, dir, s.URL+"/x/bad.gguf", strings.Repeat("ab", 32))
	if err == nil || !strings.Contains(err.Error(), "sha256 of the download is "+sha(s.content)) {
		t.Errorf("digest mismatch: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("files left after a digest mismatch: %v", left)
	}
	if _, _, err = pullTo(t, dir, s.URL+"/x/missing.gguf", ""); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err = pullTo(t, dir, s.URL+"/x/y.gguf", "xyz"); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("bad --sha256: %v", err)
	}
	s.mu.Lock()
	s.content = []byte("<html>not a model</html>")
	s.mu.Unlock()
	if _, _, err = pullTo(t, dir, s.URL+"/x/page.gguf", ""); err == nil || !strings.Contains(err.Error(), "not a GGUF file") {
		t.Errorf("a web page: %v", err)
	}
	for _, src := range []string{"ftp://example.org/x.gguf", "hf:owner/repo", "hf:owner//x.gguf", "hf:o/r/../x.gguf", "model.gguf"} {
		if _, _, err := pullTo(t, dir, src, ""); err == nil {
			t.Errorf("source %q accepted", src)
		}
	}
}

// hf: sources map to the resolve URL of the Hugging Face endpoint; the
// token goes to that host only. Tests point HF_ENDPOINT at a local server;
// huggingface.co itself is never contacted.
func TestPullHuggingFace(t *testing.T) {
	u, name, err := resolveSource("hf:bartowski/Llama-3.2-1B-Instruct-GGUF/sub dir/Llama-3.2-1B-Instruct-Q4_K_M.gguf", "v1.0")
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF/resolve/v1.0/sub%20dir/Llama-3.2-1B-Instruct-Q4_K_M.gguf"; u.String() != want || name != "Llama-3.2-1B-Instruct-Q4_K_M.gguf" {
		t.Errorf("resolved %s %s, want %s", u, name, want)
	}
	s := newModelServer(t, 50_000)
	t.Setenv("HF_ENDPOINT", s.URL)
	t.Setenv("HF_TOKEN", "hf_secret")
	dir := t.TempDir()
	p, _, err := pullTo(t, dir, "hf:owner/repo/gated.gguf", sha(s.content))
	if err != nil {
		t.Fatal(err)
	}
	r := s.requestLog()[0]
	if r.URL.Path != "/owner/repo/resolve/main/gated.gguf" || r.Header.Get("Authorization") != "Bearer hf_secret" {
		t.Errorf("request %s with Authorization %q", r.URL.Path, r.Header.Get("Authorization"))
	}
	if filepath.Base(p) != "gated.gguf" {
		t.Errorf("path %s", p)
	}
	// The token is not sent elsewhere.
	other := newModelServer(t, 10_000)
	if _, _, err := pullTo(t, dir, other.URL+"/plain.gguf", ""); err != nil {
		t.Fatal(err)
	}
	if a := other.requestLog()[0].Header.Get("Authorization"); a != "" {
		t.Errorf("the Hugging Face token went to another host: %q", a)
	}
	t.Setenv("HF_TOKEN", "")
	if _, _, err := pullTo(t, t.TempDir(), "hf:owner/repo/gated.gguf", ""); err == nil || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("a gated file without a token: %v", err)
	}
}

func TestPullCommand(t *testing.T) {
	s := newModelServer(t, 20_000)
	dir := t.TempDir()
	cmd := newPullCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{s.URL + "/a/model.gguf", "--dir", dir, "--sha256", sha(s.content), "--name", "renamed.gguf"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != filepath.Join(dir, "renamed.gguf") {
		t.Errorf("stdout %q", got)
	}
	if !strings.Contains(errOut.String(), "pull renamed.gguf") {
		t.Errorf("no progress bar on stderr: %q", errOut.String())
	}
}
