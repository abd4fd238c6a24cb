package ledger_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/ledger"
	"github.com/tessera-net/tessera/ledger/ledgertest"
)

// buildChain applies a random workload as blocks of up to perBlock
// transactions and returns every block record.
func buildChain(t testing.TB, seed uint64, blocks, perBlock int, each func(b *ledger.Builder)) []ledger.BlockRecord {
	t.Helper()
	m := ledgertest.Machine
	s, err := ledger.NewState(ledgertest.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	w := ledgertest.NewWorkload(seed)
	var recs []ledger.BlockRecord
	for h := 1; h <= blocks; h++ {
		b, err := m.NewBlock(s, uint64(h), int64(h)*1e9)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < (h*7)%(perBlock+1); i++ {
			b.Apply(w.Next(b.State()))
			if each != nil {
				each(b)
			}
		}
		rec, st := b.Finish()
		s = st.Fold()
		recs = append(recs, rec)
	}
	return recs
}

// TestSupplyInvariant runs a long random workload and checks after every
// transaction that the accounts hold exactly the supply, and after every
// block that the supply moved only by faucet mints and burns.
func TestSupplyInvariant(t *testing.T) {
	var prev uint64
	var minted, burned uint64
	accepted := map[ledger.Kind]int{}
	recs := buildChain(t, 1, 200, 24, func(b *ledger.Builder) {
		s := b.State()
		if got, want := sumAccounts(s), s.Supply().Total(); got != want {
			t.Fatalf("height %d: accounts hold %d, supply is %d", b.Height(), got, want)
		}
	})
	s, _ := ledger.NewState(ledgertest.Genesis())
	prev = s.Supply().Total()
	r := ledger.NewReplayerAt(s, ledgertest.Machine)
	for _, rec := range recs {
		if err := r.Next(rec); err != nil {
			t.Fatal(err)
		}
		for i, res := range rec.Results {
			if res.Code != ledger.CodeOK {
				continue
			}
			tx, _ := ledger.DecodeTx(rec.Txs[i])
			accepted[tx.Body.Kind()]++
			for _, e := range res.Events {
				for _, a := range e.Attrs {
					v, _ := strconv.ParseUint(a.Value, 10, 64)
					switch {
					case e.Type == "faucet" && a.Key == "amount":
						minted += v
					case e.Type == "slash" && a.Key == "burned":
						burned += v
					}
				}
			}
		}
		total := r.State().Supply().Total()
		if total != prev+minted-burned {
			t.Fatalf("height %d: supply %d, want %d + %d minted − %d burned", rec.Height, total, prev, minted, burned)
		}
		prev, minted, burned = total, 0, 0
	}
	for k := ledger.KindTransfer; k <= ledger.KindFaucet; k++ {
		if accepted[k] == 0 {
			t.Errorf("the workload never got a %s accepted", k)
		}
	}
	t.Logf("accepted: %v", accepted)
}

// TestReplay checks that replaying the stored records reproduces every app
// hash, and that tampering with a record is caught.
func TestReplay(t *testing.T) {
	recs := buildChain(t, 2, 60, 16, nil)
	// Records survive their encoding.
	for i, rec := range recs {
		b := rec.Encode()
		got, err := ledger.DecodeBlockRecord(b)
		if err != nil {
			t.Fatalf("block %d: %v", rec.Height, err)
		}
		if !bytes.Equal(got.Encode(), b) {
			t.Fatalf("block %d: record does not round-trip", rec.Height)
		}
		recs[i] = got
	}
	replay := func(recs []ledger.BlockRecord) error {
		r, err := ledger.NewReplayer(ledgertest.Genesis(), ledgertest.Machine)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if err := r.Next(rec); err != nil {
				return err
			}
		}
		return nil
	}
	if err := replay(recs); err != nil {
		t.Fatal(err)
	}

	tamper := map[string]func([]ledger.BlockRecord){
		"app hash": func(r []ledger.BlockRecord) { r[30].AppHash[0] ^= 1 },
		"tx byte": func(r []ledger.BlockRecord) {
			for i := range r {
				for j := range r[i].Txs {
					if r[i].Results[j].Code == ledger.CodeOK {
						r[i].Txs[j][len(r[i].Txs[j])-3] ^= 1 // in the signature
						return
					}
				}
			}
		},
		"result code": func(r []ledger.BlockRecord) {
			for i := range r {
				for j := range r[i].Results {
					if r[i].Results[j].Code != ledger.CodeOK {
						r[i].Results[j].Code = ledger.CodeOK
						return
					}
				}
			}
		},
		"dropped block": func(r []ledger.BlockRecord) { copy(r[10:], r[11:]) },
	}
	for name, mut := range tamper {
		cp := make([]ledger.BlockRecord, len(recs))
		for i, rec := range recs {
			cp[i], _ = ledger.DecodeBlockRecord(rec.Encode()) // deep copy
		}
		mut(cp)
		if err := replay(cp); err == nil {
			t.Errorf("tampered %s: replay did not notice", name)
		} else {
			t.Logf("tampered %s: %v", name, err)
		}
	}
}

// TestSnapshot checks that a state survives its snapshot encoding with the
// same app hash, and that a corrupt snapshot is refused.
func TestSnapshot(t *testing.T) {
	var s *ledger.State
	buildChain(t, 3, 40, 16, func(b *ledger.Builder) { s = b.State() })
	snap := s.Encode()
	got, err := ledger.DecodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	if got.AppHash() != s.AppHash() || !bytes.Equal(got.Encode(), snap) {
		t.Fatal("snapshot round trip changed the state")
	}
	if s.Flatten().AppHash() != s.AppHash() {
		t.Fatal("Flatten changed the app hash")
	}
	for _, cut := range []int{0, 7, len(snap) / 2, len(snap) - 1} {
		if _, err := ledger.DecodeState(snap[:cut]); err == nil {
			t.Errorf("snapshot cut at %d accepted", cut)
		}
	}
}

// finalHash is the app hash after a fixed workload.
func finalHash(t testing.TB) ledger.Hash {
	recs := buildChain(t, 42, 50, 20, nil)
	return recs[len(recs)-1].AppHash
}

// goldenHash pins the app hash of the fixed workload: it changes only if
// the rules, the encodings or the hashing change, which breaks replay of
// existing chains. Update it only deliberately.
const goldenHash = "f8f93228e6bae9e72fd9dc982fc9b773b0861b91bd416102191f842f078a119b"

func TestDeterminism(t *testing.T) {
	a, b := finalHash(t), finalHash(t)
	if a != b {
		t.Fatalf("two runs differ: %s and %s", a, b)
	}
	if a.String() != goldenHash {
		t.Errorf("app hash of the fixed workload is %s, pinned %s: the rules or encodings changed", a, goldenHash)
	}
	// Another process (another map iteration order, another heap layout).
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeterminismChild$")
	cmd.Env = append(os.Environ(), "LEDGER_DETERMINISM_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if h, ok := strings.CutPrefix(line, "apphash "); ok {
			if h != a.String() {
				t.Fatalf("child process got %s, this one %s", h, a)
			}
			return
		}
	}
	t.Fatalf("child printed no app hash:\n%s", out)
}

func TestDeterminismChild(t *testing.T) {
	if os.Getenv("LEDGER_DETERMINISM_CHILD") == "" {
		t.Skip("run by TestDeterminism")
	}
	fmt.Printf("apphash %s\n", finalHash(t))
}
