package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// MaxUnbonding is the most unbonds an account may have pending at once.
const MaxUnbonding = 16

// EvidenceChecker decides whether fraud evidence against a node is valid.
// It is the state machine's only plug-in, so it must be as pure as the
// state machine: the same node and evidence always give the same answer on
// every machine and every architecture, with no clock, randomness or
// network. It returns nil for valid evidence, or an error saying why the
// evidence proves nothing; a panic counts as such an error. If it cannot
// decide on this machine (it reads weights from disk and lacks them), it
// returns an error wrapping ErrCannotJudge, which is not a verdict. (The
// proof package provides the real checker; tests use fakes.)
type EvidenceChecker interface {
	CheckEvidence(node PubKey, evidence []byte) error
}

// EvidenceFunc adapts a function to EvidenceChecker.
type EvidenceFunc func(node PubKey, evidence []byte) error

// CheckEvidence calls f.
func (f EvidenceFunc) CheckEvidence(node PubKey, evidence []byte) error { return f(node, evidence) }

// Machine is the ledger's state machine: pure and deterministic, with no
// I/O, clock or randomness. The same transactions applied in the same
// order to the same state give the same state, events and app hash.
type Machine struct {
	// Evidence checks fraud evidence; nil rejects all evidence.
	Evidence EvidenceChecker
}

// Apply applies tx in the block at s.Height() and returns the new state
// (a layer over s, see State.Fork) and what happened. If tx is invalid it
// returns s itself, unchanged, and a *RejectError saying why.
func (m Machine) Apply(s *State, tx *Tx) (*State, []Event, error) {
	l := s.Fork()
	ev, err := m.apply(l, tx)
	if err != nil {
		return s, nil, err
	}
	return l, ev, nil
}

func (m Machine) apply(s *State, tx *Tx) ([]Event, error) {
	if tx == nil || tx.Body == nil {
		return nil, reject(CodeMalformed, "no transaction body")
	}
	md := s.meta()
	if tx.ChainID != md.ChainID {
		return nil, reject(CodeWrongChain, "signed for chain %q, this is %q", tx.ChainID, md.ChainID)
	}
	if err := checkLimits(tx); err != nil {
		return nil, err
	}
	if !tx.VerifySignature() {
		return nil, reject(CodeBadSignature, "sender signature does not verify")
	}
	sender := s.Account(tx.Sender)
	switch {
	case tx.Nonce < sender.Nonce:
		return nil, reject(CodeBadNonce, "nonce %d already used (replay); next is %d", tx.Nonce, sender.Nonce)
	case tx.Nonce > sender.Nonce:
		return nil, reject(CodeBadNonce, "nonce %d is ahead; next is %d", tx.Nonce, sender.Nonce)
	}
	c := &txContext{s: s, md: &md, tx: tx}
	var err error
	switch b := tx.Body.(type) {
	case *Transfer:
		err = c.transfer(b)
	case *Stake:
		err = c.stake(b)
	case *Unstake:
		err = c.unstake(b)
	case *RegisterNode:
		err = c.registerNode(b)
	case *SubmitCertificate:
		err = c.certificate(b)
	case *SubmitEvidence:
		err = c.evidence(b, m.Evidence)
	case *Faucet:
		err = c.faucet(b)
	default:
		err = reject(CodeMalformed, "unknown transaction body %T", tx.Body)
	}
	if err != nil {
		return nil, err
	}
	a := s.Account(tx.Sender)
	a.Nonce++
	s.putAccount(tx.Sender, a)
	s.putMeta(md)
	return c.events, nil
}

// checkLimits applies the encoding's limits to a transaction built in
// memory rather than decoded.
func checkLimits(tx *Tx) error {
	switch b := tx.Body.(type) {
	case *SubmitCertificate:
		if len(b.Work) > MaxWork {
			return reject(CodeMalformed, "certificate lists %d nodes, more than %d", len(b.Work), MaxWork)
		}
	case *SubmitEvidence:
		if len(b.Evidence) > MaxEvidence {
			return reject(CodeMalformed, "evidence of %d bytes exceeds %d", len(b.Evidence), MaxEvidence)
		}
	}
	return nil
}

// txContext holds one transaction's application; md is written back to the
// state when the transaction succeeds.
type txContext struct {
	s      *State
	md     *meta
	tx     *Tx
	events []Event
}

func (c *txContext) emit(typ string, kv ...string) { c.events = append(c.events, event(typ, kv...)) }

func positive(what string, v uint64) error {
	if v == 0 {
		return reject(CodeInvalid, "%s must be positive", what)
	}
	return nil
}

// credit adds v to k's balance.
func (c *txContext) credit(k PubKey, v uint64) error {
	a := c.s.Account(k)
	b, ok := add(a.Balance, v)
	if !ok {
		return reject(CodeOverflow, "balance of %s would overflow", k)
	}
	a.Balance = b
	c.s.putAccount(k, a)
	return nil
}

