package swarm

import "sync"

// call is one forward call as a hop received it: positions [start,
// start+n), sent in messages of perMsg positions (0: as many as the node
// accepts), and its input.
type call struct {
	start, n, perMsg int
	input            []float32
}

// callLog is what crossed one layer boundary of a chain: every call's
// hidden states, in order. A hop's input is the log at its first layer,
// its output the log at its last; replaying the first on a replacement
// rebuilds the hop's KV cache and must reproduce the second. Each call
// keeps its own copy, so recording never moves what was recorded.
type callLog struct {
	calls []call
}

// add appends a copy of a call's input.
func (l *callLog) add(start, n, perMsg int, hidden []float32) {
	l.calls = append(l.calls, call{start: start, n: n, perMsg: perMsg, input: append([]float32(nil), hidden...)})
}

// input returns call k's hidden states.
func (l *callLog) input(k, dim int) []float32 { return l.calls[k].input[:l.calls[k].n*dim] }

// latest returns the state a session holds after the first k calls: for
// each position, the input of the last call that covered it, with every
// call discarding the positions after its start first (as Forward's
// rewind does).
func (l *callLog) latest(k, dim int) []float32 {
	var out []float32
	for _, c := range l.calls[:k] {
		if c.start*dim > len(out) {
			continue // a call that skipped positions was refused
		}
		out = append(out[:c.start*dim], c.input...)
	}
	return out
}

// history holds a chain's call logs by layer boundary: the log at layer b
// is the input of the hop starting at b (b = the model's layer count: the
// chain's output). Keyed by layer rather than hop, it survives hops being
// replaced and split.
type history struct {
	mu   sync.Mutex
	logs map[int]*callLog
}

// record appends a call crossing boundary b.
func (h *history) record(b, start, n, perMsg int, hidden []float32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.logs == nil {
		h.logs = map[int]*callLog{}
	}
	l := h.logs[b]
	if l == nil {
		l = &callLog{}
		h.logs[b] = l
	}
	l.add(start, n, perMsg, hidden)
}

// set replaces the log at boundary b (a boundary a replacement created).
func (h *history) set(b int, l *callLog) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.logs == nil {
		h.logs = map[int]*callLog{}
	}
	h.logs[b] = l
}

// snapshot returns the calls at boundary b so far; the chain's goroutine
// may read the result without the lock while it alone appends.
func (h *history) snapshot(b int) callLog {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := h.logs[b]; l != nil {
		return callLog{calls: l.calls[:len(l.calls):len(l.calls)]}
	}
	return callLog{}
}

// latest returns boundary b's current state (see callLog.latest).
func (h *history) latest(b, dim int) []float32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.logs[b]
	if l == nil {
		return nil
	}
	return l.latest(len(l.calls), dim)
}
