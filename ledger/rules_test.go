package ledger_test

import (
	"crypto/sha256"
	"math"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/ledger"
)

type ruleCase struct {
	name  string
	setup func(c *chain) []*ledger.Tx // must all succeed
	tx    func(c *chain) *ledger.Tx
	code  ledger.Code
	check func(t *testing.T, before, after *ledger.State)
	mach  *ledger.Machine // default: machine (with the fake checker)
}

// registered registers n1 and n2 as nodes.
func registered(c *chain) []*ledger.Tx {
	return []*ledger.Tx{
		c.tx("n1", &ledger.RegisterNode{Capacity: 8}),
		c.tx("n2", &ledger.RegisterNode{Capacity: 4}),
	}
}

func wantAccount(t *testing.T, s *ledger.State, name string, balance, stake uint64) {
	t.Helper()
	a := s.Account(pub(name))
	if a.Balance != balance || a.Stake != stake {
		t.Errorf("%s: balance %d stake %d, want %d and %d", name, a.Balance, a.Stake, balance, stake)
	}
}

func withSig(tx *ledger.Tx, mut func(*ledger.Tx)) *ledger.Tx {
	mut(tx)
	return tx
}

func ruleCases() []ruleCase {
	n1 := pub("n1")
	return []ruleCase{
		// --- envelope: signature, chain, nonce, limits ---
		{name: "transfer ok", tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", &ledger.Transfer{To: pub("bob"), Amount: 100})
		}, check: func(t *testing.T, _, s *ledger.State) {
			wantAccount(t, s, "alice", 1_000_000-100, 0)
			wantAccount(t, s, "bob", 1100, 0)
			if n := s.Account(pub("alice")).Nonce; n != 1 {
				t.Errorf("alice nonce %d, want 1", n)
			}
		}},
		{name: "transfer to a new account", tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", &ledger.Transfer{To: pub("carol"), Amount: 7})
		}, check: func(t *testing.T, _, s *ledger.State) { wantAccount(t, s, "carol", 7, 0) }},
		{name: "bad signature", code: ledger.CodeBadSignature, tx: func(c *chain) *ledger.Tx {
			return withSig(c.tx("alice", &ledger.Transfer{To: pub("bob"), Amount: 1}), func(tx *ledger.Tx) { tx.Sig[5] ^= 1 })
		}},
		{name: "signed by someone else", code: ledger.CodeBadSignature, tx: func(c *chain) *ledger.Tx {
			return withSig(c.tx("bob", &ledger.Transfer{To: pub("bob"), Amount: 1}), func(tx *ledger.Tx) { tx.Sender = pub("alice") })
		}},
		{name: "body changed after signing", code: ledger.CodeBadSignature, tx: func(c *chain) *ledger.Tx {
			return withSig(c.tx("alice", &ledger.Transfer{To: pub("bob"), Amount: 1}), func(tx *ledger.Tx) {
				tx.Body.(*ledger.Transfer).Amount = 1000
			})
		}},
		{name: "wrong chain", code: ledger.CodeWrongChain, tx: func(c *chain) *ledger.Tx {
			c.id = "other-chain"
			return c.tx("alice", &ledger.Transfer{To: pub("bob"), Amount: 1})
		}},
		{name: "replayed nonce", code: ledger.CodeBadNonce,
			setup: func(c *chain) []*ledger.Tx {
				return []*ledger.Tx{c.tx("alice", &ledger.Transfer{To: pub("bob"), Amount: 1})}
			},
			tx: func(c *chain) *ledger.Tx {
				c.nonces[pub("alice")] = 0
				return c.tx("alice", &ledger.Transfer{To: pub("bob"), Amount: 1})
			}},
		{name: "nonce ahead", code: ledger.CodeBadNonce, tx: func(c *chain) *ledger.Tx {
			c.nonces[pub("alice")] = 5
			return c.tx("alice", &ledger.Transfer{To: pub("bob"), Amount: 1})
		}},
		{name: "no body", code: ledger.CodeMalformed, tx: func(c *chain) *ledger.Tx {
			return &ledger.Tx{ChainID: testChain}
		}},

		// --- transfer ---
		{name: "transfer zero", code: ledger.CodeInvalid, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", &ledger.Transfer{To: pub("bob"), Amount: 0})
		}},
		{name: "transfer to self", code: ledger.CodeInvalid, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", &ledger.Transfer{To: pub("alice"), Amount: 1})
		}},
		{name: "transfer overdraft", code: ledger.CodeInsufficientFunds, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.Transfer{To: pub("alice"), Amount: 1001})
		}},
		{name: "transfer from an empty account", code: ledger.CodeInsufficientFunds, tx: func(c *chain) *ledger.Tx {
			return c.tx("nobody", &ledger.Transfer{To: pub("alice"), Amount: 1})
		}},
		{name: "transfer of stake is not possible", code: ledger.CodeInsufficientFunds, tx: func(c *chain) *ledger.Tx {
			return c.tx("n3", &ledger.Transfer{To: pub("alice"), Amount: 1})
		}},

		// --- stake / unstake ---
		{name: "stake ok", tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.Stake{Amount: 400})
		}, check: func(t *testing.T, _, s *ledger.State) { wantAccount(t, s, "bob", 600, 400) }},
		{name: "stake zero", code: ledger.CodeInvalid, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.Stake{})
		}},
		{name: "stake more than balance", code: ledger.CodeInsufficientFunds, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.Stake{Amount: 1001})
		}},
		{name: "unstake ok", tx: func(c *chain) *ledger.Tx {
			return c.tx("n1", &ledger.Unstake{Amount: 1500})
		}, check: func(t *testing.T, _, s *ledger.State) {
			a := s.Account(n1)
			if a.Stake != 2500 || a.Balance != 100 || len(a.Unbonding) != 1 ||
				a.Unbonding[0] != (ledger.Unbond{Amount: 1500, Release: 3}) {
				t.Errorf("after unstake: %+v", a)
			}
		}},
		{name: "unstake twice in a block merges", setup: func(c *chain) []*ledger.Tx {
			return []*ledger.Tx{c.tx("n1", &ledger.Unstake{Amount: 1000})}
		}, tx: func(c *chain) *ledger.Tx {
			return c.tx("n1", &ledger.Unstake{Amount: 500})
		}, check: func(t *testing.T, _, s *ledger.State) {
			a := s.Account(n1)
			if len(a.Unbonding) != 1 || a.Unbonding[0].Amount != 1500 {
				t.Errorf("unbonding %+v, want one entry of 1500", a.Unbonding)
			}
		}},
		{name: "unstake zero", code: ledger.CodeInvalid, tx: func(c *chain) *ledger.Tx {
			return c.tx("n1", &ledger.Unstake{})
		}},
		{name: "unstake more than stake", code: ledger.CodeInsufficientFunds, tx: func(c *chain) *ledger.Tx {
			return c.tx("n1", &ledger.Unstake{Amount: 4001})
		}},

		// --- register node ---
		{name: "register ok", tx: func(c *chain) *ledger.Tx {
			return c.tx("n1", &ledger.RegisterNode{Capacity: 8})
		}, check: func(t *testing.T, _, s *ledger.State) {
			if n, ok := s.Node(n1); !ok || n.Capacity != 8 || n.Excluded {
				t.Errorf("node %+v registered %v", n, ok)
			}
		}},
		{name: "register updates capacity", setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("n1", &ledger.RegisterNode{Capacity: 16})
		}, check: func(t *testing.T, _, s *ledger.State) {
			if n, _ := s.Node(n1); n.Capacity != 16 {
				t.Errorf("capacity %d, want 16", n.Capacity)
			}
		}},
		{name: "register below minimum stake", code: ledger.CodeInsufficientFunds, tx: func(c *chain) *ledger.Tx {
			return c.tx("n3", &ledger.RegisterNode{Capacity: 1})
		}},
		{name: "register zero capacity", code: ledger.CodeInvalid, tx: func(c *chain) *ledger.Tx {
			return c.tx("n1", &ledger.RegisterNode{})
		}},
		{name: "register an excluded node", code: ledger.CodeExcluded, setup: func(c *chain) []*ledger.Tx {
			return append(registered(c), c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + n1.String())}))
		}, tx: func(c *chain) *ledger.Tx {
			return c.tx("n1", &ledger.RegisterNode{Capacity: 8})
		}},

		// --- certificate ---
		{name: "certificate passed", setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "aud", 10, true, work("n1", 4, 10), work("n2", 2, 10)))
		}, check: func(t *testing.T, _, s *ledger.State) {
			// 60 units × price 2 = 120; fee 10% = 12; nodes share 108 as 40:20.
			wantAccount(t, s, "alice", 1_000_000-120, 0)
			wantAccount(t, s, "aud", 12, 0)
			wantAccount(t, s, "n1", 100+72, 4000)
			wantAccount(t, s, "n2", 100+36, 2000)
			if n, _ := s.Node(n1); n.WorkUnits != 40 || n.Earned != 72 || n.Certificates != 1 {
				t.Errorf("n1 record %+v", n)
			}
			cr, ok := s.Certificate(sha256.Sum256([]byte("c1")))
			if !ok || cr.Charged != 120 || cr.Fee != 12 || cr.Earned[0] != 72 || cr.Earned[1] != 36 || !cr.Passed {
				t.Errorf("certificate record %+v (found %v)", cr, ok)
			}
		}},
		{name: "certificate failed audit pays only the auditor", setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "aud", 10, false, work("n1", 4, 10), work("n2", 2, 10)))
		}, check: func(t *testing.T, _, s *ledger.State) {
			wantAccount(t, s, "alice", 1_000_000-12, 0)
			wantAccount(t, s, "aud", 12, 0)
			wantAccount(t, s, "n1", 100, 4000)
			if n, _ := s.Node(n1); n.WorkUnits != 0 || n.FailedAudits != 1 || n.Certificates != 0 {
				t.Errorf("n1 record %+v", n)
			}
		}},
		{name: "certificate audited by its client", setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "alice", 10, true, work("n1", 4, 10)))
		}, check: func(t *testing.T, _, s *ledger.State) {
			wantAccount(t, s, "alice", 1_000_000-80+8, 0)
		}},
		{name: "certificate submitted by someone else", code: ledger.CodeUnauthorized, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", cert("c1", "alice", "aud", 10, true, work("n1", 4, 10)))
		}},
		{name: "certificate settled twice", code: ledger.CodeDuplicate, setup: func(c *chain) []*ledger.Tx {
			return append(registered(c), c.tx("alice", cert("c1", "alice", "aud", 10, true, work("n1", 4, 10))))
		}, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "aud", 10, true, work("n1", 4, 10)))
		}},
		{name: "certificate with an unknown node", code: ledger.CodeUnknownNode, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "aud", 10, true, work("n1", 4, 10), work("n3", 1, 10)))
		}},
		{name: "certificate with an excluded node", code: ledger.CodeExcluded, setup: func(c *chain) []*ledger.Tx {
			return append(registered(c), c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + n1.String())}))
		}, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "aud", 10, true, work("n1", 4, 10)))
		}},
		{name: "certificate without tokens", code: ledger.CodeInvalid, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "aud", 0, true, work("n1", 4, 0)))
		}},
		{name: "certificate without work", code: ledger.CodeInvalid, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "aud", 10, true))
		}},
		{name: "certificate lists a node twice", code: ledger.CodeInvalid, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "aud", 10, true, work("n1", 4, 10), work("n1", 4, 10)))
		}},
		{name: "certificate with zero layers", code: ledger.CodeInvalid, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "aud", 10, true, work("n1", 0, 10)))
		}},
		{name: "certificate with more positions than tokens", code: ledger.CodeInvalid, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "aud", 10, true, work("n1", 4, 11)))
		}},
		{name: "certificate with a forged auditor signature", code: ledger.CodeBadSignature, setup: registered, tx: func(c *chain) *ledger.Tx {
			ct := cert("c1", "alice", "aud", 10, true, work("n1", 4, 10))
			ct.Passed = false // changed after the auditor signed
			return c.tx("alice", ct)
		}},
		{name: "certificate signed by the auditor for another chain", code: ledger.CodeBadSignature, setup: registered, tx: func(c *chain) *ledger.Tx {
			ct := cert("c1", "alice", "aud", 10, true, work("n1", 4, 10))
			ct.SignAuditor("other-chain", priv("aud"))
			return c.tx("alice", ct)
		}},
		{name: "certificate the client cannot pay", code: ledger.CodeInsufficientFunds, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", cert("c1", "bob", "aud", 1000, true, work("n1", 1, 1000))) // 2000 > 1000
		}},
		{name: "certificate charge overflows", code: ledger.CodeOverflow, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", cert("c1", "alice", "aud", math.MaxUint64, true, work("n1", math.MaxUint32, math.MaxUint64)))
		}},
		{name: "certificate over the work limit", code: ledger.CodeMalformed, setup: registered, tx: func(c *chain) *ledger.Tx {
			ws := make([]ledger.Work, ledger.MaxWork+1)
			return c.tx("alice", cert("c1", "alice", "aud", 10, true, ws...))
		}},

		// --- evidence ---
		{name: "evidence ok", setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + n1.String())})
		}, check: func(t *testing.T, before, s *ledger.State) {
			// stake 4000: slash 2000, reporter 400, burn 1600.
			wantAccount(t, s, "n1", 100, 2000)
			wantAccount(t, s, "bob", 1400, 0)
			if n, _ := s.Node(n1); !n.Excluded {
				t.Error("node not excluded")
			}
			if got := s.Supply().Burned - before.Supply().Burned; got != 1600 {
				t.Errorf("burned %d, want 1600", got)
			}
			f, ok := s.Fraud(sha256.Sum256([]byte("fraud:" + n1.String())))
			if !ok || f.Slashed != 2000 || f.Reward != 400 || f.Burned != 1600 || f.Reporter != pub("bob") {
				t.Errorf("fraud record %+v (found %v)", f, ok)
			}
		}},
		{name: "evidence slashes unbonding stake too", setup: func(c *chain) []*ledger.Tx {
			return append(registered(c), c.tx("n1", &ledger.Unstake{Amount: 3000}))
		}, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + n1.String())})
		}, check: func(t *testing.T, _, s *ledger.State) {
			a := s.Account(n1)
			if a.Stake != 0 || a.UnbondingTotal() != 2000 {
				t.Errorf("after slash: stake %d unbonding %d, want 0 and 2000", a.Stake, a.UnbondingTotal())
			}
		}},
		{name: "evidence against an unknown node", code: ledger.CodeUnknownNode, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + n1.String())})
		}},
		{name: "evidence against an excluded node", code: ledger.CodeExcluded, setup: func(c *chain) []*ledger.Tx {
			return append(registered(c), c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + n1.String())}))
		}, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + n1.String() + ":again")})
		}},
		{name: "evidence reported twice", code: ledger.CodeDuplicate, setup: func(c *chain) []*ledger.Tx {
			return append(registered(c), c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + n1.String())}))
		}, tx: func(c *chain) *ledger.Tx {
			return c.tx("alice", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + n1.String())})
		}},
		{name: "evidence reported by the node itself", code: ledger.CodeUnauthorized, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("n1", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + n1.String())})
		}},
		{name: "empty evidence", code: ledger.CodeInvalid, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.SubmitEvidence{Node: n1})
		}},
		{name: "evidence the checker rejects", code: ledger.CodeInvalidEvidence, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + pub("n2").String())})
		}},
		{name: "evidence checker panics", code: ledger.CodeInvalidEvidence, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("panic")})
		}},
		{name: "evidence the checker cannot judge here", code: ledger.CodeUnjudgeable, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("unjudgeable")})
		}},
		{name: "evidence without a checker", code: ledger.CodeDisabled, mach: &ledger.Machine{}, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: []byte("fraud:" + n1.String())})
		}},
		{name: "evidence over the size limit", code: ledger.CodeMalformed, setup: registered, tx: func(c *chain) *ledger.Tx {
			return c.tx("bob", &ledger.SubmitEvidence{Node: n1, Evidence: make([]byte, ledger.MaxEvidence+1)})
		}},

		// --- faucet ---
		{name: "faucet ok", tx: func(c *chain) *ledger.Tx {
			return c.tx("carol", &ledger.Faucet{Amount: 1000})
		}, check: func(t *testing.T, before, s *ledger.State) {
			wantAccount(t, s, "carol", 1000, 0)
			if got := s.Supply().Minted - before.Supply().Minted; got != 1000 {
				t.Errorf("minted %d, want 1000", got)
			}
		}},
		{name: "faucet zero", code: ledger.CodeInvalid, tx: func(c *chain) *ledger.Tx {
			return c.tx("carol", &ledger.Faucet{})
		}},
		{name: "faucet over the limit", code: ledger.CodeInvalid, tx: func(c *chain) *ledger.Tx {
			return c.tx("carol", &ledger.Faucet{Amount: 1001})
		}},
	}
}

