package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// minThreadBytes is the least work (weight bytes × positions) given to
// each thread: below it a second thread costs more than it saves (waking
// and joining a thread costs about what streaming 256 KiB does). A
// variable so that tests can force every product onto all threads.
var minThreadBytes int64 = 256 << 10

// Tuning of the work split.
const (
	// chunkBytes is the target weight bytes of one MatVec work chunk.
	chunkBytes = 128 << 10
	// panelChunkBytes is chunkBytes for a matrix stored in column panels
	// (layout.go), whose chunks are read as one run per panel: 256 KiB
	// runs of four panels stream from memory as well as one run, 32 KiB
	// runs do not (BENCHMARKS.md, "Wide rows").
	panelChunkBytes = 1 << 20
	// blockBytes is the target weight bytes of one MatMul row block, reused
	// across all positions while it is in cache.
	blockBytes = 48 << 10
	// spinTime is how long an idle worker (or the waiting caller) polls
	// before parking. Waking a parked goroutine costs tens of µs, so
	// workers keep polling through the short serial gaps between the
	// products of a forward pass (as ggml's thread pool does), but give the
	// CPU back soon when the process is idle or the machine is busy.
	spinTime = 50 * time.Microsecond
	// rowGroup is the number of rows the multi-row kernels compute per
	// step; chunks are whole multiples of it.
	rowGroup = 4
	// quit is the job generation that tells workers to exit.
	quit = ^uint64(0)
)

// Pool runs matrix products on persistent worker goroutines: NewPool
// starts them once and Close stops them; no goroutine is started per call.
// The rows of a product are split into contiguous chunks handed out to the
// calling goroutine and the workers; every output element is computed by
// one of them, in a fixed order, so results do not depend on the number of
// threads. Products too small to gain from more threads run on the caller
// alone, without waking workers.
//
// Methods may be called from any goroutine; calls are serialized. Scratch
// buffers are owned by the Pool and reused, so calls do not allocate once
// the buffers have grown to the largest shapes used. A Pool that becomes
// unreachable without Close is closed by the garbage collector, but Close
// should be called.
type Pool struct {
	*pool
}

// pool is the state shared with the workers (which must not keep the
// exported Pool reachable, so that its cleanup can run).
type pool struct {
	mu      sync.Mutex // serializes calls and close
	threads int
	closed  bool
	workers []worker // threads-1 background workers; the caller is the other
	wg      sync.WaitGroup
	seq     uint64
	acts    []actVec // quantized activations, one per position
	pacts   []actVec // a panelled product's activations, per panel and position
	plain   [][]byte // per participant: a chunk of interleaved rows de-interleaved

	job job

	_       [64]byte
	gen     atomic.Uint64 // current job generation (seq), or quit
	yield   atomic.Bool   // fewer Ps than threads: yield while polling
	_       [55]byte
	pending atomic.Int32 // claimed, unfinished worker jobs (see dispatch)
	waiting atomic.Bool  // caller is parked on done
	done    chan struct{}

	// spans[i] is the range of chunks of participant i (0 the caller, i
	// the worker i-1): see work.
	spans []span
}

// span is a range [lo, hi) of chunk indices packed as lo<<32 | hi, so that
// its owner (taking lo) and thieves (taking hi-1) claim chunks with one
// compare-and-swap. It fills a cache line: owners update theirs
// constantly.
type span struct {
	v atomic.Uint64
	_ [56]byte
}

// take claims a chunk of s, from the front (owner) or the back (thief),
// and reports false if s is empty.
func (s *span) take(front bool) (int, bool) {
	for {
		v := s.v.Load()
		lo, hi := uint32(v>>32), uint32(v)
		if lo >= hi {
			return 0, false
		}
		nv, c := uint64(lo+1)<<32|uint64(hi), lo
		if !front {
			nv, c = uint64(lo)<<32|uint64(hi-1), hi-1
		}
		if s.v.CompareAndSwap(v, nv) {
			return int(c), true
		}
	}
}

