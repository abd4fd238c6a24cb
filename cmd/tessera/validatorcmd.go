package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/spf13/cobra"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/p2p"
	"github.com/tessera-net/tessera/proof"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/wire"
)

// Validator defaults.
const (
	defaultMaxJobBytes = 64 << 20
	defaultJobTimeout  = 5 * time.Minute
	// maxJobTrace bounds the trace one step of a job records while it is
	// re-executed (positions × layers × a cell's vectors).
	maxJobTrace = 1 << 30
	// maxLoadedRanges bounds the layer ranges a validator keeps loaded.
	maxLoadedRanges = 16
)

// validatorJobRate is the jobs one peer may send a validator: a job costs
// a re-execution of its steps.
var validatorJobRate = swarm.Rate{Limit: 0.2, Burst: 12}

// validatorOptions configure `tessera validator`.
type validatorOptions struct {
	Models      []string // model files or slices ("" = the embedded model)
	Listen      []string
	DataDir     string // identity and the evidence it found
	Threads     int
	MaxJobs     int           // jobs re-executed at once; more are answered CodeBusy
	PeerJobs    int           // jobs of one peer at once (0: 1); its jobs are also rate-limited (validatorJobRate)
	MaxJobBytes int           // largest job accepted
	JobTimeout  time.Duration // bound on receiving, re-executing and answering one job
	Logger      *slog.Logger
}

// validatorModel is one model file a validator holds.
type validatorModel struct {
	name   string
	file   *gguf.File
	commit commit.Commitments
	layers model.Range // the layers the file holds
}

// validatorStats are a validator's counters.
type validatorStats struct {
	jobs, matched, differed, refused atomic.Uint64
}

// runningValidator re-executes jobs on its models until Close.
type runningValidator struct {
	host     *p2p.Host
	key      ed25519.PrivateKey
	models   []*validatorModel
	pool     *kernels.Pool
	o        validatorOptions
	slots    chan struct{}
	peers    *swarm.PeerLimiter // per-peer jobs at once and job rate
	platform string
	log      *slog.Logger
	stats    validatorStats

	mu     sync.Mutex
	loaded map[loadedKey]*model.Model
}

type loadedKey struct {
	file int
	r    model.Range
}

func defaultValidatorDir() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "tessera", "validator")
	}
	return ".tessera-validator"
}

// startValidator opens the models (checking their commitments), starts the
// libp2p host and serves the validate protocol.
func startValidator(ctx context.Context, o validatorOptions) (*runningValidator, error) {
	if len(o.Models) == 0 {
		o.Models = []string{""}
	}
	o.MaxJobs = max(o.MaxJobs, 1)
	if o.MaxJobBytes <= 0 {
		o.MaxJobBytes = defaultMaxJobBytes
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = defaultJobTimeout
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &runningValidator{o: o, log: log, slots: make(chan struct{}, o.MaxJobs), loaded: map[loadedKey]*model.Model{},
		platform: runtime.GOARCH + "/" + kernels.Level(),
		peers:    swarm.NewPeerLimiter(swarm.PeerLimits{Sessions: max(o.PeerJobs, 1), Opens: validatorJobRate, Noun: "jobs"})}
	fail := func(err error) (*runningValidator, error) {
		v.Close()
		return nil, err
	}
	for _, path := range o.Models {
		f, name, err := openModelFile(path)
		if err != nil {
			return fail(err)
		}
		vm := &validatorModel{name: name, file: f}
		v.models = append(v.models, vm)
		cfg, err := model.ConfigFromGGUF(f)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", name, err))
		}
		if vm.layers, err = servedRange(f, cfg, ""); err != nil {
			return fail(fmt.Errorf("%s: %w", name, err))
		}
		if vm.commit, err = commit.Of(f); err != nil {
			return fail(fmt.Errorf("%s: model commitment: %w", name, err))
		}
	}
	v.pool = kernels.NewPool(o.Threads)
	h, err := p2p.New(ctx, p2p.Config{DataDir: o.DataDir, Listen: o.Listen})
	if err != nil {
		return fail(err)
	}
	v.host = h
	if v.key, err = hostSigningKey(h); err != nil {
		return fail(err)
	}
	h.Handle(wire.ValidateProtocolID, func(s network.Stream) { v.serve(ctx, s) })
	return v, nil
}

