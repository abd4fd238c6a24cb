package swarm

import (
	"bufio"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/wire"
)

// InfoProtocolID names the info protocol: on each stream the node writes
// one wire.Info message and closes the stream.
const InfoProtocolID = "/tessera/info/1.0.0"

// InfoTimeout bounds ServeInfo's write and, when the stream has a deadline,
// ReadInfo's read.
const InfoTimeout = 10 * time.Second

// NodeInfo is what a node says about itself.
type NodeInfo struct {
	ModelCommit  [32]byte
	Range        model.Range // layers served
	MaxPositions int         // most positions a session is granted
	FreeSessions int         // sessions that can be opened now
	// NodeKey is the Ed25519 key the node signs receipts with (zero when
	// it does not sign). A client must check it against the key it knows
	// the node by (with libp2p, the peer id's key).
	NodeKey [wire.KeySize]byte
	// Version is the node's forward protocol version: from 2 on, it
	// accepts sessions for any part of Range (Subranges).
	Version int
}

// Subranges reports whether the node accepts sessions for part of its
// range.
func (i NodeInfo) Subranges() bool { return i.Version >= 2 }

// Key returns NodeKey as a public key, or nil when the node does not sign.
func (i NodeInfo) Key() ed25519.PublicKey {
	if i.NodeKey == ([wire.KeySize]byte{}) {
		return nil
	}
	return ed25519.PublicKey(append([]byte(nil), i.NodeKey[:]...))
}

// Info describes the server.
func (s *Server) Info() (NodeInfo, error) {
	lim, err := s.limits()
	if err != nil {
		return NodeInfo{}, err
	}
	free := max(0, int64(lim.maxSessions)-s.sessionsOpen.Load())
	info := NodeInfo{
		Version:      wire.Version,
		ModelCommit:  s.ModelCommit,
		Range:        s.Model.Range,
		MaxPositions: lim.maxPositions,
		FreeSessions: int(min(free, wire.PositionLimit)),
	}
	copy(info.NodeKey[:], s.NodeKey())
	return info, nil
}

// ServeInfo writes the server's NodeInfo to st and closes st.
func (s *Server) ServeInfo(st Stream) error {
	defer st.Close()
	info, err := s.Info()
	if err != nil {
		_ = wire.WriteMessage(st, wire.NewError(wire.CodeInternal, "node misconfigured"))
		return err
	}
	_ = st.SetDeadline(time.Now().Add(InfoTimeout))
	m := &wire.Info{
		Version:      wire.Version,
		ModelCommit:  info.ModelCommit,
		First:        info.Range.First,
		Last:         info.Range.Last,
		MaxPositions: info.MaxPositions,
		FreeSessions: info.FreeSessions,
		NodeKey:      info.Key(),
	}
	if err := wire.WriteMessage(countingWriter{st, &s.bytesOut}, m); err != nil {
		return fmt.Errorf("swarm: writing node info: %w", err)
	}
	return nil
}

// ReadInfo reads a node's NodeInfo from a stream of the info protocol. If
// r has a SetDeadline method, the read is bounded by InfoTimeout.
func ReadInfo(r io.Reader) (NodeInfo, error) {
	if d, ok := r.(interface{ SetDeadline(time.Time) error }); ok {
		_ = d.SetDeadline(time.Now().Add(InfoTimeout))
	}
	msg, err := wire.ReadMessage(bufio.NewReader(r), 4096)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return NodeInfo{}, fmt.Errorf("swarm: reading node info: %w", err)
	}
	switch m := msg.(type) {
	case *wire.Info:
		info := NodeInfo{
			Version:      int(m.Version),
			ModelCommit:  m.ModelCommit,
			Range:        model.Range{First: m.First, Last: m.Last},
			MaxPositions: m.MaxPositions,
			FreeSessions: m.FreeSessions,
		}
		copy(info.NodeKey[:], m.NodeKey)
		return info, nil
	case *wire.Error:
		return NodeInfo{}, fmt.Errorf("swarm: node info: %w", m)
	}
	return NodeInfo{}, errors.New("swarm: node info: node answered " + msg.Type().String())
}
