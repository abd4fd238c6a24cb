package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Tuning of the work split.
const (
	// minThreadBytes is the least weight-bytes×positions of work given to
	// each extra thread: below it, waking a worker costs more than it saves.
	minThreadBytes = 64 << 10
	// chunkBytes is the target weight bytes of one MatVec work chunk.
	chunkBytes = 32 << 10
	// blockBytes is the target weight bytes of one MatMul row block, reused
	// across all positions while it is in cache.
	blockBytes = 48 << 10
	// spinIters bounds how long an idle worker (or the waiting caller)
	// polls before parking, about 50-100µs.
	spinIters = 1 << 13
	quitMark  = 0xffff
)

// Pool runs matrix products on persistent worker goroutines. Create it
// with NewPool and stop it with Close. Its methods may be called from any
// goroutine; calls are serialized. Scratch buffers are owned by the Pool
// and reused, so steady-state calls do not allocate.
type Pool struct {
	mu      sync.Mutex // serializes calls and Close
	threads int
	closed  bool
	workers []worker // threads-1 background workers; the caller is the other
	wg      sync.WaitGroup
	seq     uint64
	acts    []actVec // one per position

	job job

	_       [64]byte
	gen     atomic.Uint64 // seq<<16 | number of background workers taking part
	_       [56]byte
	next    atomic.Int64 // next chunk to hand out
	pending atomic.Int32 // background workers still working on the job
	waiting atomic.Bool  // caller is parked on done
	done    chan struct{}
}

type worker struct {
	sleeping atomic.Bool
	wake     chan struct{}
	_        [48]byte
}

// job is one product: output y[j*rows+r] = dot(row r, acts[j]).
type job struct {
	dot      rowDot
	w        []byte
	rowBytes int
	rows     int
	y        []float32
	acts     []actVec
	chunk    int // rows per chunk
	nchunks  int
}

// NewPool starts a pool computing with the given number of threads (the
// calling goroutine counts as one, so threads-1 goroutines are started).
// threads <= 0 means runtime.NumCPU().
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	threads = min(threads, quitMark-1)
	p := &Pool{threads: threads, done: make(chan struct{}, 1)}
	p.workers = make([]worker, threads-1)
	for i := range p.workers {
		p.workers[i].wake = make(chan struct{}, 1)
	}
	p.wg.Add(len(p.workers))
	for i := range p.workers {
		go p.workerLoop(i + 1)
	}
	return p
}

// Threads returns the number of threads the pool computes with.
func (p *Pool) Threads() int { return p.threads }

// Close stops the worker goroutines and waits for them to exit. Calling
// Close again does nothing; any other method called after Close panics.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.seq++
	p.gen.Store(p.seq<<16 | quitMark)
	for i := range p.workers {
		w := &p.workers[i]
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	p.wg.Wait()
	p.acts = nil
}

// MatVec computes y[r] = W[r]·x for every row r of w. x must hold at
// least w.Cols values and y at least w.Rows; only those are used. The
// activations are first quantized as the weight type requires (see the
// package comment). It panics if the Pool is closed or w is invalid.
func (p *Pool) MatVec(y []float32, w Matrix, x []float32) {
	p.matMul("MatVec", y, w, x, 1)
}

// MatMul computes the product for n positions: x holds n rows of w.Cols
// values (position j at x[j*w.Cols:]) and y receives n rows of w.Rows
// values, y[j*w.Rows+r] = W[r]·x_j. Row j of y is bit-identical to MatVec
// of x_j. Weight rows are processed in blocks, each reused across all
// positions while it is in cache. It panics if the Pool is closed or the
// sizes are wrong.
func (p *Pool) MatMul(y []float32, w Matrix, x []float32, n int) {
	p.matMul("MatMul", y, w, x, n)
}