// Close stops serving and releases the models.
func (v *runningValidator) Close() {
	if v.host != nil {
		v.host.Close()
	}
	v.mu.Lock()
	for k, m := range v.loaded {
		m.Close()
		delete(v.loaded, k)
	}
	v.mu.Unlock()
	if v.pool != nil {
		v.pool.Close()
	}
	for _, m := range v.models {
		m.file.Close()
	}
}

// jobError is a refusal: its code and message go to the client.
type jobError struct {
	code wire.Code
	msg  string
}

func (e *jobError) Error() string { return e.msg }

func refuse(code wire.Code, format string, args ...any) error {
	return &jobError{code: code, msg: fmt.Sprintf(format, args...)}
}

// serve answers one job on s.
func (v *runningValidator) serve(ctx context.Context, s network.Stream) {
	defer s.Close()
	peer := s.Conn().RemotePeer().String()
	deadline := time.Now().Add(v.o.JobTimeout)
	_ = s.SetDeadline(deadline)
	answer := func(m wire.Message) {
		if err := wire.WriteMessage(s, m); err != nil {
			v.log.Warn("answering a job", "client", peer, "err", err)
		}
	}
	// Per-peer limits first, so that one client cannot keep the slots.
	release, lerr := v.peers.Open(peer, time.Now())
	if lerr != nil {
		v.stats.refused.Add(1)
		answer(lerr.Wire())
		return
	}
	select {
	case v.slots <- struct{}{}:
	default:
		release()
		v.stats.refused.Add(1)
		answer(wire.NewError(wire.CodeBusy, fmt.Sprintf("the validator runs %d jobs already; retry later", v.o.MaxJobs)))
		return
	}
	jctx, cancel := context.WithDeadline(ctx, deadline)
	resp, err := v.handle(jctx, bufio.NewReader(s))
	cancel()
	// The job is over before its answer goes out: a client that sends its
	// next job as soon as it reads this answer must not find this one
	// still holding its per-peer slot or a validator slot.
	<-v.slots
	release()
	if err != nil {
		v.stats.refused.Add(1)
		var je *jobError
		if !errors.As(err, &je) {
			je = &jobError{code: wire.CodeInternal, msg: err.Error()}
		}
		v.log.Info("job refused", "client", peer, "code", je.code.String(), "reason", je.msg)
		answer(wire.NewError(je.code, truncateUTF8(je.msg, wire.MaxErrorMessage)))
		return
	}
	answer(resp)
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// handle reads a job from r, re-executes it and returns the signed
// verdict.
func (v *runningValidator) handle(ctx context.Context, r io.Reader) (*wire.ValidateVerdict, error) {
	msg, err := wire.ReadValidateMessage(r, v.o.MaxJobBytes)
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		return nil, refuse(wire.CodeMessageTooLarge, "%v (this validator accepts jobs of %d bytes)", err, v.o.MaxJobBytes)
	case err != nil:
		return nil, refuse(wire.CodeBadRequest, "reading the job: %v", err)
	}
	m, ok := msg.(*wire.ValidateJob)
	if !ok {
		return nil, refuse(wire.CodeBadRequest, "expected a job")
	}
	job, err := proof.UnmarshalReexecJob(m.Job)
	if err != nil {
		return nil, refuse(wire.CodeBadRequest, "%v", err)
	}
	first := job.Steps[0].Receipt
	lm, err := v.layers(first.Model, model.Range{First: first.First, Last: first.Last})
	if err != nil {
		return nil, err
	}
	if err := jobFits(lm.Config, job); err != nil {
		return nil, err
	}
	start := time.Now()
	res, ev, err := proof.ReexecuteContext(ctx, lm, job.Steps)
	if err != nil {
		if ctx.Err() != nil {
			return nil, refuse(wire.CodeBusy, "the job did not finish within %s: %v", v.o.JobTimeout, err)
		}
		return nil, refuse(wire.CodeBadRequest, "%v", err)
	}
	var evb []byte
	if ev != nil {
		evb = ev.Marshal()
	}
	vd := proof.NewVerdict(job, res, evb)
	vd.Platform = v.platform
	vd.Sign(v.key)
	v.stats.jobs.Add(1)
	attrs := []any{"node", fmt.Sprintf("%x", []byte(first.Key)[:8]), "layers", lm.Range.String(), "steps", res.Steps,
		"seconds", fmt.Sprintf("%.3f", time.Since(start).Seconds())}
	if vd.Matched() {
		v.stats.matched.Add(1)
		v.log.Info("job re-executed: match", attrs...)
	} else {
		v.stats.differed.Add(1)
		path := v.keepEvidence(evb)
		v.log.Warn("job re-executed: DIFFERENCE", append(attrs, "verdict", vd.Describe(), "evidence", path)...)
	}
	return &wire.ValidateVerdict{Verdict: vd.Marshal(), Evidence: evb}, nil
}

