package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/wire"
)

// Faults of the validator process mid-job: `tessera validator` killed
// (SIGKILL) or stopped (SIGSTOP: its connections stay open, nothing is
// answered) while it holds a client's job. The generation must not
// change, the client must give up within its --validator-timeout, the
// certificate must carry no verdict for the hop (and `tessera verify
// certificate` must not count it as re-executed), and a restarted or
// continued validator must serve the next generation.

const validatorChildEnv = "TESSERA_TEST_VALIDATOR_CHILD"

// TestValidatorChild is a validator process for the fault tests:
// $TESSERA_TEST_VALIDATOR_CHILD is "DATADIR LISTEN HOLD". It runs the
// validator as `tessera validator` does and prints the same banner. Its
// HOLD-th job (0: none) is made slow here, in test code: the whole job is
// read, "job received" is printed, and the job goes to the validator with
// its model cache locked, so that it stops inside the job (about to load
// the layers it re-executes) until "release" arrives on stdin; "job done"
// is printed when the validator is through with it. It exits when its
// stdin closes (the test is gone).
func TestValidatorChild(t *testing.T) {
	spec := os.Getenv(validatorChildEnv)
	if spec == "" {
		t.Skip("run by the validator fault tests")
	}
	var dir, listen string
	var hold int32
	if _, err := fmt.Sscan(spec, &dir, &listen, &hold); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	v, err := startValidator(ctx, validatorOptions{Listen: []string{listen}, DataDir: dir, Threads: 1,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	release := make(chan struct{})
	var jobs atomic.Int32
	v.host.Handle(wire.ValidateProtocolID, func(s network.Stream) {
		if jobs.Add(1) != hold {
			v.serve(ctx, s)
			return
		}
		br := bufio.NewReader(s)
		msg, err := wire.ReadValidateMessage(br, defaultMaxJobBytes)
		if err != nil {
			fmt.Println("error: reading the held job:", err)
			s.Reset()
			return
		}
		frame, err := wire.Marshal(msg)
		if err != nil {
			fmt.Println("error:", err)
			s.Reset()
			return
		}
		v.mu.Lock()
		go func() {
			<-release
			v.mu.Unlock()
		}()
		fmt.Println("job received")
		v.serve(ctx, &replayStream{Stream: s, r: io.MultiReader(bytes.NewReader(frame), br)})
		fmt.Println("job done")
	})
	printValidatorBanner(os.Stdout, v)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "release" {
			close(release)
		}
	}
	os.Exit(0)
}

// replayStream is a stream whose reads start with bytes already read from
// it.
type replayStream struct {
	network.Stream
	r io.Reader
}

func (s *replayStream) Read(p []byte) (int, error) { return s.r.Read(p) }

// childValidator is TestValidatorChild running as a child process.
type childValidator struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	addr   string      // full multiaddr
	events chan string // "job received", "job done"
	exited chan struct{}
}

// startChildValidator starts a validator process listening on listen with
// its identity in dir, holding its hold-th job (0: none), and waits for
// its address. It is killed when the test ends.
func startChildValidator(t *testing.T, dir, listen string, hold int) *childValidator {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestValidatorChild$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", validatorChildEnv, dir, listen, hold))
	stderr := &lockedWriter{w: &strings.Builder{}}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v := &childValidator{cmd: cmd, stdin: stdin, events: make(chan string, 8), exited: make(chan struct{})}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL) // stopped or not
		<-v.exited
		if t.Failed() {
			t.Logf("validator's log:\n%s", stderr.w)
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "/ip4/127.0.0.1/tcp/"):
				select {
				case ready <- line:
				default:
				}
			case strings.HasPrefix(line, "job "):
				v.events <- line
			case strings.HasPrefix(line, "error"):
				t.Logf("validator: %s", line)
			}
		}
		// Wait closes the pipe: only after everything in it was read.
		_ = cmd.Wait()
		close(v.exited)
	}()
	select {
	case v.addr = <-ready:
	case <-v.exited:
		t.Fatalf("the validator exited before printing its address:\n%s", stderr.w)
	case <-time.After(60 * time.Second):
		t.Fatalf("the validator printed no address within 60s:\n%s", stderr.w)
	}
	return v
}

// await waits for the validator's next event, which must be want.
func (v *childValidator) await(t *testing.T, want string, client <-chan clientOutcome) {
	t.Helper()
	select {
	case ev := <-v.events:
		if ev != want {
			t.Fatalf("validator: %q, want %q", ev, want)
		}
	case r := <-client:
		t.Fatalf("the generation ended (%v) before the validator said %q:\n%s", r.err, want, r.log)
	case <-v.exited:
		t.Fatalf("the validator exited before saying %q", want)
	case <-time.After(2 * time.Minute):
		t.Fatalf("the validator did not say %q within 2 minutes", want)
	}
}

