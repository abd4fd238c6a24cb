package discovery

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tessera-net/tessera/model"
	"github.com/tessera-net/tessera/models"
	"github.com/tessera-net/tessera/route"
)

func TestSummarize(t *testing.T) {
	_, a := newKey(t)
	_, b := newKey(t)
	_, c := newKey(t)
	_, d := newKey(t)
	older := testAnnouncement(a, model.Range{First: 0, Last: 6}, 1, t0, time.Minute)
	newer := testAnnouncement(a, model.Range{First: 0, Last: 2}, 2, t0, time.Minute)
	newer.Throughput = 10
	bAnn := testAnnouncement(b, model.Range{First: 0, Last: 3}, 1, t0, time.Minute)
	bAnn.Throughput = 5
	bAnn.Operator = "bob"
	expired := testAnnouncement(c, model.Range{First: 3, Last: 6}, 1, t0.Add(-time.Hour), time.Minute)
	odd := testAnnouncement(d, model.Range{First: 4, Last: 5}, 1, t0, time.Minute)
	odd.Layers = 8
	other := testAnnouncement(c, model.Range{First: 0, Last: 1}, 1, t0, time.Minute)
	other.ModelCommit = [32]byte{0xff}

	sts := Summarize([]Announcement{newer, older, bAnn, expired, odd, other}, t0, Policy{})
	if len(sts) != 2 || sts[0].ModelCommit != testCommit || sts[1].ModelCommit != other.ModelCommit {
		t.Fatalf("statuses %+v", sts)
	}
	st := sts[0]
	if st.Layers != 6 || len(st.Nodes) != 3 || len(st.Disagree) != 1 || st.Disagree[0] != d {
		t.Fatalf("status %+v", st)
	}
	if len(st.Gaps) != 1 || st.Gaps[0] != (model.Range{First: 3, Last: 6}) {
		t.Errorf("gaps %v", st.Gaps)
	}
	if st.Balance != (route.Balance{Uncovered: 3, Bottleneck: 5}) {
		t.Errorf("balance %+v", st.Balance)
	}
	var buf bytes.Buffer
	if err := st.Write(&buf, t0, nil); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"6 layers: 3 nodes, GAPS at 3:6", "bottleneck 5.0 tok/s", "0:2     15.0", "3:6     -      GAP: no node", "bob", "(announces 8 layers)", ShortPeer(a.String())} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
}

func TestLayerCostsAndThroughput(t *testing.T) {
	f, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ConfigFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	costs, err := LayerCosts(f, cfg, 100)
	if err != nil {
		t.Fatal(err)
	}
	kv := KVBytesPerLayer(cfg, 100)
	if len(costs) != cfg.Layers || kv != uint64(2*4*cfg.KVDim()*100) {
		t.Fatalf("%d costs, kv %d", len(costs), kv)
	}
	for i, c := range costs {
		if c <= kv {
			t.Errorf("layer %d costs %d, no more than its KV cache", i, c)
		}
	}
	m, err := model.Load(f, model.Options{Layers: model.Range{First: 0, Last: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tp, err := MeasureThroughput(context.Background(), m, 4)
	if err != nil || tp <= 0 {
		t.Fatalf("throughput %v, %v", tp, err)
	}
	t.Logf("kjv-tiny layers 0:2: %.0f tokens/s", tp)
}