// debit takes v from k's balance.
func (c *txContext) debit(k PubKey, v uint64, what string) error {
	a := c.s.Account(k)
	if a.Balance < v {
		return reject(CodeInsufficientFunds, "%s needs %d, balance of %s is %d", what, v, k, a.Balance)
	}
	a.Balance -= v
	c.s.putAccount(k, a)
	return nil
}

func (c *txContext) transfer(b *Transfer) error {
	if err := positive("transfer amount", b.Amount); err != nil {
		return err
	}
	if b.To == c.tx.Sender {
		return reject(CodeInvalid, "transfer to self")
	}
	if err := c.debit(c.tx.Sender, b.Amount, "transfer"); err != nil {
		return err
	}
	if err := c.credit(b.To, b.Amount); err != nil {
		return err
	}
	c.emit("transfer", "from", c.tx.Sender.String(), "to", b.To.String(), "amount", u64s(b.Amount))
	return nil
}

func (c *txContext) stake(b *Stake) error {
	if err := positive("stake amount", b.Amount); err != nil {
		return err
	}
	a := c.s.Account(c.tx.Sender)
	if a.Balance < b.Amount {
		return reject(CodeInsufficientFunds, "stake needs %d, balance is %d", b.Amount, a.Balance)
	}
	a.Balance -= b.Amount
	a.Stake += b.Amount
	c.s.putAccount(c.tx.Sender, a)
	c.emit("stake", "account", c.tx.Sender.String(), "amount", u64s(b.Amount))
	return nil
}

func (c *txContext) unstake(b *Unstake) error {
	if err := positive("unstake amount", b.Amount); err != nil {
		return err
	}
	a := c.s.Account(c.tx.Sender)
	if a.Stake < b.Amount {
		return reject(CodeInsufficientFunds, "unstake of %d, stake is %d", b.Amount, a.Stake)
	}
	release, ok := add(c.s.height, c.md.Params.UnbondingBlocks)
	if !ok {
		return reject(CodeOverflow, "release height overflows")
	}
	if n := len(a.Unbonding); n > 0 && a.Unbonding[n-1].Release == release {
		a.Unbonding[n-1].Amount += b.Amount
	} else {
		if n >= MaxUnbonding {
			return reject(CodeInvalid, "%d unbonds already pending (the limit); wait for one to end", n)
		}
		a.Unbonding = append(a.Unbonding, Unbond{Amount: b.Amount, Release: release})
		q := c.s.queue(release)
		if !slices.Contains(q, c.tx.Sender) {
			c.s.putQueue(release, append(q, c.tx.Sender))
		}
	}
	a.Stake -= b.Amount
	c.s.putAccount(c.tx.Sender, a)
	c.emit("unstake", "account", c.tx.Sender.String(), "amount", u64s(b.Amount), "release_height", u64s(release))
	return nil
}

func (c *txContext) registerNode(b *RegisterNode) error {
	if err := positive("capacity", b.Capacity); err != nil {
		return err
	}
	k := c.tx.Sender
	if n, ok := c.s.Node(k); ok {
		if n.Excluded {
			return reject(CodeExcluded, "node %s was excluded for fraud at height %d", k, n.ExcludedAt)
		}
		n.Capacity = b.Capacity
		c.s.putNode(k, n)
		c.emit("node_updated", "node", k.String(), "capacity", u64s(b.Capacity))
		return nil
	}
	if st := c.s.Account(k).Stake; st < c.md.Params.MinNodeStake {
		return reject(CodeInsufficientFunds, "a node needs a stake of %d, stake is %d", c.md.Params.MinNodeStake, st)
	}
	c.s.putNode(k, Node{Capacity: b.Capacity, Registered: c.s.height})
	c.emit("node_registered", "node", k.String(), "capacity", u64s(b.Capacity))
	return nil
}

// Settlement is how a certificate moves credits.
type Settlement struct {
	Charged uint64   // debited from the client
	Fee     uint64   // credited to the auditor
	Earned  []uint64 // credited to each Work[i].Node
}

// Settle computes a certificate's settlement under p: the charge is
// PricePerTokenLayer × Σ Layers×Positions; the auditor's fee is
// AuditorFeeBps of it; if the audit passed the client pays the charge and
// the nodes share charge − fee in proportion to their work units (rounded
// down, the remainder to the first node); if it failed the client pays
// only the fee. ok is false if an amount overflows.
func Settle(p Params, passed bool, work []Work) (s Settlement, ok bool) {
	units := make([]uint64, len(work))
	var total uint64
	for i, w := range work {
		if units[i], ok = w.Units(); !ok {
			return s, false
		}
		if total, ok = add(total, units[i]); !ok {
			return s, false
		}
	}
	charge, ok := mul(p.PricePerTokenLayer, total)
	if !ok {
		return s, false
	}
	s.Fee = mulDiv(charge, uint64(p.AuditorFeeBps), 10000)
	s.Earned = make([]uint64, len(work))
	if !passed || total == 0 {
		s.Charged = s.Fee
		return s, true
	}
	s.Charged = charge
	pool := charge - s.Fee
	var paid uint64
	for i := range work {
		s.Earned[i] = mulDiv(pool, units[i], total)
		paid += s.Earned[i]
	}
	s.Earned[0] += pool - paid
	return s, true
}

