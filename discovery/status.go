package discovery

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/tessera-net/tessera/commit"
	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/route"
)

// ModelStatus is what the announcements say about one model's swarm.
type ModelStatus struct {
	ModelCommit [32]byte
	Layers      int            // the model's layer count, as most nodes announce it
	Nodes       []Announcement // the newest live announcement of each node, by range
	Segments    []route.Segment
	Gaps        []model.Range
	Balance     route.Balance
	// Disagree lists nodes announcing another layer count than Layers
	// (left out of the segments).
	Disagree []peer.ID
}

// Summarize groups announcements by model, keeps each node's newest one
// that is live at now under policy, and works out each model's coverage:
// who serves which layers, the gaps, and the throughput per segment.
// Models come in commitment order.
func Summarize(anns []Announcement, now time.Time, policy Policy) []ModelStatus {
	newest := map[[32]byte]map[peer.ID]Announcement{}
	for _, a := range anns {
		if policy.Check(&a, now) != nil {
			continue
		}
		m := newest[a.ModelCommit]
		if m == nil {
			m = map[peer.ID]Announcement{}
			newest[a.ModelCommit] = m
		}
		if old, ok := m[a.Peer]; !ok || a.Seq > old.Seq {
			m[a.Peer] = a
		}
	}
	var out []ModelStatus
	for c, byPeer := range newest {
		st := ModelStatus{ModelCommit: c}
		votes := map[int]int{}
		for _, a := range byPeer {
			st.Nodes = append(st.Nodes, a)
			votes[a.Layers]++
		}
		for l, n := range votes {
			if n > votes[st.Layers] || (n == votes[st.Layers] && l > st.Layers) {
				st.Layers = l
			}
		}
		slices.SortFunc(st.Nodes, func(a, b Announcement) int {
			return cmp.Or(cmp.Compare(a.Range.First, b.Range.First), cmp.Compare(a.Range.Last, b.Range.Last), strings.Compare(string(a.Peer), string(b.Peer)))
		})
		var spans []route.Span
		for _, a := range st.Nodes {
			if a.Layers != st.Layers {
				st.Disagree = append(st.Disagree, a.Peer)
				continue
			}
			spans = append(spans, route.Span{Peer: a.Peer.String(), Operator: a.Operator, Range: a.Range, Throughput: a.Throughput})
		}
		st.Segments = route.Segments(spans, st.Layers)
		st.Gaps = route.Gaps(spans, st.Layers)
		st.Balance = route.BalanceOf(spans, st.Layers)
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ModelStatus) int { return bytes.Compare(a.ModelCommit[:], b.ModelCommit[:]) })
	return out
}

// ShortPeer abbreviates a peer id for tables: its last 8 characters.
func ShortPeer(id string) string {
	if len(id) > 8 {
		return "…" + id[len(id)-8:]
	}
	return id
}

// Write prints the status as text: a summary line, the coverage by layer
// segment (who serves it, summed throughput, GAP where nobody does), and
// the nodes. rtt gives measured round trips where known (may be nil).
func (st ModelStatus) Write(w io.Writer, now time.Time, rtt map[peer.ID]time.Duration) error {
	gaps := "no gaps"
	if len(st.Gaps) > 0 {
		parts := make([]string, len(st.Gaps))
		for i, g := range st.Gaps {
			parts[i] = g.String()
		}
		gaps = fmt.Sprintf("GAPS at %s", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "model %s, %d layers: %d nodes, %s", commit.Short(st.ModelCommit), st.Layers, len(st.Nodes), gaps)
	if st.Balance.Uncovered < st.Layers {
		fmt.Fprintf(w, ", bottleneck %.1f tok/s", st.Balance.Bottleneck)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  layers\ttok/s\tserved by")
	for _, s := range st.Segments {
		if s.Gap() {
			fmt.Fprintf(tw, "  %s\t-\tGAP: no node\n", s.Range)
			continue
		}
		names := make([]string, len(s.Peers))
		for i, p := range s.Peers {
			names[i] = ShortPeer(p)
		}
		fmt.Fprintf(tw, "  %s\t%.1f\t%s\n", s.Range, s.Throughput, strings.Join(names, " "))
	}
	fmt.Fprintln(tw, "\n  node\tlayers\ttok/s\tfree\trtt\toperator\texpires\tsoftware\taddress")
	for _, a := range st.Nodes {
		r := "-"
		if d, ok := rtt[a.Peer]; ok && d > 0 {
			r = d.Round(100 * time.Microsecond).String()
		}
		op := a.Operator
		if op == "" {
			op = "(itself)"
		}
		addr := "-"
		if len(a.Addrs) > 0 {
			addr = a.Addrs[0].String()
		}
		note := ""
		if slices.Contains(st.Disagree, a.Peer) {
			note = fmt.Sprintf(" (announces %d layers)", a.Layers)
		}
		fmt.Fprintf(tw, "  %s\t%s%s\t%.1f\t%d\t%s\t%s\t%s\t%s\t%s\n", ShortPeer(a.Peer.String()), a.Range, note, a.Throughput, a.FreeSlots, r, op,
			a.Expires.Sub(now).Round(time.Second), cmpOr(a.Software, "-"), addr)
	}
	return tw.Flush()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
