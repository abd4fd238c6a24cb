package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// pullOptions configure `tessera model pull`.
type pullOptions struct {
	Source   string // http(s) URL or hf:OWNER/REPO/PATH
	Dir      string // where the file goes
	SHA256   string // expected digest (hex); "" = none
	Revision string // Hugging Face revision (branch, tag or commit)
	Name     string // file name in Dir; "" = the source's last path element
	Progress io.Writer
	Client   *http.Client
	Retries  int // further attempts after a broken transfer (each resumes)
}

// defaultModelsDir is where pulled models go: $TESSERA_MODELS, else
// tessera/models under the user's cache directory.
func defaultModelsDir() string {
	if d := os.Getenv("TESSERA_MODELS"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tessera", "models")
	}
	return "models"
}

func newPullCmd() *cobra.Command {
	o := pullOptions{Retries: 3}
	cmd := &cobra.Command{
		Use:   "pull URL|hf:OWNER/REPO/FILE.gguf",
		Short: "Download a GGUF model: resumable, with progress and a sha256 check",
		Long: `Download a GGUF model into a models directory.

The source is an http(s) URL, or hf:OWNER/REPO/PATH for a file of a Hugging
Face repository (fetched from $HF_ENDPOINT, default https://huggingface.co,
at --revision; $HF_TOKEN is sent to that host only, for gated models).

The file is written as NAME.partial and renamed to NAME only once it is
complete, checked against --sha256 when given, and starts with the GGUF
magic. An interrupted download resumes where it stopped (HTTP Range, guarded
by the server's ETag) when the same command runs again; a broken transfer is
also resumed automatically up to --retries times. The final path is printed
on stdout, progress on stderr.`,
		Example: `  tessera model pull hf:bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf
  tessera model pull https://example.org/models/kjv.gguf --dir ./models --sha256 5d41402abc4b2a76b9719d911017c592…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			o.Source = args[0]
			o.Progress = cmd.ErrOrStderr()
			p, err := pullModel(ctx, o)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("%w (the partial download is kept; run the same command again to resume)", err)
				}
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), p)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", defaultModelsDir(), "directory to put the model in (created if needed; $TESSERA_MODELS sets the default)")
	f.StringVar(&o.SHA256, "sha256", "", "expected SHA-256 of the file (hex); the download fails if it differs")
	f.StringVar(&o.Revision, "revision", "main", "Hugging Face revision: branch, tag or commit")
	f.StringVar(&o.Name, "name", "", "file name in --dir (default: the source's file name)")
	f.IntVar(&o.Retries, "retries", 3, "times a broken transfer is resumed before giving up")
	return cmd
}

// signalContext ends on Ctrl-C or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// hfEndpoint is the Hugging Face host hf: sources are fetched from.
func hfEndpoint() string {
	if e := os.Getenv("HF_ENDPOINT"); e != "" {
		return strings.TrimSuffix(e, "/")
	}
	return "https://huggingface.co"
}

// resolveSource turns a source into the URL to fetch and the file name.
func resolveSource(src, revision string) (u *url.URL, name string, err error) {
	if rest, ok := strings.CutPrefix(src, "hf:"); ok {
		parts := strings.Split(strings.Trim(rest, "/"), "/")
		if len(parts) < 3 || slicesContainEmpty(parts) {
			return nil, "", fmt.Errorf("%q: want hf:OWNER/REPO/PATH/TO/FILE.gguf", src)
		}
		if revision == "" {
			revision = "main"
		}
		esc := make([]string, len(parts)-2)
		for i, p := range parts[2:] {
			esc[i] = url.PathEscape(p)
		}
		raw := hfEndpoint() + "/" + url.PathEscape(parts[0]) + "/" + url.PathEscape(parts[1]) + "/resolve/" +
			url.PathEscape(revision) + "/" + strings.Join(esc, "/")
		u, err = url.Parse(raw)
		if err != nil {
			return nil, "", fmt.Errorf("%q: %w", src, err)
		}
		return u, parts[len(parts)-1], nil
	}
	u, err = url.Parse(src)
	if err != nil {
		return nil, "", fmt.Errorf("model source %q: %w", src, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, "", fmt.Errorf("model source %q: want an http(s) URL or hf:OWNER/REPO/FILE.gguf", src)
	}
	return u, path.Base(u.Path), nil
}

func slicesContainEmpty(s []string) bool {
	for _, x := range s {
		if x == "" || x == "." || x == ".." {
			return true
		}
	}
	return false
}

// partialMeta is kept beside a partial download so that a later run
// resumes only the same file.
type partialMeta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Size         int64  `json:"size"` // -1 when unknown
}

// pullModel downloads o.Source into o.Dir and returns the file's path.
func pullModel(ctx context.Context, o pullOptions) (string, error) {
	u, name, err := resolveSource(o.Source, o.Revision)
	if err != nil {
		return "", err
	}
	if o.Name != "" {
		name = o.Name
	}
	if name == "" || name == "." || name == ".." || name == "/" || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("cannot name a file %q from %s; use --name", name, o.Source)
	}
	want := strings.ToLower(strings.TrimSpace(o.SHA256))
	if want != "" {
		if b, err := hex.DecodeString(want); err != nil || len(b) != sha256.Size {
			return "", fmt.Errorf("--sha256 %q: want 64 hex digits", o.SHA256)
		}
	}
	if o.Dir == "" {
		o.Dir = "."
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: time.Minute}}
	}
	final := filepath.Join(o.Dir, name)
	if _, err := os.Stat(final); err == nil {
		if want == "" {
			fmt.Fprintf(o.Progress, "%s is already present (no --sha256 to check it against)\n", final)
			return final, nil
		}
		got, err := fileSHA256(final)
		if err != nil {
			return "", err
		}
		if got != want {
			return "", fmt.Errorf("%s is already present with sha256 %s, not %s; remove it or choose another --dir", final, got, want)
		}
		fmt.Fprintf(o.Progress, "%s is already present and its sha256 matches\n", final)
		return final, nil
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return "", err
	}
	d := &download{o: o, url: u, partial: final + ".partial", metaPath: final + ".partial.json", name: name}
	d.token = hfToken(u)
	var lastErr error
	for attempt := 0; attempt <= max(0, o.Retries); attempt++ {
		if attempt > 0 {
			fmt.Fprintf(o.Progress, "\ntransfer broke (%v); resuming (attempt %d of %d)\n", lastErr, attempt, o.Retries)
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		done, err := d.fetch(ctx)
		if err == nil && done {
			break
		}
		var perm *permanentError
		if errors.As(err, &perm) || ctx.Err() != nil {
			return "", err
		}
		lastErr = err
		if attempt == max(0, o.Retries) {
			return "", fmt.Errorf("download %s: %w (the partial file %s is kept; run again to resume)", u.Redacted(), lastErr, d.partial)
		}
	}
	return d.finish(final, want)
}

// permanentError is a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(format string, args ...any) error {
	return &permanentError{fmt.Errorf(format, args...)}
}

// hfToken is $HF_TOKEN when u is on the Hugging Face endpoint.
func hfToken(u *url.URL) string {
	tok := os.Getenv("HF_TOKEN")
	if tok == "" {
		return ""
	}
	hf, err := url.Parse(hfEndpoint())
	if err != nil || hf.Host != u.Host || hf.Scheme != u.Scheme {
		return ""
	}
	return tok
}

type download struct {
	o        pullOptions
	url      *url.URL
	token    string
	name     string
	partial  string
	metaPath string
}

func (d *download) readMeta() (partialMeta, bool) {
	data, err := os.ReadFile(d.metaPath)
	if err != nil {
		return partialMeta{}, false
	}
	var m partialMeta
	if json.Unmarshal(data, &m) != nil || m.URL != d.url.String() {
		return partialMeta{}, false
	}
	return m, true
}

func (d *download) writeMeta(m partialMeta) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(d.metaPath, data, 0o644)
}

// fetch transfers what is missing of the partial file; it reports whether
// the file is complete.
func (d *download) fetch(ctx context.Context) (bool, error) {
	var offset int64
	meta, haveMeta := d.readMeta()
	if st, err := os.Stat(d.partial); err == nil && haveMeta {
		offset = st.Size()
	} else {
		_ = os.Remove(d.partial) // a leftover of another source, or without its validator
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url.String(), nil)
	if err != nil {
		return false, permanent("%v", err)
	}
	req.Header.Set("User-Agent", "tessera-model-pull")
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		if meta.ETag != "" {
			req.Header.Set("If-Range", meta.ETag)
		} else if meta.LastModified != "" {
			req.Header.Set("If-Range", meta.LastModified)
		}
	}
	resp, err := d.o.Client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	total := int64(-1)
	flags := os.O_WRONLY | os.O_CREATE
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, _, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			return false, permanent("server answered range %q to a request from byte %d", resp.Header.Get("Content-Range"), offset)
		}
		total = size
		flags |= os.O_APPEND
		fmt.Fprintf(d.o.Progress, "resuming %s at %s\n", d.name, humanBytes(uint64(offset)))
	case http.StatusOK:
		if offset > 0 {
			fmt.Fprintf(d.o.Progress, "the server sent %s from the start (file changed or no range support)\n", d.name)
		}
		offset = 0
		total = resp.ContentLength
		flags |= os.O_TRUNC
	case http.StatusRequestedRangeNotSatisfiable:
		if _, _, size, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && size == offset {
			return true, nil // the partial file is already whole
		}
		_ = os.Remove(d.partial)
		_ = os.Remove(d.metaPath)
		return false, fmt.Errorf("server refused to resume at byte %d; starting again", offset)
	case http.StatusUnauthorized, http.StatusForbidden:
		hint := ""
		if strings.HasPrefix(d.o.Source, "hf:") {
			hint = " (gated or private repository? set HF_TOKEN to a Hugging Face access token)"
		}
		return false, permanent("download %s: %s%s", d.url.Redacted(), resp.Status, hint)
	case http.StatusNotFound:
		return false, permanent("download %s: %s (check the owner, repository, file name and --revision)", d.url.Redacted(), resp.Status)
	default:
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return false, fmt.Errorf("download %s: %s", d.url.Redacted(), resp.Status)
		}
		return false, permanent("download %s: %s", d.url.Redacted(), resp.Status)
	}
	newMeta := partialMeta{URL: d.url.String(), ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"), Size: total}
	if resp.StatusCode == http.StatusPartialContent {
		// Keep the validator of the bytes already on disk.
		newMeta.ETag, newMeta.LastModified = cmpOr(newMeta.ETag, meta.ETag), cmpOr(newMeta.LastModified, meta.LastModified)
	}
	if err := d.writeMeta(newMeta); err != nil {
		return false, permanent("%v", err)
	}
	f, err := os.OpenFile(d.partial, flags, 0o644)
	if err != nil {
		return false, permanent("%v", err)
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(d.o.Progress),
		progressbar.OptionSetDescription("pull "+d.name),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(d.o.Progress) }),
	)
	_ = bar.Set64(offset)
	n, copyErr := io.Copy(io.MultiWriter(f, bar), resp.Body)
	syncErr := f.Sync()
	closeErr := f.Close()
	if copyErr != nil {
		return false, copyErr
	}
	if err := errors.Join(syncErr, closeErr); err != nil {
		return false, permanent("writing %s: %v", d.partial, err)
	}
	if total >= 0 && offset+n != total {
		return false, fmt.Errorf("transfer ended at byte %d of %d", offset+n, total)
	}
	_ = bar.Finish()
	return true, nil
}

// finish checks the complete partial file and renames it into place.
func (d *download) finish(final, want string) (string, error) {
	got, err := fileSHA256(d.partial)
	if err != nil {
		return "", err
	}
	discard := func() {
		_ = os.Remove(d.partial)
		_ = os.Remove(d.metaPath)
	}
	if want != "" && got != want {
		discard()
		return "", fmt.Errorf("sha256 of the download is %s, not %s: the file is corrupt or not the one expected (the download was removed)", got, want)
	}
	if err := checkGGUFMagic(d.partial); err != nil {
		discard()
		return "", err
	}
	if err := os.Rename(d.partial, final); err != nil {
		return "", err
	}
	_ = os.Remove(d.metaPath)
	if dir, err := os.Open(filepath.Dir(final)); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	st, _ := os.Stat(final)
	size := uint64(0)
	if st != nil {
		size = uint64(st.Size())
	}
	fmt.Fprintf(d.o.Progress, "saved %s (%s, sha256 %s)\n", final, humanBytes(size), got)
	return final, nil
}

func checkGGUFMagic(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "GGUF" {
		return fmt.Errorf("the download is not a GGUF file (it starts with %q); was the URL a web page? (the download was removed)", magic[:])
	}
	return nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// parseContentRange parses "bytes START-END/SIZE" and "bytes */SIZE"
// (SIZE may be "*": -1).
func parseContentRange(s string) (start, end, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	size = -1
	if total != "*" {
		n, err := strconv.ParseInt(total, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, 0, false
		}
		size = n
	}
	if rng == "*" {
		return -1, -1, size, true
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || end < start || (size >= 0 && end >= size) {
		return 0, 0, 0, false
	}
	return start, end, size, true
}