// Quote is what a client pays for a session that runs layers layers over
// positions token positions, if its audit passes: PricePerTokenLayer ×
// layers × positions. ok is false if that overflows. Nodes use it to turn
// away clients whose balance cannot pay.
func Quote(p Params, layers, positions uint64) (price uint64, ok bool) {
	units, ok := mul(layers, positions)
	if !ok {
		return 0, false
	}
	return mul(p.PricePerTokenLayer, units)
}

func (c *txContext) certificate(b *SubmitCertificate) error {
	if c.tx.Sender != b.Client {
		return reject(CodeUnauthorized, "a certificate is submitted by its client %s, not %s", b.Client, c.tx.Sender)
	}
	if _, dup := c.s.Certificate(b.ID); dup {
		return reject(CodeDuplicate, "certificate %s already settled", b.ID)
	}
	if err := positive("token count", b.Tokens); err != nil {
		return err
	}
	if len(b.Work) == 0 {
		return reject(CodeInvalid, "certificate lists no work")
	}
	seen := make(map[PubKey]bool, len(b.Work))
	for i, w := range b.Work {
		if seen[w.Node] {
			return reject(CodeInvalid, "node %s listed twice", w.Node)
		}
		seen[w.Node] = true
		if w.Layers == 0 || w.Positions == 0 {
			return reject(CodeInvalid, "work %d of node %s: layers and positions must be positive", i, w.Node)
		}
		if w.Positions > b.Tokens {
			return reject(CodeInvalid, "work %d of node %s: %d positions, more than the %d tokens", i, w.Node, w.Positions, b.Tokens)
		}
		n, ok := c.s.Node(w.Node)
		if !ok {
			return reject(CodeUnknownNode, "certificate node %s is not registered", w.Node)
		}
		if n.Excluded {
			return reject(CodeExcluded, "certificate node %s was excluded for fraud", w.Node)
		}
	}
	if !verify(b.Auditor, b.CertSignBytes(c.md.ChainID), b.AuditorSig) {
		return reject(CodeBadSignature, "auditor signature does not verify")
	}
	st, ok := Settle(c.md.Params, b.Passed, b.Work)
	if !ok {
		return reject(CodeOverflow, "certificate charge overflows")
	}
	if err := c.debit(b.Client, st.Charged, "certificate"); err != nil {
		return err
	}
	if err := c.credit(b.Auditor, st.Fee); err != nil {
		return err
	}
	for i, w := range b.Work {
		if err := c.credit(w.Node, st.Earned[i]); err != nil {
			return err
		}
		n, _ := c.s.Node(w.Node)
		if b.Passed {
			units, _ := w.Units()
			var ok1, ok2 bool
			n.WorkUnits, ok1 = add(n.WorkUnits, units)
			n.Earned, ok2 = add(n.Earned, st.Earned[i])
			if !ok1 || !ok2 {
				return reject(CodeOverflow, "work record of node %s overflows", w.Node)
			}
			n.Certificates++
		} else {
			n.FailedAudits++
		}
		c.s.putNode(w.Node, n)
	}
	c.s.putCert(Certificate{
		ID: b.ID, Model: b.Model, Client: b.Client, Auditor: b.Auditor, Tokens: b.Tokens,
		Passed: b.Passed, Work: slices.Clone(b.Work), Height: c.s.height,
		Charged: st.Charged, Fee: st.Fee, Earned: st.Earned,
	})
	c.emit("certificate", "id", b.ID.String(), "client", b.Client.String(), "auditor", b.Auditor.String(),
		"passed", fmt.Sprint(b.Passed), "charged", u64s(st.Charged), "auditor_fee", u64s(st.Fee))
	for i, w := range b.Work {
		c.emit("payment", "node", w.Node.String(), "amount", u64s(st.Earned[i]), "certificate", b.ID.String())
	}
	return nil
}

