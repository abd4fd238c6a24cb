package swarm_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/gguf"
	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/swarm"
	"github.com/tessera-net/tessera/tokenizer"
)

const modelPath = "../models/kjv-tiny-q8_0.gguf"

var (
	testFile    *gguf.File
	testPool    *kernels.Pool
	testCommit  [32]byte // the model commitment
	testCommits commit.Commitments
	testTok     *tokenizer.Tokenizer
	testConfig  model.Config

	modelsMu sync.Mutex
	models   = map[model.Range]*model.Model{}
	client   *model.Model // embedding, head and all layers
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	data, err := os.ReadFile(modelPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = sha256.Sum256(data)
	if testFile, err = gguf.Open(modelPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testFile.Close()
	if testCommits, err = commit.Of(testFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testCommit = testCommits.Model
	if testTok, err = tokenizer.FromGGUF(testFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if testConfig, err = model.ConfigFromGGUF(testFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testPool = kernels.NewPool(0)
	defer testPool.Close()
	client, err = model.Load(testFile, model.Options{Layers: model.Range{First: 0, Last: testConfig.Layers}, Client: true, Pool: testPool})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// layers returns the model holding layers r (loaded once).
func layers(t testing.TB, first, last int) *model.Model {
	t.Helper()
	r := model.Range{First: first, Last: last}
	modelsMu.Lock()
	defer modelsMu.Unlock()
	if m, ok := models[r]; ok {
		return m
	}
	m, err := model.Load(testFile, model.Options{Layers: r, Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	models[r] = m
	return m
}

// node is a Server under test with its own serving goroutines.
type node struct {
	srv    *swarm.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	errs []error // what ServeStream returned, in order of return
	addr string  // TCP address when listening
}

func newNode(t testing.TB, srv *swarm.Server) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{srv: srv, ctx: ctx, cancel: cancel}
	t.Cleanup(func() {
		n.cancel()
		n.wg.Wait()
	})
	return n
}

func (n *node) serve(st swarm.Stream) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		err := n.srv.ServeStream(n.ctx, st)
		n.mu.Lock()
		n.errs = append(n.errs, err)
		n.mu.Unlock()
	}()
}

// listen serves the node on a TCP listener on 127.0.0.1.
func (n *node) listen(t testing.TB) *node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = l.Addr().String()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.serve(c.(*net.TCPConn))
		}
	}()
	go func() {
		<-n.ctx.Done()
		l.Close()
	}()
	return n
}

// tcpOpener dials the node.
func (n *node) tcpOpener() swarm.Opener {
	return func(ctx context.Context) (swarm.Stream, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", n.addr)
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
}

// pipeOpener connects to the node through net.Pipe.
func (n *node) pipeOpener() swarm.Opener {
	return func(ctx context.Context) (swarm.Stream, error) {
		if n.ctx.Err() != nil {
			return nil, errors.New("node stopped")
		}
		a, b := net.Pipe()
		n.serve(b)
		return a, nil
	}
}

// quiesce waits until every stream the node was handed has ended.
func (n *node) quiesce() {
	n.cancel()
	n.wg.Wait()
}

func (n *node) results() []error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]error(nil), n.errs...)
}

// server returns a Server of layers [first, last) of the test model.
func server(t testing.TB, first, last int) *swarm.Server {
	return &swarm.Server{Model: layers(t, first, last), ModelCommit: testCommit}
}

func chainConfig() swarm.ChainConfig {
	return swarm.ChainConfig{Model: testConfig, ModelCommit: testCommit}
}
