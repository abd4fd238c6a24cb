// Package merkle computes binary Merkle trees over SHA-256 as defined by
// RFC 6962 (Certificate Transparency), section 2.1, with its domain
// separation between leaves and interior nodes:
//
//	leaf hash  = SHA-256(0x00 || d)        d: the 32-byte leaf datum
//	node hash  = SHA-256(0x01 || l || r)
//	empty tree = SHA-256("")
//
// The leaves passed to this package are 32-byte data (usually the hash of
// something larger); the package applies the 0x00 leaf prefix itself, so a
// leaf datum can never be confused with an interior node and a proof for a
// leaf can never be replayed as a proof for a subtree.
//
// # Shape of the tree, and odd leaves
//
// The tree over n leaves is RFC 6962's: for n > 1, with k the largest power
// of two smaller than n, the root is node(root(leaves[:k]), root(leaves[k:])).
// Built level by level, this means a node without a sibling (the last node of
// a level with an odd count) is promoted unchanged to the next level: it is
// never duplicated and never hashed with itself, so the duplication weakness
// of Bitcoin's tree (CVE-2012-2459: two different leaf lists with one root)
// does not arise.
//
// The root does not encode the number of leaves, and an inclusion proof is
// checked against the tree size the verifier supplies: a proof for leaf i of
// a 3-leaf tree also passes Verify for i of a claimed 4-leaf tree with the
// same root (no such 4-leaf tree exists, but Verify cannot know). Wherever
// the size matters, bind it to the root from a trusted source (a signed
// header, a committed configuration) as Certificate Transparency does.
//
// Root, Verify and AppendProof (into a buffer of sufficient capacity) do not
// allocate. Proof recomputes the sibling subtrees (O(n) hashes per call);
// to take many proofs from one tree, build a Tree once (O(n) memory) and
// take each proof in O(log n).
package merkle

import (
	"crypto/sha256"
	"math/bits"
	"slices"
)

// Size is the size in bytes of every hash in the tree.
const Size = sha256.Size

// Domain-separation prefixes of RFC 6962.
const (
	LeafPrefix = 0x00
	NodePrefix = 0x01
)

// EmptyRoot is the root of the tree with no leaves: SHA-256 of the empty
// string, as in RFC 6962.
var EmptyRoot = sha256.Sum256(nil)

// HashLeaf returns the hash of a leaf whose datum is d: SHA-256(0x00 || d).
func HashLeaf(d [Size]byte) [Size]byte {
	var b [1 + Size]byte
	b[0] = LeafPrefix
	copy(b[1:], d[:])
	return sha256.Sum256(b[:])
}

// HashNode returns the hash of an interior node: SHA-256(0x01 || l || r).
func HashNode(l, r [Size]byte) [Size]byte {
	var b [1 + 2*Size]byte
	b[0] = NodePrefix
	copy(b[1:], l[:])
	copy(b[1+Size:], r[:])
	return sha256.Sum256(b[:])
}

// Root returns the root of the tree whose leaves are the data leaves (each
// hashed with HashLeaf), or EmptyRoot if there are none.
func Root(leaves [][Size]byte) [Size]byte {
	if len(leaves) == 0 {
		return EmptyRoot
	}
	return subtreeRoot(leaves)
}

// split returns the largest power of two smaller than n (n >= 2).
func split(n int) int {
	return 1 << (bits.Len(uint(n-1)) - 1)
}

// subtreeRoot is RFC 6962's MTH for a non-empty slice. The recursion is
// log2(n) deep and each leaf and node is hashed once.
func subtreeRoot(leaves [][Size]byte) [Size]byte {
	n := len(leaves)
	if n == 1 {
		return HashLeaf(leaves[0])
	}
	// Perfect subtrees (power-of-two size) are the common case for the
	// left half; compute them bottom-up in a small fixed stack to avoid
	// deep recursion and repeated slicing.
	if n&(n-1) == 0 {
		return perfectRoot(leaves)
	}
	k := split(n)
	return HashNode(perfectRoot(leaves[:k]), subtreeRoot(leaves[k:]))
}

// perfectRoot returns the root of a tree whose size is a power of two,
// iteratively, with a stack of at most 64 pending subtree roots.
func perfectRoot(leaves [][Size]byte) [Size]byte {
	var stack [64][Size]byte
	top := 0
	for i := range leaves {
		h := HashLeaf(leaves[i])
		// Merge with completed left siblings: leaf i closes one subtree per
		// trailing one bit of i.
		for j := i; j&1 == 1; j >>= 1 {
			top--
			h = HashNode(stack[top], h)
		}
		stack[top] = h
		top++
	}
	return stack[0]
}

// ProofLen returns the number of hashes in the inclusion proof of leaf i in
// a tree of n leaves, or -1 if i is not in [0, n).
func ProofLen(i, n int) int {
	if i < 0 || i >= n {
		return -1
	}
	l := 0
	for n > 1 {
		k := split(n)
		if i < k {
			n = k
		} else {
			i -= k
			n -= k
		}
		l++
	}
	return l
}

