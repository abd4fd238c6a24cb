package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/models"
)

// Loading with a progress writer shows the slice command's bar and gives
// the same commitments as without; only a terminal gets a bar by default.
func TestLoadProgress(t *testing.T) {
	f, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := commit.Of(f)
	if err != nil {
		t.Fatal(err)
	}
	var bar bytes.Buffer
	got, err := modelCommitments(f, "", &bar)
	if err != nil || got.Model != want.Model || got.Client != want.Client {
		t.Fatalf("commitments %v, want %v (%v)", got.Model, want.Model, err)
	}
	if !strings.Contains(bar.String(), "loading "+models.DefaultName) {
		t.Errorf("progress output %q", bar.String())
	}
	if terminal(&bar) != nil {
		t.Error("a buffer counts as a terminal")
	}
	tmp, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	if terminal(tmp) != nil {
		t.Error("a regular file counts as a terminal")
	}
}
