package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

// runCLI runs the tessera command line and returns its stdout and stderr.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// startDishonestNode serves layers r of the embedded model over libp2p,
// computing each call with forward (which may cheat): the malicious
// behaviour lives here, in test code, not in the shipped node.
func startDishonestNode(t *testing.T, ctx context.Context, r model.Range, forward func(m *model.Model) swarm.ForwardFunc) string {
	t.Helper()
	f, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	c, err := commit.Of(f)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(f, model.Options{Layers: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	h, err := p2p.New(ctx, p2p.Config{Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	key, err := hostSigningKey(h)
	if err != nil {
		t.Fatal(err)
	}
	srv := &swarm.Server{Model: m, ModelCommit: c.Model, Key: key, Forward: forward(m)}
	h.Handle(wire.ProtocolID, func(s network.Stream) { _ = srv.ServeStream(ctx, s) })
	h.Handle(swarm.InfoProtocolID, func(s network.Stream) { _ = srv.ServeInfo(s) })
	return h.Addrs()[0]
}

// downScaled computes honestly, then scales layer 5's Down by 1.01 at every
// position and makes the output and trace consistent with it.
func downScaled(m *model.Model) swarm.ForwardFunc {
	return func(s *model.Session, start int, hidden []float32, n int, tr *model.Trace) error {
		if err := m.ForwardTrace(s, start, hidden, n, tr); err != nil || tr == nil {
			return err
		}
		dim := m.Config.Dim
		for p := start; p < start+n; p++ {
			c, _ := tr.Cell(5, p)
			for i := range c.Down {
				c.Down[i] *= 1.01
				hidden[(p-start)*dim+i] = (c.H[i] + c.O[i]) + c.Down[i]
			}
		}
		return nil
	}
}

// TestValidatorEndToEnd: real nodes, a validator and a client on
// 127.0.0.1. An honest generation gets passing verdicts that the
// certificate carries and `tessera verify certificate` checks; a node
// that corrupts its output is caught by re-execution, distrusted, and its
// evidence is written and proven by `tessera verify evidence`.
func TestValidatorEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	val, err := startValidator(ctx, validatorOptions{Listen: loopback, DataDir: filepath.Join(dir, "validator"), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer val.Close()
	vaddr := val.host.Addrs()[0]
	var peers []string
	for i, r := range []string{"0:3", "3:6"} {
		n, err := startNode(ctx, nodeOptions{Layers: r, Listen: loopback, DataDir: filepath.Join(dir, fmt.Sprint("node", i)), Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		peers = append(peers, n.host.Addrs()[0])
	}
	gen := func(peers []string, cert string) (string, error) {
		_, log, err := runCLI(t, "generate", "--prompt", "And God said", "-n", "6", "--threads", "1",
			"--peers", strings.Join(peers, ","), "--validator", vaddr, "--reexec-rate", "1", "--certificate", cert)
		return log, err
	}

	// Honest nodes: both sessions re-executed, both match.
	cert := filepath.Join(dir, "honest.cert")
	log, err := gen(peers, cert)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if got := strings.Count(log, "re-executed by validator"); got != 2 || strings.Contains(log, "DIFFERENCE") {
		t.Fatalf("want two matching verdicts:\n%s", log)
	}
	out, _, err := runCLI(t, "verify", "certificate", cert)
	if err != nil || !strings.Contains(out, "every node re-executed by a validator") || strings.Count(out, "re-executed by validator") != 2 {
		t.Fatalf("verify certificate: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "verify", "certificate", cert, "--trust-validator", val.host.ID()); err != nil {
		t.Fatalf("trusted validator: %v", err)
	}
	other := fmt.Sprintf("%x", make([]byte, 32))
	if _, _, err := runCLI(t, "verify", "certificate", cert, "--trust-validator", other); err == nil || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("untrusted validator: %v", err)
	}
	// Rate 0: nothing re-executed, and the certificate says so.
	_, log, err = runCLI(t, "generate", "--prompt", "And God said", "-n", "2", "--threads", "1",
		"--peers", strings.Join(peers, ","), "--validator", vaddr, "--reexec-rate", "0")
	if err != nil || strings.Count(log, "not sampled") != 2 {
		t.Fatalf("rate 0: %v\n%s", err, log)
	}

	// A node that corrupts layer 5: caught by the validator.
	bad := startDishonestNode(t, ctx, model.Range{First: 3, Last: 6}, downScaled)
	cert = filepath.Join(dir, "dishonest.cert")
	log, err = gen([]string{peers[0], bad}, cert)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if strings.Count(log, "DIFFERENCE") != 1 || !strings.Contains(log, "FAILED") {
		t.Fatalf("the dishonest node was not caught:\n%s", log)
	}
	m := regexp.MustCompile(`evidence written to (\S+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no evidence path:\n%s", log)
	}
	out, _, err = runCLI(t, "verify", "evidence", m[1], "--threads", "1")
	if err != nil || !strings.Contains(out, "PROVEN") {
		t.Fatalf("verify evidence: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "verify", "certificate", cert)
	if err == nil || !strings.Contains(out, "FAILED") || !strings.Contains(out, "differs") {
		t.Fatalf("the dishonest certificate: %v\n%s", err, out)
	}
	// The validator kept the evidence too.
	kept, _ := filepath.Glob(filepath.Join(dir, "validator", "evidence", "*.evidence"))
	if len(kept) != 1 || val.stats.differed.Load() != 1 || val.stats.matched.Load() != 3 {
		t.Fatalf("validator kept %v; stats %d matched %d differed", kept, val.stats.matched.Load(), val.stats.differed.Load())
	}
}

// TestValidatorRefusals: jobs the validator cannot or will not run get
// clear errors with the right codes, and a busy validator says so.
func TestValidatorRefusals(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	val, err := startValidator(ctx, validatorOptions{Listen: loopback, Threads: 1, MaxJobBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer val.Close()
	f, _ := models.Default()
	c, _ := commit.Of(f)
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	receipt := func(mc proof.Hash, first, last int, step uint64, prev proof.Hash) *proof.Receipt {
		r := &proof.Receipt{DType: proof.DTypeF32, Session: sha256.Sum256([]byte("s")), Step: step, Start: int(step), N: 1,
			Model: mc, First: first, Last: last, Prev: prev}
		r.Sign(key)
		return r
	}
	job := func(rs ...*proof.Receipt) []byte {
		j := &proof.ReexecJob{}
		for _, r := range rs {
			j.Steps = append(j.Steps, proof.ReexecStep{Receipt: r, Input: make([]float32, 256)})
		}
		return j.Marshal()
	}
	r0 := receipt(c.Model, 0, 3, 0, proof.Hash{})
	cases := []struct {
		name string
		msg  wire.Message
		code wire.Code
	}{
		{"not a job", &wire.ValidateJob{Job: []byte("nonsense")}, wire.CodeBadRequest},
		{"unknown model", &wire.ValidateJob{Job: job(receipt(sha256.Sum256([]byte("x")), 0, 3, 0, proof.Hash{}))}, wire.CodeModelMismatch},
		{"layers not held", &wire.ValidateJob{Job: job(receipt(c.Model, 4, 7, 0, proof.Hash{}))}, wire.CodeRangeMismatch},
		{"broken chain", &wire.ValidateJob{Job: job(r0, receipt(c.Model, 0, 3, 1, proof.Hash{}))}, wire.CodeBadRequest},
		{"input not the signed one", &wire.ValidateJob{Job: job(r0)}, wire.CodeBadRequest},
		{"too large", &wire.ValidateJob{Job: make([]byte, 1<<17)}, wire.CodeMessageTooLarge},
		{"wrong message", &wire.ValidateVerdict{Verdict: []byte{1}}, wire.CodeBadRequest},
	}
	h, err := p2p.New(ctx, p2p.Config{Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	id, err := h.Connect(ctx, val.host.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	ask := func(m wire.Message) (wire.Message, error) {
		s, err := h.OpenStream(ctx, id, wire.ValidateProtocolID)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(time.Minute))
		if err := wire.WriteMessage(s, m); err != nil {
			return nil, err
		}
		return wire.ReadValidateMessage(s, 1<<20)
	}
	for _, tc := range cases {
		got, err := ask(tc.msg)
		var we *wire.Error
		if err != nil || !errors.As(errorOf(got), &we) || we.Code != tc.code {
			t.Errorf("%s: %v %v, want code %v", tc.name, got, err, tc.code)
		}
	}
	// Busy: every slot taken.
	val.slots <- struct{}{}
	got, err := ask(&wire.ValidateJob{Job: job(r0)})
	<-val.slots
	var we *wire.Error
	if err != nil || !errors.As(errorOf(got), &we) || we.Code != wire.CodeBusy {
		t.Errorf("busy: %v %v", got, err)
	}
}

func errorOf(m wire.Message) error {
	if e, ok := m.(*wire.Error); ok {
		return e
	}
	return nil
}

func TestValidatorNeedsItsModels(t *testing.T) {
	_, err := startValidator(context.Background(), validatorOptions{Models: []string{filepath.Join(t.TempDir(), "missing.gguf")}, Listen: loopback})
	if err == nil || !strings.Contains(err.Error(), "missing.gguf") {
		t.Fatalf("missing model: %v", err)
	}
}