func (p *Pool) matMul(op string, y []float32, w Matrix, x []float32, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		panic("kernels: " + op + " called on a closed Pool")
	}
	rb, k := w.check()
	if n < 0 || len(x)/max(w.Cols, 1) < n || len(y)/max(w.Rows, 1) < n {
		panic(fmt.Sprintf("kernels: %s: %v %d×%d matrix, %d positions: x has %d values (need %d), y has %d (need %d)",
			op, w.Type, w.Rows, w.Cols, n, len(x), n*w.Cols, len(y), n*w.Rows))
	}
	if n == 0 || w.Rows == 0 {
		return
	}
	// Quantize every position once.
	if len(p.acts) < n {
		p.acts = append(p.acts, make([]actVec, n-len(p.acts))...)
	}
	acts := p.acts[:n]
	for j := range acts {
		quantizeAct(&acts[j], x[j*w.Cols:(j+1)*w.Cols], k.act, k.pack)
	}

	rows := w.Rows
	work := int64(rows) * int64(rb) * int64(n)
	threads := int(min(int64(p.threads), int64(rows), max(1, work/minThreadBytes)))
	var chunk int
	if n == 1 {
		// Enough chunks to balance uneven thread speeds, each big enough
		// for the hardware prefetchers.
		chunk = max(chunkBytes/rb, 1)
		if threads > 1 {
			chunk = min(chunk, (rows+4*threads-1)/(4*threads))
		}
	} else {
		chunk = max(blockBytes/rb, 1)
		if threads > 1 {
			chunk = min(chunk, (rows+2*threads-1)/(2*threads))
		}
	}
	chunk = max(chunk, 1)
	p.job = job{
		dot:      k.dot,
		w:        w.Data,
		rowBytes: rb,
		rows:     rows,
		y:        y[:n*rows],
		acts:     acts,
		chunk:    chunk,
		nchunks:  (rows + chunk - 1) / chunk,
	}
	p.next.Store(0)
	if threads == 1 {
		p.work()
	} else {
		p.dispatch(threads - 1)
	}
	p.job = job{}
	if k.act == actF32 {
		for j := range acts {
			acts[j].f = nil // drop the reference to the caller's x
		}
	}
}

// work takes chunks of rows until none are left. Each chunk computes its
// rows for every position, so each weight row block is reused across
// positions while it is in cache.
func (p *Pool) work() {
	j := &p.job
	for {
		c := int(p.next.Add(1) - 1)
		if c >= j.nchunks {
			return
		}
		r0 := c * j.chunk
		r1 := min(r0+j.chunk, j.rows)
		rb := j.rowBytes
		for pos := range j.acts {
			a := &j.acts[pos]
			y := j.y[pos*j.rows : (pos+1)*j.rows]
			for r := r0; r < r1; r++ {
				y[r] = j.dot(j.w[r*rb:(r+1)*rb], a)
			}
		}
	}
}

// dispatch runs the job on the caller and nw background workers and
// returns when all are done.
func (p *Pool) dispatch(nw int) {
	p.pending.Store(int32(nw))
	p.seq++
	p.gen.Store(p.seq<<16 | uint64(nw))
	for i := 0; i < nw; i++ {
		w := &p.workers[i]
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	p.work()
	// Wait for the workers: poll briefly, then park on done.
	for i := 0; i < spinIters; i++ {
		if p.pending.Load() == 0 {
			return
		}
		if i&63 == 63 {
			runtime.Gosched()
		}
	}
	p.waiting.Store(true)
	if p.pending.Load() == 0 && p.waiting.CompareAndSwap(true, false) {
		return
	}
	<-p.done
}

// workerLoop is background worker id (1..threads-1).
func (p *Pool) workerLoop(id int) {
	defer p.wg.Done()
	w := &p.workers[id-1]
	var seen uint64
	for {
		g := p.await(w, seen)
		seen = g
		nw := int(g & 0xffff)
		if nw == quitMark {
			return
		}
		if id > nw {
			continue // not taking part in this job
		}
		p.work()
		if p.pending.Add(-1) == 0 && p.waiting.CompareAndSwap(true, false) {
			p.done <- struct{}{}
		}
	}
}

// await returns the first job generation different from seen: it polls
// for a while, then parks until dispatch wakes it.
func (p *Pool) await(w *worker, seen uint64) uint64 {
	for i := 0; i < spinIters; i++ {
		if g := p.gen.Load(); g != seen {
			return g
		}
		if i&63 == 63 {
			runtime.Gosched()
		}
	}
	w.sleeping.Store(true)
	if g := p.gen.Load(); g != seen && w.sleeping.CompareAndSwap(true, false) {
		return g
	}
	// Either gen has not moved (dispatch will wake us) or dispatch already
	// claimed the wake-up and is sending it.
	<-w.wake
	return p.gen.Load()
}