// clientOutcome is the outcome of a `tessera generate`.
type clientOutcome struct {
	text, log string
	err       error
	end       time.Time
}

// validatorFault sets up two in-process nodes (layers 0:3 and 3:6) and
// returns them with the text they generate without a validator.
func validatorFault(t *testing.T, ctx context.Context) (peers []string, want string) {
	t.Helper()
	dir := t.TempDir()
	for i, r := range []string{"0:3", "3:6"} {
		n, err := startNode(ctx, nodeOptions{Layers: r, Listen: loopback, DataDir: filepath.Join(dir, fmt.Sprint("node", i)), Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		peers = append(peers, n.host.Addrs()[0])
	}
	want, log, err := runCLI(t, "generate", "--prompt", faultPrompt, "-n", fmt.Sprint(faultTokens), "--threads", "1",
		"--peers", strings.Join(peers, ","))
	if err != nil {
		t.Fatalf("without a validator: %v\n%s", err, log)
	}
	return peers, want
}

// generateWith runs `tessera generate` through peers with every node's
// session sent to the validator at vaddr, in the background.
func generateWith(t *testing.T, peers []string, vaddr, cert string, timeout time.Duration) <-chan clientOutcome {
	done := make(chan clientOutcome, 1)
	go func() {
		text, log, err := runCLI(t, "generate", "--prompt", faultPrompt, "-n", fmt.Sprint(faultTokens), "--threads", "1",
			"--peers", strings.Join(peers, ","), "--validator", vaddr, "--reexec-rate", "1",
			"--validator-timeout", timeout.String(), "--certificate", cert)
		done <- clientOutcome{text: text, log: log, err: err, end: time.Now()}
	}()
	return done
}

// finished waits for the generation, bounded.
func finished(t *testing.T, client <-chan clientOutcome, bound time.Duration) clientOutcome {
	t.Helper()
	select {
	case r := <-client:
		return r
	case <-time.After(bound):
		t.Fatalf("the generation did not finish within %v", bound)
		return clientOutcome{}
	}
}

// faultRanges are the nodes' layers, in the order the client sends their
// jobs to the validator.
var faultRanges = []string{"0:3", "3:6"}

// checkUnchecked checks a generation whose validator failed on the job of
// node from (an index in faultRanges): the same text; the nodes before it
// re-executed; it, for cause, and the ones after it reported as not
// re-executed; a certificate that carries verdicts only for the nodes
// before it, and that `tessera verify certificate` does not pass as
// re-executed.
func checkUnchecked(t *testing.T, r clientOutcome, want, cert string, from int, cause func(string) bool) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("generation: %v\n%s", r.err, r.log)
	}
	if r.text != want {
		t.Fatalf("with the failing validator:\n%q\nwithout a validator:\n%q", r.text, want)
	}
	for i, rg := range faultRanges {
		var line string
		for _, l := range strings.Split(r.log, "\n") {
			if strings.Contains(l, "layers "+rg) && strings.Contains(l, "re-executed") {
				line = l
			}
		}
		switch {
		case i < from && !strings.Contains(line, "re-executed by validator"):
			t.Errorf("node %s was not re-executed before the fault:\n%s", rg, r.log)
		case i >= from && !strings.Contains(line, "NOT re-executed"):
			t.Errorf("node %s is not reported as not re-executed:\n%s", rg, r.log)
		case i == from && !cause(line):
			t.Errorf("the client's report does not give the cause: %s", line)
		case i >= from:
			t.Logf("client: %s", strings.TrimSpace(line))
		}
	}
	b, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	c, err := proof.UnmarshalCertificate(b)
	if err != nil {
		t.Fatal(err)
	}
	// What the ledger settles on (besides the work): a missing verdict
	// must leave it as a generation without a validator would.
	if !c.Passed {
		t.Error("the certificate does not pass")
	}
	for _, h := range c.Hops {
		if h.Local {
			continue
		}
		i := slices.Index(faultRanges, fmt.Sprintf("%d:%d", h.First, h.Last))
		if got := h.Verdict != nil; got != (i < from) {
			t.Errorf("certificate: node %d:%d carries a verdict: %v, want %v", h.First, h.Last, got, i < from)
		}
	}
	out, _, err := runCLI(t, "verify", "certificate", cert)
	if !errors.Is(err, errUnaudited) || strings.Contains(out, "every node re-executed") ||
		strings.Count(out, "re-executed by validator") != from || strings.Count(out, "re-execution NONE") != len(faultRanges)-from {
		t.Fatalf("verify certificate: %v\n%s", err, out)
	}
	t.Logf("verify certificate: %s", out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
}

// checkServed checks a generation whose validator answered both jobs.
func checkServed(t *testing.T, r clientOutcome, want, cert string) {
	t.Helper()
	if r.err != nil || r.text != want || strings.Count(r.log, "re-executed by validator") != 2 || strings.Contains(r.log, "NOT re-executed") {
		t.Fatalf("generation: %v, text %q (want %q):\n%s", r.err, r.text, want, r.log)
	}
	out, _, err := runCLI(t, "verify", "certificate", cert)
	if err != nil || !strings.Contains(out, "every node re-executed by a validator") {
		t.Fatalf("verify certificate: %v\n%s", err, out)
	}
}

// listenOf is the listen address of a full multiaddr (its /p2p/ part cut).
func listenOf(addr string) string {
	listen, _, _ := strings.Cut(addr, "/p2p/")
	return listen
}

// TestValidatorFaultKilledMidJob: the validator process is killed
// (SIGKILL) holding the first node's job, or the second's. The client sees
// the connection die (no timeout needed) and reports that node, and any
// after it, as not re-executed; the text and the verdicts before the fault
// stand. Restarted on the same port with the same identity, the validator
// serves the next generation.
func TestValidatorFaultKilledMidJob(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	peers, want := validatorFault(t, ctx)
	for held := range faultRanges {
		t.Run("node "+faultRanges[held], func(t *testing.T) {
			dir := t.TempDir()
			v := startChildValidator(t, filepath.Join(dir, "validator"), "/ip4/127.0.0.1/tcp/0", held+1)
			cert := filepath.Join(dir, "killed.cert")
			// A timeout far beyond the test: the client must see the death.
			client := generateWith(t, peers, v.addr, cert, 10*time.Minute)
			v.await(t, "job received", client)
			if err := v.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed := time.Now()
			r := finished(t, client, 2*time.Minute)
			t.Logf("the generation finished %v after the SIGKILL", r.end.Sub(killed).Round(time.Millisecond))
			checkUnchecked(t, r, want, cert, held, func(line string) bool {
				return !strings.Contains(line, "--validator-timeout") &&
					(strings.Contains(line, "reset") || strings.Contains(line, "EOF") || strings.Contains(line, "closed"))
			})
			<-v.exited

			again := startChildValidator(t, filepath.Join(dir, "validator"), listenOf(v.addr), 0)
			if again.addr != v.addr {
				t.Fatalf("restarted at %s, was %s", again.addr, v.addr)
			}
			cert = filepath.Join(dir, "restarted.cert")
			checkServed(t, finished(t, generateWith(t, peers, again.addr, cert, 2*time.Minute), 3*time.Minute), want, cert)
		})
	}
}

// TestValidatorFaultStoppedMidJob: the validator process is stopped
// (SIGSTOP) holding the second node's job: its connection stays open and
// nothing is answered. The client gives up when its --validator-timeout
// passes, reports the node as not re-executed, and the text and the first
// node's verdict stand; continued (SIGCONT), the validator serves the next
// generation.
func TestValidatorFaultStoppedMidJob(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	peers, want := validatorFault(t, ctx)
	dir := t.TempDir()
	v := startChildValidator(t, filepath.Join(dir, "validator"), "/ip4/127.0.0.1/tcp/0", 2)
	cert := filepath.Join(dir, "stopped.cert")
	// Generous, so that the first job always fits on a loaded machine;
	// the stopped job cannot answer, whatever the timeout.
	const timeout = 10 * time.Second
	client := generateWith(t, peers, v.addr, cert, timeout)
	v.await(t, "job received", client)
	if err := v.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	r := finished(t, client, timeout+2*time.Minute)
	t.Logf("the generation finished %v after the SIGSTOP", r.end.Sub(stopped).Round(time.Millisecond))
	checkUnchecked(t, r, want, cert, 1, func(line string) bool {
		return strings.Contains(line, "no verdict within --validator-timeout "+timeout.String())
	})

	// Continued, with the held job let go: it fails to answer the client
	// that left, and the validator serves the next generation.
	if err := v.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(v.stdin, "release\n"); err != nil {
		t.Fatal(err)
	}
	v.await(t, "job done", nil)
	cert = filepath.Join(dir, "continued.cert")
	checkServed(t, finished(t, generateWith(t, peers, v.addr, cert, 2*time.Minute), 3*time.Minute), want, cert)
}
