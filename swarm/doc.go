// Package swarm runs a model's layers across machines over the forward
// protocol of package wire.
//
// The server side, Server, serves one layer range of a model: each stream
// it is handed carries one session (OpenSession → (Forward → ForwardResult)*
// → CloseSession or end of stream), for the whole range or any part of it,
// whose KV cache it keeps until the stream ends. It enforces limits on sessions, positions, message size and idle
// time, and per remote peer (ServePeer, PeerLimiter) on the sessions it
// holds and its rates of session opens, forward calls, positions and trace
// openings, answering every breach and every malformed or out-of-order
// message with a wire.Error rather than failing.
//
// The client side, Chain, implements generate.Layers over an ordered list
// of hops that together cover all layers: local hops compute on a model
// loaded in this process, remote hops send hidden states to nodes and
// write the answers back in place.
//
// # Failover
//
// A Chain with ChainConfig.Reroute keeps every call's input at every layer
// boundary. When a remote hop fails it asks Reroute for nodes covering
// exactly the hop's layers, replays the recorded inputs on them (call by
// call when verifying, so receipts stay aligned), checks that they
// reproduce bit for bit what the failed node had sent on, redoes the
// failed call and continues; the output is that of an uninterrupted run.
// Chain.Failovers reports each recovery, Chain.Retired the replaced hops'
// receipts.
//
// # Verification
//
// A Server with a Key signs a receipt (package proof) for every forward
// call of a session that the client opened with a nonce, keeps the call's
// trace (a window of full traces, keys and values for the whole session)
// and answers OpenCells with openings. A Chain with ChainConfig.Verify
// checks every receipt as it arrives against the node's known key
// (Hop.PubKey) and what it sent and received, checks that each node's
// inputs are the previous node's outputs, audits random cells with the
// verification keys it holds, and stops using a node that fails (errors
// wrap ErrDistrusted; Chain.Proofs holds the receipts, audit counts and
// fraud evidence for a certificate). Chain.Reexecute re-runs a hop's
// session on a validator's copy of its layers.
//
// The package is transport-agnostic: it reads and writes a Stream (a
// net.Conn, a libp2p stream, or anything with a deadline) and never dials
// or listens itself; callers hand the server accepted streams and give each
// remote hop an Opener.
package swarm

import (
	"io"
	"sync/atomic"
	"time"
)

// Stream is a bidirectional byte stream with a deadline, such as a net.Conn
// or a libp2p network.Stream. If it also has a CloseWrite() error method,
// the server uses it to finish an error answer cleanly.
type Stream interface {
	io.Reader
	io.Writer
	io.Closer
	SetDeadline(time.Time) error
}

// countingReader and countingWriter add the bytes that pass to a counter.
type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

type countingWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
}
