package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
)

// SnapshotProtocolID names the snapshot protocol: the asker writes a
// request (protobuf wire format: field 1, repeated, a 32-byte model
// commitment; none means every model the peer follows) and closes its
// side; the peer answers with the signed envelopes of the live
// announcements it holds for those models (field 1, repeated) and closes
// the stream. Envelopes are signed by the nodes they describe, so a peer
// passing them on can leave some out or pass on superseded ones, but not
// forge one: the asker checks each as if it came from gossip.
const SnapshotProtocolID = "/tessera/announcements/1.0.0"

// Limits of the snapshot protocol.
const (
	maxSnapshotRequest = 16 * (32 + 2)
	// MaxSnapshotEntries bounds the announcements of one answer.
	MaxSnapshotEntries = 1024
	maxSnapshotBytes   = MaxSnapshotEntries * (MaxEnvelopeBytes + 3)
	snapshotTimeout    = 10 * time.Second
)

// serveSnapshot answers one snapshot request.
func (s *Service) serveSnapshot(st network.Stream) {
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(snapshotTimeout))
	req, err := io.ReadAll(io.LimitReader(st, maxSnapshotRequest+1))
	if err != nil || len(req) > maxSnapshotRequest {
		_ = st.Reset()
		return
	}
	var want [][32]byte
	for b := req; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			_ = st.Reset()
			return
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 || len(v) != 32 {
			_ = st.Reset()
			return
		}
		b = b[n:]
		want = append(want, [32]byte(v))
	}
	now := s.now()
	var out []byte
	count := 0
	for _, t := range s.joined() {
		if len(want) > 0 && !containsCommit(want, t.commit) {
			continue
		}
		for _, e := range t.reg.Live(now) {
			if count == MaxSnapshotEntries {
				break
			}
			out = protowire.AppendTag(out, 1, protowire.BytesType)
			out = protowire.AppendBytes(out, e.Envelope)
			count++
		}
	}
	if _, err := st.Write(out); err != nil {
		_ = st.Reset()
	}
}

func containsCommit(list [][32]byte, c [32]byte) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

// Snapshot asks peer id for the live announcements it holds for the given
// models (every model it follows when none is given). It returns those
// whose envelope opens (decodes and carries a valid signature), with their
// envelopes; it does not check their times or models (Registry.Put does).
func (s *Service) Snapshot(ctx context.Context, id peer.ID, models ...[32]byte) ([]Announcement, [][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	st, err := s.host.OpenStream(ctx, id.String(), SnapshotProtocolID)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(d)
	}
	// Cancelling ctx (e.g. leaving the topic) interrupts the exchange.
	defer context.AfterFunc(ctx, func() { _ = st.Reset() })()
	var req []byte
	for _, m := range models[:min(len(models), 16)] {
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendBytes(req, m[:])
	}
	if _, err := st.Write(req); err != nil {
		return nil, nil, fmt.Errorf("discovery: snapshot request to %s: %w", id, err)
	}
	if err := st.CloseWrite(); err != nil {
		return nil, nil, fmt.Errorf("discovery: snapshot request to %s: %w", id, err)
	}
	body, err := io.ReadAll(io.LimitReader(st, maxSnapshotBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("discovery: snapshot from %s: %w", id, err)
	}
	return parseSnapshot(body)
}

// parseSnapshot splits a snapshot answer and opens each envelope, leaving
// out those that do not open.
func parseSnapshot(body []byte) ([]Announcement, [][]byte, error) {
	if len(body) > maxSnapshotBytes {
		return nil, nil, errors.New("discovery: snapshot answer too large")
	}
	var (
		anns []Announcement
		envs [][]byte
	)
	for b := body; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			return anns, envs, fmt.Errorf("%w: snapshot answer", ErrMalformed)
		}
		b = b[n:]
		env, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return anns, envs, fmt.Errorf("%w: snapshot answer", ErrMalformed)
		}
		b = b[n:]
		if len(anns) == MaxSnapshotEntries {
			break
		}
		a, err := Open(env)
		if err != nil {
			continue
		}
		anns = append(anns, a)
		envs = append(envs, env)
	}
	return anns, envs, nil
}