// worker is the hand-off state of one background worker.
type worker struct {
	// assigned is the generation of the job offered to this worker; the
	// worker claims it, or the caller revokes it, by swapping it to 0.
	assigned atomic.Uint64
	sleeping atomic.Bool // parked (or about to park) on wake
	wake     chan struct{}
	_        [40]byte
}

// job is one product, y[j*rows+r] = dot(row r, acts[j]), or one Parallel
// call (fn set, rows its n).
type job struct {
	fn       func(lo, hi int) // Parallel: called per chunk instead of k
	k        *kernel
	w        []byte
	il       int // w's interleave unit (Matrix.il)
	np, prb  int // w's column panels and their row bytes (0: whole rows)
	pacts    []actVec
	rowBytes int
	rows     int
	y        []float32
	acts     []actVec
	chunk    int // rows per chunk
	nchunks  int
	parts    int // participants: spans[:parts] hold the chunks
}

// NewPool starts a pool computing with the given number of threads (the
// calling goroutine counts as one, so threads-1 goroutines are started).
// threads <= 0 means runtime.NumCPU().
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	p := &pool{threads: threads, done: make(chan struct{}, 1), spans: make([]span, threads), plain: make([][]byte, threads)}
	p.yield.Store(runtime.GOMAXPROCS(0) < threads)
	p.workers = make([]worker, threads-1)
	for i := range p.workers {
		p.workers[i].wake = make(chan struct{}, 1)
	}
	p.wg.Add(len(p.workers))
	for i := range p.workers {
		go p.workerLoop(&p.workers[i], i+1)
	}
	pub := &Pool{p}
	runtime.AddCleanup(pub, func(p *pool) { p.close() }, p)
	return pub
}

// Threads returns the number of threads the pool computes with.
func (p *Pool) Threads() int { return p.threads }

// Close stops the worker goroutines and waits for them to exit. Calling
// Close again does nothing; MatVec or MatMul after Close panics.
func (p *Pool) Close() { p.close() }

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.gen.Store(quit)
	for i := range p.workers {
		w := &p.workers[i]
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	p.wg.Wait()
	p.acts = nil
	p.pacts = nil
	p.plain = nil
}

// MatVec computes y[r] = W[r]·x for every row r of w. x must hold at
// least w.Cols values and y at least w.Rows; only those are used. The
// activations are first converted as the weight type requires (see the
// package comment). It panics if the Pool is closed or w is invalid.
func (p *Pool) MatVec(y []float32, w Matrix, x []float32) {
	p.matMul("MatVec", y, w, x, 1)
}

// MatMul computes the products for n positions: x holds n rows of w.Cols
// values (position j at x[j*w.Cols:]) and y receives n rows of w.Rows
// values, y[j*w.Rows+r] = W[r]·x_j. Row j of y is bit-identical to MatVec
// of x_j. All positions are converted first; then each block of weight
// rows is applied to every position while it is in cache. It panics if the
// Pool is closed, w is invalid or x or y is too short.
func (p *Pool) MatMul(y []float32, w Matrix, x []float32, n int) {
	p.matMul("MatMul", y, w, x, n)
}