func TestRules(t *testing.T) {
	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := newChain()
			s := genesisState(t)
			if tc.setup != nil {
				s = mustApply(t, s, tc.setup(c)...)
			}
			m := machine
			if tc.mach != nil {
				m = *tc.mach
			}
			before := s
			hash := s.AppHash()
			after, events, err := m.Apply(s, tc.tx(c))
			if got := ledger.CodeOf(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if tc.code != ledger.CodeOK {
				if after != before || before.AppHash() != hash || events != nil {
					t.Fatal("a rejected transaction changed the state")
				}
				if !strings.Contains(err.Error(), tc.code.String()) || len(err.(*ledger.RejectError).Reason) == 0 {
					t.Errorf("error %q does not give the code and a reason", err)
				}
				return
			}
			if after.AppHash() == hash {
				t.Error("app hash unchanged by an accepted transaction")
			}
			if len(events) == 0 {
				t.Error("no events")
			}
			if got, want := sumAccounts(after), after.Supply().Total(); got != want {
				t.Errorf("accounts hold %d, supply is %d", got, want)
			}
			if tc.check != nil {
				tc.check(t, before, after)
			}
		})
	}
}

func TestFaucetOffOutsideDevMode(t *testing.T) {
	g := testGenesis()
	g.Params.DevMode = false
	g.Params.FaucetMax = 0
	s, err := ledger.NewState(g)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = machine.Apply(s, newChain().tx("carol", &ledger.Faucet{Amount: 1}))
	if ledger.CodeOf(err) != ledger.CodeDisabled {
		t.Fatalf("faucet outside dev mode: %v", err)
	}
}

