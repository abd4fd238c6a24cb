// Package ledger is Tessera's ledger state machine (DESIGN.md section 6):
// accounts keyed by Ed25519 public keys, registered nodes, settled
// certificates with per-node work units, fraud records, and the rules that
// move credits between them.
//
// The package is pure in the manner of etcd's raft: no network, disk,
// clock or randomness. A store feeds it blocks of encoded transactions and
// persists what it returns (package ledger/blocklog, used by the embedded
// store ledger/solo and the CometBFT application ledger/abci). The core
// step is
//
//	s2, events, err := Machine{Evidence: checker}.Apply(s, tx)
//
// where a rejected transaction returns s unchanged and a *RejectError with
// a Code and a reason. Blocks are built with Machine.NewBlock (or applied
// whole with ApplyBlock), each ending in an app hash: the Merkle root
// (package merkle, RFC 6962) of the canonical encoding of every state
// record. Replayer re-applies stored block records from genesis and checks
// every result and app hash.
//
// # Transactions
//
// A Tx carries the chain id, the sender's key, the sender's next nonce, a
// body and the sender's signature of SignBytes. The encoding (Encode,
// DecodeTx) is canonical: one value, one byte string. Bodies:
//
//   - Transfer: balance to another account.
//   - Stake / Unstake: bond balance; unbond stake, which stays slashable
//     for Params.UnbondingBlocks blocks and then returns to the balance at
//     the start of a block.
//   - RegisterNode: become a serving node (stake ≥ Params.MinNodeStake), or
//     update the announced capacity.
//   - SubmitCertificate: the client settles a verified session. The charge
//     is PricePerTokenLayer × Σ layers×positions over the nodes' work; the
//     auditor (whose signature attests the work and the outcome) earns
//     AuditorFeeBps of it; the nodes share the rest by work units. A failed
//     audit charges the client the fee only and pays the nodes nothing.
//   - SubmitEvidence: fraud evidence against a node, re-checked by the
//     Machine's EvidenceChecker. Valid evidence takes SlashBps of the
//     node's stake (bonded, then unbonding), pays ReporterRewardBps of that
//     to the reporter, burns the rest, and excludes the node for good.
//   - Faucet: mint up to FaucetMax, in dev mode only.
//
// # Invariants
//
// Balances and stakes are unsigned and every debit is checked first, so
// nothing goes negative. The sum of every account's balance, stake and
// unbonding equals Supply.Total(): genesis plus faucet mints minus burns;
// transfers, stakes, certificate payments and slashing rewards only move
// credits.
package ledger