func (p *pool) matMul(op string, y []float32, w Matrix, x []float32, n int) {
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
	// Convert every position once.
	if len(p.acts) < n {
		p.acts = append(p.acts, make([]actVec, n-len(p.acts))...)
	}
	acts := p.acts[:n]
	for j := range acts {
		quantizeAct(&acts[j], x[j*w.Cols:(j+1)*w.Cols], k.act, k.pack)
	}
	// A layout whose rows kernel runs each position in turn reads no
	// tile's transposed activations.
	if n >= 4 && k.tile != nil && (w.panel != 0 || !k.rowsEachPosition(w.il)) {
		prepTile(acts)
		if k.prep != nil {
			k.prep(acts)
		}
	}

	rows := w.Rows
	work := int64(rows) * int64(rb) * int64(n)
	threads := int(min(int64(p.threads), int64(rows), max(1, work/minThreadBytes)))
	var chunk int
	if n == 1 {
		// Enough chunks to even out threads that run at different speeds,
		// each long enough for the hardware prefetchers.
		chunk = max(chunkBytes/rb, 1)
		if w.panel != 0 {
			chunk = max(panelChunkBytes/rb, 1)
		}
		if threads > 1 {
			chunk = min(chunk, (rows+4*threads-1)/(4*threads))
		}
	} else {
		chunk = max(blockBytes/rb, 1)
		if threads > 1 {
			chunk = min(chunk, (rows+2*threads-1)/(2*threads))
		}
	}
	// Whole groups of rowGroup rows per chunk, so that the multi-row
	// kernels meet a partial group only at the end of the matrix (and a
	// chunk of an interleaved matrix holds whole groups of its layout).
	if g := max(rowGroup, ilRows(w.il)); rows >= g {
		chunk = (max(chunk, 1) + g - 1) / g * g
	}
	chunk = max(chunk, 1)
	np, prb := w.panelGeometry()
	var pacts []actVec
	if np != 0 && k.rowsIL != nil && k.ilUnit == w.il {
		pacts = p.panelActs(acts, k.act, k.pack, np)
	}
	p.job = job{
		k:        k,
		w:        w.Data,
		il:       w.il,
		np:       np,
		prb:      prb,
		pacts:    pacts,
		rowBytes: rb,
		rows:     rows,
		y:        y[:n*rows],
		acts:     acts,
		chunk:    chunk,
		nchunks:  (rows + chunk - 1) / chunk,
	}
	p.run(threads)
	p.job = job{}
	if k.act == actF32 {
		for j := range acts {
			acts[j].f = nil // drop the reference to the caller's x
		}
	}
}

// run computes p.job on threads participants (the caller and threads-1
// workers). Each participant gets a contiguous share of the chunks, so
// that it streams through consecutive rows (the kernels prefetch the rows
// that follow theirs; alternating chunks between threads would leave
// every chunk's first rows unprefetched).
func (p *pool) run(threads int) {
	nc := uint64(p.job.nchunks)
	for i := 0; i < threads; i++ {
		lo, hi := nc*uint64(i)/uint64(threads), nc*uint64(i+1)/uint64(threads)
		p.spans[i].v.Store(lo<<32 | hi)
	}
	p.job.parts = threads
	if threads == 1 {
		p.work(0)
	} else {
		p.dispatch(threads - 1)
	}
}

// Parallel calls f(lo, hi) for contiguous ranges that together cover
// [0, n) exactly once, on the pool's threads (the caller included), and
// returns when all calls are done. Ranges hold at least grain indices
// (grain <= 0 means 1), except perhaps the last; n below 2*grain runs as
// one call on the caller.
// Which thread computes which range varies from call to call, so f must
// compute each index the same way whatever range it falls in; then the
// results do not depend on the number of threads. f must not call the
// Pool (calls are serialized, so it would deadlock) and must be safe to
// run concurrently on disjoint ranges. It is for the model's elementwise
// and attention work between products.
func (p *Pool) Parallel(n, grain int, f func(lo, hi int)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		panic("kernels: Parallel called on a closed Pool")
	}
	grain = max(grain, 1)
	if n <= 0 {
		return
	}
	threads := min(p.threads, n/grain)
	if threads <= 1 {
		f(0, n)
		return
	}
	// A few chunks per thread, so threads that run faster take over
	// the rest.
	chunk := max(grain, (n+4*threads-1)/(4*threads))
	p.job = job{fn: f, rows: n, chunk: chunk, nchunks: (n + chunk - 1) / chunk}
	p.run(threads)
	p.job = job{}
}