// jobFits refuses jobs whose re-execution would need more memory than a
// validator should give one job: a session longer than the model's
// context, or a step whose trace exceeds maxJobTrace.
func jobFits(c model.Config, job *proof.ReexecJob) error {
	cell := 0
	for k := 0; k < proof.NumVecs; k++ {
		cell += proof.VecLen(c, k)
	}
	for i, s := range job.Steps {
		r := s.Receipt
		if r.Start+r.N > c.ContextLen {
			return refuse(wire.CodeTooLong, "step %d reaches position %d, beyond the model's context of %d", i, r.Start+r.N, c.ContextLen)
		}
		if int64(r.N)*int64(r.Layers())*int64(cell)*4 > maxJobTrace {
			return refuse(wire.CodeBadRequest, "step %d (%d positions) is too large to re-execute here", i, r.N)
		}
	}
	return nil
}

// layers returns the layers r of the model with commitment mc, loaded from
// the first file that holds them.
func (v *runningValidator) layers(mc proof.Hash, r model.Range) (*model.Model, error) {
	known := false
	for i, vm := range v.models {
		if vm.commit.Model != mc {
			continue
		}
		known = true
		if r.First < vm.layers.First || r.Last > vm.layers.Last {
			continue
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		k := loadedKey{file: i, r: r}
		if m, ok := v.loaded[k]; ok {
			return m, nil
		}
		m, err := model.Load(vm.file, model.Options{Layers: r, Pool: v.pool})
		if err != nil {
			return nil, fmt.Errorf("loading layers %s of %s: %w", r, vm.name, err)
		}
		if len(v.loaded) >= maxLoadedRanges {
			for k, old := range v.loaded {
				old.Close()
				delete(v.loaded, k)
			}
		}
		v.loaded[k] = m
		return m, nil
	}
	if !known {
		return nil, refuse(wire.CodeModelMismatch, "this validator holds no weights of model %s", commit.Short(mc))
	}
	return nil, refuse(wire.CodeRangeMismatch, "this validator holds layers %s of model %s, not all of %s", v.describeLayers(mc), commit.Short(mc), r)
}

func (v *runningValidator) describeLayers(mc proof.Hash) string {
	s := ""
	for _, vm := range v.models {
		if vm.commit.Model == mc {
			if s != "" {
				s += ", "
			}
			s += vm.layers.String()
		}
	}
	return s
}

// keepEvidence writes evidence into the data directory (named by its
// hash) and returns the path, or "" without a data directory.
func (v *runningValidator) keepEvidence(b []byte) string {
	if v.o.DataDir == "" {
		return ""
	}
	dir := filepath.Join(v.o.DataDir, "evidence")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		v.log.Warn("keeping evidence", "err", err)
		return ""
	}
	path := filepath.Join(dir, fmt.Sprintf("%x.evidence", sha256.Sum256(b)))
	if err := writeFileAtomic(path, b, 0o644); err != nil {
		v.log.Warn("keeping evidence", "err", err)
		return ""
	}
	return path
}

