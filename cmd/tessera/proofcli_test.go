package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/generate"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/tokenizer"
)

// runCmd executes cmd with args and returns its stdout.
func runCmd(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

// inProcessChain runs the embedded model through two in-process signing
// nodes (layers 0:3 and 3:6); tamper, if set, makes the second dishonest.
func inProcessChain(t *testing.T, v *swarm.Verification, tamper func(srv *swarm.Server)) (*swarm.Chain, *model.Model, *tokenizer.Tokenizer, commit.Commitments) {
	t.Helper()
	f, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	c, err := commit.Of(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := model.ConfigFromGGUF(f)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var hops []swarm.Hop
	for i, r := range []model.Range{{First: 0, Last: 3}, {First: 3, Last: 6}} {
		m, err := model.Load(f, model.Options{Layers: r})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		seed := sha256.Sum256([]byte{byte(i)})
		srv := &swarm.Server{Model: m, ModelCommit: c.Model, Key: ed25519.NewKeyFromSeed(seed[:])}
		if i == 1 && tamper != nil {
			tamper(srv)
		}
		h := swarm.RemoteHop("node"+r.String(), r, func(context.Context) (swarm.Stream, error) {
			a, b := net.Pipe()
			go srv.ServeStream(ctx, b)
			return a, nil
		})
		h.PubKey = srv.NodeKey()
		hops = append(hops, h)
	}
	chain, err := swarm.NewChain(swarm.ChainConfig{Model: cfg, ModelCommit: c.Model, Verify: v}, hops)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	client, err := model.Load(f, model.Options{Client: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return chain, client, tok, c
}

// TestVKGenAndVerifyCommands: tessera vk gen writes a key (0600, refusing
// to overwrite); a certificate of an audited generation verifies, a
// tampered one does not, an unaudited one says so; fraud evidence from a
// dishonest node is proven against the weights and an honest cell's is
// not.
func TestVKGenAndVerifyCommands(t *testing.T) {
	dir := t.TempDir()
	vkPath := filepath.Join(dir, "kjv.vk")
	out, err := runCmd(t, newVKCmd(), "gen", "--out", vkPath, "--threads", "2")
	if err != nil || !strings.Contains(out, "layers 0:6") {
		t.Fatalf("vk gen: %v\n%s", err, out)
	}
	if st, err := os.Stat(vkPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st.Mode(), err)
	}
	if _, err := runCmd(t, newVKCmd(), "gen", "--out", vkPath); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("overwrite: %v", err)
	}
	vk, err := readVK(vkPath)
	if err != nil {
		t.Fatal(err)
	}

	gen := func(v *swarm.Verification, tamper func(*swarm.Server)) (*swarm.Chain, generate.Result, commit.Commitments, error) {
		chain, client, tok, c := inProcessChain(t, v, tamper)
		res, err := generate.Client{Model: client, Tokenizer: tok}.Run(context.Background(), chain,
			generate.Request{Prompt: "In the beginning God created", MaxTokens: 10}, nil)
		return chain, res, c, err
	}
	auditor := ed25519.NewKeyFromSeed(make([]byte, 32))
	writeCert := func(name string, v *swarm.Verification, vks []*proof.VerificationKey) string {
		chain, res, c, err := gen(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		cert := certify(auditor, c.Model, "In the beginning God created", res, chain, vks)
		path := filepath.Join(dir, name)
		if err := writeFileAtomic(path, cert.Marshal(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	audited := writeCert("audited.cert", &swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: proof.AuditConfig{Cells: 1}}, []*proof.VerificationKey{vk})
	out, err = runCmd(t, newVerifyCmd(), "certificate", audited)
	if err != nil || !strings.Contains(out, "PASSED") {
		t.Fatalf("verify certificate: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(audited)
	b[len(b)-70] ^= 1
	bad := filepath.Join(dir, "bad.cert")
	_ = os.WriteFile(bad, b, 0o644)
	if out, err := runCmd(t, newVerifyCmd(), "certificate", bad); err == nil {
		t.Fatalf("a tampered certificate verified:\n%s", out)
	}
	unaudited := writeCert("unaudited.cert", &swarm.Verification{}, nil)
	if out, err := runCmd(t, newVerifyCmd(), "certificate", unaudited); err == nil || !strings.Contains(out, "NONE") {
		t.Fatalf("unaudited certificate: %v\n%s", err, out)
	}
	if out, err := runCmd(t, newVerifyCmd(), "certificate", "--allow-unaudited", unaudited); err != nil || !strings.Contains(out, "NOT AUDITED") {
		t.Fatalf("unaudited certificate allowed: %v\n%s", err, out)
	}

	// A node whose layer 5 Down is off by 1% at every position.
	chain, _, _, err := gen(&swarm.Verification{Keys: []*proof.VerificationKey{vk}, Audit: proof.AuditConfig{Cells: 100}}, func(srv *swarm.Server) {
		srv.Forward = downScaled(srv.Model)
	})
	if err == nil {
		t.Fatal("the dishonest node was not caught")
	}
	var log bytes.Buffer
	files := reportProofs(&log, chain, filepath.Join(dir, "run"))
	if len(files) != 1 {
		t.Fatalf("evidence files %v\n%s", files, log.String())
	}
	out, err = runCmd(t, newVerifyCmd(), "evidence", files[0], "--threads", "1")
	if err != nil || !strings.Contains(out, "PROVEN") || !strings.Contains(out, "down") {
		t.Fatalf("verify evidence: %v\n%s", err, out)
	}
	// The same evidence claiming another equation proves nothing.
	ev, _ := os.ReadFile(files[0])
	e, err := proof.UnmarshalEvidence(ev)
	if err != nil {
		t.Fatal(err)
	}
	e.Finding.Equation = proof.EqGate
	_ = os.WriteFile(files[0], e.Marshal(), 0o644)
	if out, err := runCmd(t, newVerifyCmd(), "evidence", files[0]); err == nil || !strings.Contains(out, "NOT PROVEN") {
		t.Fatalf("wrong equation: %v\n%s", err, out)
	}
}