// work computes chunks of rows until none are left: first those of its
// own span (participant self), in order, then chunks taken from the back
// of the other spans, so threads that run faster (or a caller whose
// workers never woke) finish the work of slower ones. Each chunk computes
// its rows for every position, so each weight row block is reused across
// positions while it is in cache.
func (p *pool) work(self int) {
	j := &p.job
	victim := self
	for {
		c, ok := p.spans[self].take(true)
		for !ok {
			victim++
			if victim == self+j.parts {
				return
			}
			c, ok = p.spans[victim%j.parts].take(false)
			if ok {
				victim-- // this span may hold more
			}
		}
		r0 := c * j.chunk
		r1 := min(r0+j.chunk, j.rows)
		if j.fn != nil {
			j.fn(r0, r1)
			continue
		}
		rb := j.rowBytes
		k := j.k
		w := j.w[r0*rb : r1*rb]
		rows := k.rows
		tile := len(j.acts) > 1 && k.tile != nil
		if j.np != 0 {
			if j.pacts != nil {
				// Positions in groups of sixteen by the panel tile, the
				// others one at a time by the rows kernel.
				done := 0
				if tile && k.tilePanels != nil {
					done = k.tilePanels(j.y[r0:], j.rows, j.w, j.rows, j.prb, j.np, r0, r1, j.acts)
				}
				p.panels(r0, r1, done)
				continue
			}
			plain := p.scratch(self, len(w))
			fromPanels(plain, j.w, j.rows, j.prb, j.np, j.il, r0, r1)
			w = plain
		} else if j.il != 0 {
			// Chunks start on a group of the layout (matMul), so a chunk
			// of an interleaved matrix is interleaved in itself.
			switch {
			case k.ilUnit == j.il && tile && k.tileIL != nil:
				k.tileIL(j.y[r0:], j.rows, w, rb, r1-r0, j.acts, p.scratch(self, len(w)))
				continue
			case k.ilUnit == j.il && !tile && k.rowsIL != nil, k.rowsEachPosition(j.il):
				// One position, or a layout without a tile, whose rows
				// kernel computes each position in turn while the chunk
				// is in cache (ilQ4KLanes: as fast as the plain rows' tile).
				for pos := range j.acts {
					k.rowsIL(j.y[pos*j.rows+r0:pos*j.rows+r1], w, rb, &j.acts[pos], false)
				}
				continue
			default:
				plain := p.scratch(self, len(w))
				deinterleave4(plain, w, rb, j.il, r1-r0)
				w = plain
			}
		}
		if tile {
			k.tile(j.y[r0:], j.rows, w, rb, r1-r0, j.acts)
			continue
		}
		for pos := range j.acts {
			a := &j.acts[pos]
			y := j.y[pos*j.rows+r0 : pos*j.rows+r1]
			if rows != nil {
				rows(y, w, rb, a)
				continue
			}
			for r := range y {
				y[r] = k.dot(w[r*rb:(r+1)*rb], a)
			}
		}
	}
}

// panels computes rows [r0, r1) of p.job, a product with a matrix stored
// in column panels, for positions from on, panel after panel: each row's
// sum continues from the previous panel's.
func (p *pool) panels(r0, r1, from int) {
	j := &p.job
	n := len(j.acts)
	for pos := from; pos < n; pos++ {
		y := j.y[pos*j.rows+r0 : pos*j.rows+r1]
		for pn := range j.np {
			base := pn * j.rows * j.prb
			j.k.rowsIL(y, j.w[base+r0*j.prb:base+r1*j.prb], j.prb, &j.pacts[pn*n+pos], pn > 0)
		}
	}
}

// panelActs returns acts cut into np column panels, panel pn of position
// j at [pn*len(acts)+j] (views of acts, in memory kept for the next call).
func (p *pool) panelActs(acts []actVec, f actFormat, pk packFormat, np int) []actVec {
	need := np * len(acts)
	if cap(p.pacts) < need {
		p.pacts = make([]actVec, need)
	}
	pacts := p.pacts[:need]
	for j := range acts {
		nb := len(acts[j].d)
		for pn := range np {
			pacts[pn*len(acts)+j] = acts[j].blocks(f, pk, pn*nb/np, (pn+1)*nb/np)
		}
	}
	return pacts
}