func TestUnbondingReleasesAfterDelay(t *testing.T) {
	c := newChain()
	s := genesisState(t)
	var err error
	if s, _, err = machine.BeginBlock(s, 1); err != nil {
		t.Fatal(err)
	}
	s = mustApply(t, s, c.tx("n1", &ledger.Unstake{Amount: 1000})) // releases at 1+3
	for h := uint64(2); h <= 4; h++ {
		var ev []ledger.Event
		if s, ev, err = machine.BeginBlock(s, h); err != nil {
			t.Fatal(err)
		}
		a := s.Account(pub("n1"))
		if h < 4 && (a.Balance != 100 || len(ev) != 0) {
			t.Fatalf("height %d: released early: %+v", h, a)
		}
		if h == 4 && (a.Balance != 1100 || a.Stake != 3000 || len(a.Unbonding) != 0 || len(ev) != 1 || ev[0].Type != "unbonded") {
			t.Fatalf("height 4: %+v, events %v", a, ev)
		}
	}
	if _, _, err := machine.BeginBlock(s, 6); err == nil {
		t.Fatal("BeginBlock accepted a skipped height")
	}
}

func TestUnbondingLimit(t *testing.T) {
	var err error
	// One unstake per block, each ending in its own future block.
	g := testGenesis()
	g.Params.UnbondingBlocks = 1000
	s, _ := ledger.NewState(g)
	c := newChain()
	for h := uint64(1); h <= ledger.MaxUnbonding+1; h++ {
		if s, _, err = machine.BeginBlock(s, h); err != nil {
			t.Fatal(err)
		}
		s, _, err = machine.Apply(s, c.tx("n1", &ledger.Unstake{Amount: 1}))
		if h <= ledger.MaxUnbonding && err != nil {
			t.Fatalf("unstake %d: %v", h, err)
		}
		if h == ledger.MaxUnbonding+1 && ledger.CodeOf(err) != ledger.CodeInvalid {
			t.Fatalf("unstake beyond the limit: %v", err)
		}
		s = s.Flatten()
	}
}