func (c *txContext) evidence(b *SubmitEvidence, checker EvidenceChecker) (err error) {
	n, ok := c.s.Node(b.Node)
	if !ok {
		return reject(CodeUnknownNode, "accused node %s is not registered", b.Node)
	}
	if b.Node == c.tx.Sender {
		return reject(CodeUnauthorized, "a node cannot report itself")
	}
	if len(b.Evidence) == 0 {
		return reject(CodeInvalid, "empty evidence")
	}
	eh := Hash(sha256.Sum256(b.Evidence))
	if _, dup := c.s.Fraud(eh); dup {
		return reject(CodeDuplicate, "evidence %s already recorded", eh)
	}
	if n.Excluded {
		return reject(CodeExcluded, "node %s was already excluded at height %d", b.Node, n.ExcludedAt)
	}
	if checker == nil {
		return reject(CodeDisabled, "this ledger has no evidence checker")
	}
	if err := checkEvidence(checker, b.Node, b.Evidence); err != nil {
		if errors.Is(err, ErrCannotJudge) {
			return reject(CodeUnjudgeable, "%v", err)
		}
		return reject(CodeInvalidEvidence, "%v", err)
	}

	a := c.s.Account(b.Node)
	slash := mulDiv(a.Stake+a.UnbondingTotal(), uint64(c.md.Params.SlashBps), 10000)
	take := min(slash, a.Stake)
	a.Stake -= take
	rest := slash - take
	for i := range a.Unbonding {
		t := min(rest, a.Unbonding[i].Amount)
		a.Unbonding[i].Amount -= t
		rest -= t
	}
	a.Unbonding = slices.DeleteFunc(a.Unbonding, func(u Unbond) bool { return u.Amount == 0 })
	c.s.putAccount(b.Node, a)
	reward := mulDiv(slash, uint64(c.md.Params.ReporterRewardBps), 10000)
	burn := slash - reward
	if err := c.credit(c.tx.Sender, reward); err != nil {
		return err
	}
	c.md.Supply.Burned += burn
	n.Excluded = true
	n.ExcludedAt = c.s.height
	c.s.putNode(b.Node, n)
	c.s.putFraud(Fraud{Evidence: eh, Node: b.Node, Reporter: c.tx.Sender, Height: c.s.height,
		Slashed: slash, Reward: reward, Burned: burn})
	c.emit("slash", "node", b.Node.String(), "reporter", c.tx.Sender.String(), "evidence", eh.String(),
		"slashed", u64s(slash), "reward", u64s(reward), "burned", u64s(burn))
	return nil
}

// checkEvidence calls the checker, turning a panic into a rejection so
// that a checker bug cannot stop the chain (it panics alike everywhere).
func checkEvidence(ch EvidenceChecker, node PubKey, ev []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("evidence checker failed: %v", r)
		}
	}()
	return ch.CheckEvidence(node, ev)
}

func (c *txContext) faucet(b *Faucet) error {
	p := c.md.Params
	if !p.DevMode {
		return reject(CodeDisabled, "the faucet exists only in dev mode")
	}
	if err := positive("faucet amount", b.Amount); err != nil {
		return err
	}
	if b.Amount > p.FaucetMax {
		return reject(CodeInvalid, "faucet grant of %d exceeds the limit of %d", b.Amount, p.FaucetMax)
	}
	minted, ok := add(c.md.Supply.Minted, b.Amount)
	if !ok || c.md.Supply.Total() > ^uint64(0)-b.Amount {
		return reject(CodeOverflow, "supply would overflow")
	}
	if err := c.credit(c.tx.Sender, b.Amount); err != nil {
		return err
	}
	c.md.Supply.Minted = minted
	c.emit("faucet", "account", c.tx.Sender.String(), "amount", u64s(b.Amount))
	return nil
}

// BeginBlock starts block height on s: it returns a layer over s at that
// height with the unbonds that end at it released to their balances.
// height must follow s.Height().
func (m Machine) BeginBlock(s *State, height uint64) (*State, []Event, error) {
	if height != s.height+1 {
		return s, nil, fmt.Errorf("ledger: block %d does not follow height %d", height, s.height)
	}
	l := s.Fork()
	l.height = height
	var events []Event
	q := l.queue(height)
	for _, k := range q {
		a := l.Account(k)
		var released uint64
		a.Unbonding = slices.DeleteFunc(a.Unbonding, func(u Unbond) bool {
			if u.Release <= height {
				released += u.Amount
				return true
			}
			return false
		})
		a.Balance += released
		l.putAccount(k, a)
		if released > 0 {
			events = append(events, event("unbonded", "account", k.String(), "amount", u64s(released)))
		}
	}
	if len(q) > 0 {
		l.dropQueue(height)
	}
	return l, events, nil
}

func verify(k PubKey, msg []byte, sig Signature) bool {
	return ed25519.Verify(k[:], msg, sig[:])
}

// --- checked arithmetic ---

func add(a, b uint64) (uint64, bool) {
	s, carry := bits.Add64(a, b, 0)
	return s, carry == 0
}

func mul(a, b uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	return lo, hi == 0
}

// mulDiv returns ⌊a·b/c⌋ for b ≤ c (so the result fits), c > 0.
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, c)
	return q
}