// scratch returns n bytes of participant self's scratch memory (kept for
// the next calls, so that products do not allocate once it has grown).
func (p *pool) scratch(self, n int) []byte {
	if cap(p.plain[self]) < n {
		p.plain[self] = make([]byte, n)
	}
	return p.plain[self][:n]
}

// dispatch runs the job on the caller and up to nw background workers and
// returns when all that took part are done.
//
// Each worker is offered the job through its assigned slot. A worker that
// claims it takes chunks until none are left and then decrements pending.
// A worker still asleep or descheduled when the caller has finished is
// revoked instead, so the caller never waits for a worker that has not
// started (its wake-up may take tens of µs); at most it waits for the
// chunks that claimed workers are computing.
func (p *pool) dispatch(nw int) {
	p.yield.Store(runtime.GOMAXPROCS(0) < p.threads)
	p.seq++
	g := p.seq
	for i := 0; i < nw; i++ {
		p.workers[i].assigned.Store(g)
	}
	p.gen.Store(g)
	for i := 0; i < nw; i++ {
		w := &p.workers[i]
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	p.work(0)
	claimed := int32(0)
	for i := 0; i < nw; i++ {
		if !p.workers[i].assigned.CompareAndSwap(g, 0) {
			claimed++
		}
	}
	// Claimed workers decrement pending when done, possibly before this
	// add; it is back at 0 when the last one is done.
	if p.pending.Add(claimed) == 0 {
		return
	}
	if p.spin(func() bool { return p.pending.Load() == 0 }) {
		return
	}
	// A swap, not a store: see await.
	p.waiting.Swap(true)
	if p.pending.Load() == 0 && p.waiting.CompareAndSwap(true, false) {
		return
	}
	<-p.done // the last worker saw waiting and is sending
}

// workerLoop runs one background worker, participant self of each job,
// until the pool closes.
func (p *pool) workerLoop(w *worker, self int) {
	defer p.wg.Done()
	var seen uint64
	for {
		g := p.await(w, seen)
		seen = g
		if g == quit {
			return
		}
		if !w.assigned.CompareAndSwap(g, 0) {
			continue // not offered this job, or revoked: the job is done
		}
		p.work(self)
		if p.pending.Add(-1) == 0 && p.waiting.CompareAndSwap(true, false) {
			p.done <- struct{}{}
		}
	}
}

// await returns the first job generation different from seen: it polls
// for a while, then parks until dispatch (or close) wakes it.
func (p *pool) await(w *worker, seen uint64) uint64 {
	if p.spin(func() bool { return p.gen.Load() != seen }) {
		return p.gen.Load()
	}
	// Swap, not Store: the flag must be visible before gen is read
	// (each side writes its flag, then reads the other's). Go's atomics
	// promise that order for a Store too, but qemu-user running an arm64
	// binary on an x86 host lets a store-release pass a later
	// load-acquire, which lost wake-ups in CI; a read-modify-write is a
	// full barrier there as everywhere.
	w.sleeping.Swap(true)
	if g := p.gen.Load(); g != seen && w.sleeping.CompareAndSwap(true, false) {
		return g
	}
	// Either gen has not moved (dispatch will wake us) or dispatch already
	// claimed the wake-up and is sending it.
	<-w.wake
	return p.gen.Load()
}

// spin polls done for up to spinTime and reports whether it became true.
// It does not yield while there are Ps for all the pool's threads:
// runtime.Gosched moves the goroutine to the global run queue without
// waking an idle P, which can leave the caller and a worker time-sharing
// one P. With fewer Ps than threads it yields, so the others can run.
func (p *pool) spin(done func() bool) bool {
	var start time.Time
	for i := 1; ; i++ {
		if done() {
			return true
		}
		if i&63 == 0 {
			if i == 64 {
				start = time.Now()
			} else if time.Since(start) > spinTime {
				return done()
			}
			if p.yield.Load() {
				runtime.Gosched()
			}
		}
	}
}
