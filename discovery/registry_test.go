package discovery

import (
	"errors"
	"testing"
	"time"

	"github.com/tessera-net/tessera/model"
)

func TestRegistry(t *testing.T) {
	reg := NewRegistry(testCommit, Policy{MaxTTL: 10 * time.Minute, MaxSkew: 30 * time.Second})
	ka, a := newKey(t)
	kb, b := newKey(t)
	changed := reg.Changed()

	// a serves 3:6 (seq 5), b serves 0:3 (seq 1).
	if _, err := reg.Put(sign(t, testAnnouncement(a, model.Range{First: 3, Last: 6}, 5, t0, time.Minute), ka), t0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Error("Put did not signal a change")
	}
	if _, err := reg.Put(sign(t, testAnnouncement(b, model.Range{First: 0, Last: 3}, 1, t0, 2*time.Minute), kb), t0); err != nil {
		t.Fatal(err)
	}
	live := reg.Live(t0)
	if len(live) != 2 || live[0].Peer != b || live[1].Peer != a {
		t.Fatalf("live = %v, want b then a (by range)", live)
	}

	// Replays and older sequence numbers are ignored, even if fresher.
	for _, seq := range []uint64{5, 4} {
		env := sign(t, testAnnouncement(a, model.Range{First: 0, Last: 6}, seq, t0.Add(time.Second), time.Minute), ka)
		if _, err := reg.Put(env, t0.Add(time.Second)); !errors.Is(err, ErrOld) {
			t.Errorf("seq %d after 5: %v, want ErrOld", seq, err)
		}
	}
	if e, _ := reg.Get(a, t0); e.Range != (model.Range{First: 3, Last: 6}) {
		t.Errorf("a's entry changed to %s", e.Range)
	}
	// A newer one replaces.
	if _, err := reg.Put(sign(t, testAnnouncement(a, model.Range{First: 2, Last: 6}, 6, t0.Add(time.Second), time.Minute), ka), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if e, ok := reg.Get(a, t0.Add(time.Second)); !ok || e.Range != (model.Range{First: 2, Last: 6}) || e.Seq != 6 {
		t.Errorf("a's entry %+v after the newer announcement", e)
	}

	// Another model's announcement is refused.
	other := testAnnouncement(b, model.Range{First: 0, Last: 3}, 9, t0, time.Minute)
	other.ModelCommit[0] ^= 1
	if _, err := reg.Put(sign(t, other, kb), t0); !errors.Is(err, ErrWrongModel) {
		t.Errorf("other model: %v", err)
	}
	// An expired one is refused.
	if _, err := reg.Put(sign(t, testAnnouncement(b, model.Range{First: 0, Last: 3}, 9, t0.Add(-2*time.Minute), time.Minute), kb), t0); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}

	// RTTs are smoothed and reported on entries and candidates.
	reg.SetRTT(a, 40*time.Millisecond)
	reg.SetRTT(a, 80*time.Millisecond)
	if e, _ := reg.Get(a, t0); e.RTT != 50*time.Millisecond {
		t.Errorf("smoothed RTT %v, want 50ms", e.RTT)
	}
	cands := reg.Candidates(t0.Add(time.Second))
	if len(cands) != 2 || cands[1].Peer != a.String() || cands[1].RTT != 50*time.Millisecond || cands[1].FreeSlots != 16 || cands[1].Throughput != 123.5 {
		t.Errorf("candidates %+v", cands)
	}
	if spans := reg.Spans(t0, a); len(spans) != 1 || spans[0].Peer != b.String() {
		t.Errorf("spans without a: %+v", spans)
	}

	// Stale entries drop: a's (1 minute from t0+1s) goes first, then b's.
	at := t0.Add(61 * time.Second)
	if live := reg.Live(at); len(live) != 1 || live[0].Peer != b {
		t.Errorf("live at +61s: %v", live)
	}
	if dropped := reg.Expire(at); len(dropped) != 1 || dropped[0] != a {
		t.Errorf("expired at +61s: %v", dropped)
	}
	// a's sequence number is still remembered: a replay of seq 6 cannot
	// resurrect it even though nothing is in the registry for it.
	if _, err := reg.Put(sign(t, testAnnouncement(a, model.Range{First: 2, Last: 6}, 6, at, time.Minute), ka), at); !errors.Is(err, ErrOld) {
		t.Errorf("replay after expiry: %v", err)
	}
	if dropped := reg.Expire(t0.Add(2 * time.Minute)); len(dropped) != 1 || dropped[0] != b {
		t.Errorf("expired at +2m: %v", dropped)
	}
	if len(reg.Live(t0.Add(2*time.Minute))) != 0 {
		t.Error("entries left after both expired")
	}
	// After MaxSkew+MaxTTL the marks go too, and the peer can start over.
	late := t0.Add(12 * time.Minute)
	reg.Expire(late)
	if _, err := reg.Put(sign(t, testAnnouncement(a, model.Range{First: 0, Last: 1}, 1, late, time.Minute), ka), late); err != nil {
		t.Errorf("fresh start after the marks expired: %v", err)
	}
	if !reg.Remove(a) || reg.Remove(a) {
		t.Error("Remove")
	}
}
