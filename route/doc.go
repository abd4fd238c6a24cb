// Package route holds the pure decisions of a swarm: where a joining node
// should serve (layer choice), whether a serving node should move
// (rebalancing), and which chain of nodes a client should send a session
// through (route planning).
//
// Every function here is a deterministic function of its arguments: no
// clocks, no randomness, no I/O. The caller (package discovery for the
// announcements, package swarm for sessions) supplies what the network
// said and what was measured, including the time where it matters.
//
// # Layer choice (Petals' rule)
//
// Each node announces the layers it serves and its throughput (tokens per
// second through its whole range). The swarm's throughput at layer i is the
// sum over the nodes covering i. A joining node with a memory budget picks,
// among the contiguous ranges it can hold, the one whose sorted per-layer
// throughputs are lexicographically smallest: it covers the weakest layer,
// then the next weakest, and so on. Uncovered layers count as weaker than
// any covered one. See ChooseRange.
//
// # Rebalancing
//
// A serving node re-checks periodically. It moves only when moving would
// raise the swarm's bottleneck (the least throughput over the layers) by a
// clear factor, or would cover layers nobody serves, and never when its
// departure would leave any layer it serves now uncovered. See Rebalance.
//
// # Route planning
//
// A client builds a chain covering [From, To) from candidate nodes with
// measured round-trip times and announced throughputs: a shortest path over
// layer boundaries whose cost is, lexicographically, the number of hops on
// nodes that said they had no free session slot, the number of consecutive
// hops on the same operator, and the estimated latency (RTT plus compute
// time). Two consecutive hops on one operator therefore happen only when no
// alternative exists. See Plan.
package route
