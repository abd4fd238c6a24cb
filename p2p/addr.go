package p2p

import (
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// addrExample is shown in errors about malformed peer addresses.
const addrExample = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…"

// ParsePeerAddrs splits a comma-separated list of full peer addresses (as
// given to --peers), checks each one and returns them in canonical form, in
// order. Blanks around entries and empty entries are ignored; an empty list
// yields nil. Each entry must be a multiaddr of a transport this package
// dials (TCP, or QUIC v1 over UDP) ending in /p2p/<peer-id>.
func ParsePeerAddrs(csv string) ([]string, error) {
	var out []string
	n := 0
	for part := range strings.SplitSeq(csv, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n++
		info, err := parsePeerAddr(part)
		if err != nil {
			return nil, fmt.Errorf("p2p: peer address %d of the list: %w", n, err)
		}
		out = append(out, info.Addrs[0].Encapsulate(peerComponent(info.ID)).String())
	}
	return out, nil
}

// peerComponent is the /p2p/<id> multiaddr of a peer.
func peerComponent(id peer.ID) ma.Multiaddr {
	c, err := ma.NewComponent("p2p", id.String())
	if err != nil {
		// A peer.ID we hold is always encodable.
		panic(err)
	}
	return c.Multiaddr()
}

// parsePeerAddr parses one full peer address
// (/ip4/…/tcp/…/p2p/ID or /ip4/…/udp/…/quic-v1/p2p/ID) into an AddrInfo
// holding exactly one transport address. Errors quote the input.
func parsePeerAddr(s string) (peer.AddrInfo, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return peer.AddrInfo{}, fmt.Errorf("empty peer address (want e.g. %s)", addrExample)
	}
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("malformed peer address %q: %v (want e.g. %s)", s, err, addrExample)
	}
	transport, id := peer.SplitAddr(m)
	if id == "" {
		return peer.AddrInfo{}, fmt.Errorf("peer address %q has no /p2p/<peer-id> at its end "+
			"(want e.g. %s; a node prints its full addresses when it starts)", s, addrExample)
	}
	if len(transport) == 0 {
		return peer.AddrInfo{}, fmt.Errorf("peer address %q has no network address before /p2p (want e.g. %s)", s, addrExample)
	}
	if err := checkDialable(transport); err != nil {
		return peer.AddrInfo{}, fmt.Errorf("peer address %q: %v", s, err)
	}
	return peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{transport}}, nil
}

// transportKind classifies a transport address (without /p2p) as "tcp" or
// "quic"; it returns an error for anything this package does not speak.
// Accepted shapes: ip4|ip6|dns|dns4|dns6 / tcp/PORT, and
// ip4|ip6|dns|dns4|dns6 / udp/PORT / quic-v1.
func transportKind(m ma.Multiaddr) (string, error) {
	var codes []int
	for _, c := range m {
		codes = append(codes, c.Code())
	}
	if len(codes) == 0 {
		return "", errors.New("empty address")
	}
	switch codes[0] {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
	default:
		return "", fmt.Errorf("must start with /ip4, /ip6 or /dns*, not /%s", m[0].Protocol().Name)
	}
	switch {
	case len(codes) == 2 && codes[1] == ma.P_TCP:
		return "tcp", nil
	case len(codes) == 3 && codes[1] == ma.P_UDP && codes[2] == ma.P_QUIC_V1:
		return "quic", nil
	}
	return "", errors.New("unsupported transport: only …/tcp/PORT and …/udp/PORT/quic-v1 are supported")
}

func checkDialable(m ma.Multiaddr) error {
	_, err := transportKind(m)
	return err
}