func newValidatorCmd() *cobra.Command {
	var (
		o    validatorOptions
		logs logOptions
	)
	cmd := &cobra.Command{
		Use:   "validator",
		Short: "Re-execute clients' sampled sessions and sign verdicts (spot re-execution)",
		Long: `Serve spot re-execution (level L2 of the verification design) over libp2p:
a client hands over one node's session — its signed receipts with the
hidden states it sent and received — and the validator re-runs those
layers on its own copy of the weights, compares every output and trace
root with what the node signed, and answers a verdict signed with its
key (the key of its peer id). A difference comes with fraud evidence that
` + "`tessera verify evidence`" + ` re-checks; the validator also keeps it in
--data-dir/evidence.

The validator needs the weights of the layers it is asked about: give
whole models or slices with --model (repeatable); any file whose layers
cover a job's range and whose model commitment matches serves it. Results
are compared bit for bit; across instruction sets they may differ in their
last bits (the verdict names the validator's platform).

Once ready it prints its peer id and then each full dialable address on
a line of its own, to pass to ` + "`tessera generate --validator`" + `.`,
		Example: `  tessera validator --model llama-3.2-1b-q4_k_m.gguf
  tessera validator --model kjv.layers-0-3.gguf --model kjv.layers-3-6.gguf --listen /ip4/127.0.0.1/tcp/4100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			o.Logger = logger
			v, err := startValidator(ctx, o)
			if err != nil {
				return err
			}
			defer v.Close()
			printValidatorBanner(cmd.OutOrStdout(), v)
			<-ctx.Done()
			fmt.Fprintf(cmd.ErrOrStderr(), "validator stopping: %d jobs (%d matched, %d differed), %d refused\n",
				v.stats.jobs.Load(), v.stats.matched.Load(), v.stats.differed.Load(), v.stats.refused.Load())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.Models, "model", "m", nil, "GGUF model or layer slice to re-execute with (repeatable; default: the embedded kjv-tiny model)")
	f.StringArrayVar(&o.Listen, "listen", p2p.DefaultListen, "multiaddr to listen on (repeatable)")
	f.StringVar(&o.DataDir, "data-dir", defaultValidatorDir(), "directory for the validator's identity key and the evidence it finds")
	f.IntVar(&o.Threads, "threads", 0, "compute threads (default: one per CPU)")
	f.IntVar(&o.MaxJobs, "max-jobs", 1, "jobs re-executed at once; more are refused as busy")
	f.IntVar(&o.PeerJobs, "max-jobs-per-peer", 1, "jobs of one client re-executed at once (each client may also send "+validatorJobRate.String()+" jobs)")
	f.IntVar(&o.MaxJobBytes, "max-job-bytes", defaultMaxJobBytes, "largest job accepted, in bytes")
	f.DurationVar(&o.JobTimeout, "job-timeout", defaultJobTimeout, "bound on receiving, re-executing and answering one job")
	addLogFlags(cmd, &logs)
	return cmd
}

// printValidatorBanner prints the validator's identity, what it holds, and
// each full address on a line of its own.
func printValidatorBanner(w io.Writer, v *runningValidator) {
	fmt.Fprintf(w, "tessera validator %s on %s\n", v.host.ID(), v.platform)
	for _, m := range v.models {
		fmt.Fprintf(w, "  re-executes layers %s of model %s (%s)\n", m.layers, commit.Short(m.commit.Model), m.name)
	}
	for _, a := range v.host.Addrs() {
		fmt.Fprintln(w, a)
	}
}