func TestSettleRemainder(t *testing.T) {
	p := testParams()
	p.PricePerTokenLayer = 10
	p.AuditorFeeBps = 0
	st, ok := ledger.Settle(p, true, []ledger.Work{work("a", 1, 1), work("b", 1, 1), work("c", 1, 1)})
	if !ok || st.Charged != 30 || st.Earned[0] != 10 || st.Earned[1] != 10 {
		t.Fatalf("%+v", st)
	}
	p.PricePerTokenLayer = 1
	p.AuditorFeeBps = 3334 // charge 3, fee 1, the nodes share 2 over 3 equal units
	st, _ = ledger.Settle(p, true, []ledger.Work{work("a", 1, 1), work("b", 1, 1), work("c", 1, 1)})
	if st.Fee != 1 || st.Earned[0] != 2 || st.Earned[1] != 0 || st.Earned[2] != 0 {
		t.Fatalf("remainder goes to the first node: %+v", st)
	}
}

func TestGenesisValidation(t *testing.T) {
	bad := map[string]func(*ledger.Genesis){
		"empty chain id":      func(g *ledger.Genesis) { g.ChainID = "" },
		"chain id with space": func(g *ledger.Genesis) { g.ChainID = "a b" },
		"fee above 100%":      func(g *ledger.Genesis) { g.Params.AuditorFeeBps = 10001 },
		"no unbonding delay":  func(g *ledger.Genesis) { g.Params.UnbondingBlocks = 0 },
		"faucet without dev":  func(g *ledger.Genesis) { g.Params.DevMode = false },
		"duplicate account":   func(g *ledger.Genesis) { g.Accounts = append(g.Accounts, g.Accounts[0]) },
		"supply overflow": func(g *ledger.Genesis) {
			g.Accounts = append(g.Accounts, ledger.GenesisAccount{Key: pub("rich"), Balance: math.MaxUint64})
		},
	}
	for name, mut := range bad {
		g := testGenesis()
		mut(&g)
		if _, err := ledger.NewState(g); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	b, err := ledger.MarshalGenesis(testGenesis())
	if err != nil {
		t.Fatal(err)
	}
	g, err := ledger.ParseGenesis(b)
	if err != nil || g.Accounts[0].Key != pub("alice") || g.Params != testParams() {
		t.Fatalf("genesis JSON round trip: %v %+v", err, g)
	}
}

// TestUnjudgeableBlock checks that a block holding evidence this machine
// cannot judge is not applied (CometBFT) and that the transaction is left
// out without a verdict (solo).
func TestUnjudgeableBlock(t *testing.T) {
	c := newChain()
	s := mustApply(t, genesisState(t), registered(c)...)
	ev := c.tx("bob", &ledger.SubmitEvidence{Node: pub("n1"), Evidence: []byte("unjudgeable")}).Encode()
	ok := newChain().tx("carol", &ledger.Faucet{Amount: 1}).Encode()

	b, _ := machine.NewBlock(s, 1, 0)
	if _, accepted := b.TryApply(ev); accepted || b.Err() != nil {
		t.Fatalf("TryApply: accepted %v, err %v", accepted, b.Err())
	}
	b.TryApply(ok)
	if rec, _ := b.Finish(); len(rec.Txs) != 1 {
		t.Fatalf("solo block holds %d transactions, want the faucet only", len(rec.Txs))
	}

	if _, _, err := machine.ApplyBlock(s, ledger.Block{Height: 1, Txs: [][]byte{ok, ev}}); err == nil ||
		!strings.Contains(err.Error(), "cannot apply") {
		t.Fatalf("ApplyBlock of a block this node cannot judge: %v", err)
	}
}