// Proof returns the inclusion proof (RFC 6962 audit path) of leaf i in the
// tree over leaves: the sibling subtree roots from the leaf's level up to
// the root. It returns nil if i is out of range; the proof of the only leaf
// of a one-leaf tree is empty (non-nil).
func Proof(leaves [][Size]byte, i int) [][Size]byte {
	l := ProofLen(i, len(leaves))
	if l < 0 {
		return nil
	}
	return AppendProof(make([][Size]byte, 0, l), leaves, i)
}

// AppendProof appends the inclusion proof of leaf i to dst and returns the
// extended slice; it does not allocate when dst has capacity for
// ProofLen(i, len(leaves)) more hashes. It returns dst unchanged if i is out
// of range.
func AppendProof(dst [][Size]byte, leaves [][Size]byte, i int) [][Size]byte {
	l := ProofLen(i, len(leaves))
	if l < 0 {
		return dst
	}
	// Descend from the root, writing each sibling at its level's position:
	// the sibling met at depth d belongs at index l-1-d (the path is listed
	// bottom-up).
	base := len(dst)
	dst = slices.Grow(dst, l)[:base+l] // no allocation within capacity
	d := 0
	for len(leaves) > 1 {
		k := split(len(leaves))
		if i < k {
			dst[base+l-1-d] = subtreeRoot(leaves[k:])
			leaves = leaves[:k]
		} else {
			dst[base+l-1-d] = perfectRoot(leaves[:k])
			leaves = leaves[k:]
			i -= k
		}
		d++
	}
	return dst
}

// Verify reports whether proof shows that leaf (the datum, before leaf
// hashing) is the i-th of the n leaves of the tree with the given root. It
// follows RFC 9162 section 2.1.3.2. A proof with too few or too many
// hashes, a wrong index or a wrong tree size fails.
func Verify(root, leaf [Size]byte, i, n int, proof [][Size]byte) bool {
	if i < 0 || i >= n {
		return false
	}
	fn, sn := uint64(i), uint64(n-1)
	r := HashLeaf(leaf)
	for _, p := range proof {
		if sn == 0 {
			return false // proof longer than the path
		}
		if fn&1 == 1 || fn == sn {
			r = HashNode(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = HashNode(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && r == root
}

// Tree holds every level of a Merkle tree, so that many proofs can be
// taken in O(log n) each after one O(n) build (Proof recomputes sibling
// subtrees, O(n) per call). Its root and proofs equal those of Root and
// Proof over the same leaves. A Tree is immutable and safe for concurrent
// use.
type Tree struct {
	levels [][][Size]byte // levels[0]: leaf hashes; last: the root alone
	n      int
}

// NewTree builds the tree over leaves (data, hashed with HashLeaf). It
// allocates about 2n hashes.
func NewTree(leaves [][Size]byte) *Tree {
	t := &Tree{n: len(leaves)}
	if len(leaves) == 0 {
		return t
	}
	total := 0
	for m := len(leaves); ; m = (m + 1) / 2 {
		total += m
		if m == 1 {
			break
		}
	}
	buf := make([][Size]byte, total)
	level := buf[:len(leaves)]
	buf = buf[len(leaves):]
	for i := range leaves {
		level[i] = HashLeaf(leaves[i])
	}
	t.levels = append(t.levels, level)
	for len(level) > 1 {
		m := (len(level) + 1) / 2
		next := buf[:m]
		buf = buf[m:]
		for j := 0; j+1 < len(level); j += 2 {
			next[j/2] = HashNode(level[j], level[j+1])
		}
		if len(level)%2 == 1 {
			next[m-1] = level[len(level)-1] // promoted, not duplicated
		}
		t.levels = append(t.levels, next)
		level = next
	}
	return t
}

// Len is the number of leaves.
func (t *Tree) Len() int { return t.n }

// Root returns the root (EmptyRoot for no leaves).
func (t *Tree) Root() [Size]byte {
	if t.n == 0 {
		return EmptyRoot
	}
	return t.levels[len(t.levels)-1][0]
}

// Proof returns the inclusion proof of leaf i, as Proof does, or nil if i
// is out of range.
func (t *Tree) Proof(i int) [][Size]byte {
	l := ProofLen(i, t.n)
	if l < 0 {
		return nil
	}
	return t.AppendProof(make([][Size]byte, 0, l), i)
}

// AppendProof appends the inclusion proof of leaf i to dst, as the
// package-level AppendProof does.
func (t *Tree) AppendProof(dst [][Size]byte, i int) [][Size]byte {
	if i < 0 || i >= t.n {
		return dst
	}
	for _, level := range t.levels[:len(t.levels)-1] {
		if s := i ^ 1; s < len(level) {
			dst = append(dst, level[s])
		}
		i >>= 1
	}
	return dst
}
