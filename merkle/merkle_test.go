package merkle

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// refRoot is RFC 6962's MTH written directly from the definition.
func refRoot(leaves [][Size]byte) [Size]byte {
	switch n := len(leaves); n {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, leaves[0][:]...))
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		l, r := refRoot(leaves[:k]), refRoot(leaves[k:])
		return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
	}
}

// refPath is RFC 6962's PATH(m, D[n]) written from the definition.
func refPath(m int, leaves [][Size]byte) [][Size]byte {
	n := len(leaves)
	if n <= 1 {
		return nil
	}
	k := 1
	for k*2 < n {
		k *= 2
	}
	if m < k {
		return append(refPath(m, leaves[:k]), refRoot(leaves[k:]))
	}
	return append(refPath(m-k, leaves[k:]), refRoot(leaves[:k]))
}

func makeLeaves(n int, seed uint64) [][Size]byte {
	leaves := make([][Size]byte, n)
	for i := range leaves {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], seed)
		binary.LittleEndian.PutUint64(b[8:], uint64(i))
		leaves[i] = sha256.Sum256(b[:])
	}
	return leaves
}

func TestKnownValues(t *testing.T) {
	if got := hex.EncodeToString(func() []byte { r := Root(nil); return r[:] }()); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("empty root %s", got)
	}
	var zero [Size]byte
	one := Root([][Size]byte{zero})
	if want := sha256.Sum256(make([]byte, 33)); one != want {
		t.Fatalf("one-leaf root %x, want SHA-256(0x00 || 32 zero bytes) = %x", one, want)
	}
	two := Root([][Size]byte{zero, zero})
	if want := HashNode(one, one); two != want {
		t.Fatalf("two-leaf root %x, want %x", two, want)
	}
	// Three leaves: the third is promoted, not duplicated.
	leaves := makeLeaves(3, 1)
	want := HashNode(HashNode(HashLeaf(leaves[0]), HashLeaf(leaves[1])), HashLeaf(leaves[2]))
	if got := Root(leaves); got != want {
		t.Fatalf("three-leaf root %x, want %x", got, want)
	}
	if Root(leaves) == Root(append(leaves, leaves[2])) {
		t.Fatal("duplicating the odd leaf gives the same root")
	}
}

func TestRootMatchesDefinition(t *testing.T) {
	for n := 0; n <= 130; n++ {
		leaves := makeLeaves(n, uint64(n))
		if got, want := Root(leaves), refRoot(leaves); got != want {
			t.Fatalf("n=%d: root %x, want %x", n, got, want)
		}
	}
}

func TestProofEveryIndex(t *testing.T) {
	for n := 1; n <= 33; n++ {
		leaves := makeLeaves(n, 99)
		root := Root(leaves)
		for i := 0; i < n; i++ {
			p := Proof(leaves, i)
			if len(p) != ProofLen(i, n) {
				t.Fatalf("n=%d i=%d: proof of %d hashes, ProofLen says %d", n, i, len(p), ProofLen(i, n))
			}
			ref := refPath(i, leaves)
			if len(ref) != len(p) {
				t.Fatalf("n=%d i=%d: proof length %d, RFC path length %d", n, i, len(p), len(ref))
			}
			for j := range p {
				if p[j] != ref[j] {
					t.Fatalf("n=%d i=%d: proof[%d] differs from RFC 6962 PATH", n, i, j)
				}
			}
			if !Verify(root, leaves[i], i, n, p) {
				t.Fatalf("n=%d i=%d: valid proof rejected", n, i)
			}
			checkTampered(t, root, leaves, i, p)
		}
	}
}

// checkTampered asserts that every small change of a valid proof fails.
func checkTampered(t *testing.T, root [Size]byte, leaves [][Size]byte, i int, p [][Size]byte) {
	t.Helper()
	n := len(leaves)
	fail := func(what string, ok bool) {
		t.Helper()
		if ok {
			t.Fatalf("n=%d i=%d: %s accepted", n, i, what)
		}
	}
	for j := range p {
		q := append([][Size]byte(nil), p...)
		q[j][j%Size] ^= 1
		fail("proof with a flipped bit", Verify(root, leaves[i], i, n, q))
	}
	bad := leaves[i]
	bad[0] ^= 0x80
	fail("wrong leaf", Verify(root, bad, i, n, p))
	badRoot := root
	badRoot[31] ^= 1
	fail("wrong root", Verify(badRoot, leaves[i], i, n, p))
	// The leaf's own hash is not a leaf datum (domain separation).
	fail("leaf hash as datum", Verify(root, HashLeaf(leaves[i]), i, n, p))
	if len(p) > 0 {
		fail("truncated proof", Verify(root, leaves[i], i, n, p[:len(p)-1]))
	}
	fail("extended proof", Verify(root, leaves[i], i, n, append(append([][Size]byte(nil), p...), root)))
	fail("index out of range", Verify(root, leaves[i], n, n, p))
	fail("negative index", Verify(root, leaves[i], -1, n, p))
	for _, j := range []int{i - 1, i + 1} {
		if j >= 0 && j < n && leaves[j] != leaves[i] {
			fail("proof at a different index", Verify(root, leaves[i], j, n, p))
		}
	}
	// A proof is not checked against a tree size it was not made for only
	// when the path shapes differ; RFC 6962 roots do not encode n, so the
	// verifier must know n from a trusted source (see the package doc).
	if m := n + 1; ProofLen(i, m) != len(p) {
		fail("proof for another tree size", Verify(root, leaves[i], i, m, p))
	}
}

func TestProofOutOfRange(t *testing.T) {
	leaves := makeLeaves(5, 3)
	if Proof(leaves, 5) != nil || Proof(leaves, -1) != nil || Proof(nil, 0) != nil {
		t.Fatal("out-of-range proof is not nil")
	}
	if p := Proof(leaves[:1], 0); p == nil || len(p) != 0 {
		t.Fatalf("proof of a one-leaf tree is %v, want empty non-nil", p)
	}
	if !Verify(Root(leaves[:1]), leaves[0], 0, 1, nil) {
		t.Fatal("one-leaf tree: empty proof rejected")
	}
	if Verify(EmptyRoot, [Size]byte{}, 0, 0, nil) {
		t.Fatal("proof into an empty tree accepted")
	}
}

func TestNoAllocations(t *testing.T) {
	leaves := makeLeaves(1000, 5)
	root := Root(leaves)
	buf := make([][Size]byte, 0, 64)
	var p [][Size]byte
	if a := testing.AllocsPerRun(20, func() { root = Root(leaves) }); a != 0 {
		t.Errorf("Root allocates %v times", a)
	}
	if a := testing.AllocsPerRun(20, func() { p = AppendProof(buf[:0], leaves, 777) }); a != 0 {
		t.Errorf("AppendProof allocates %v times", a)
	}
	if a := testing.AllocsPerRun(20, func() {
		if !Verify(root, leaves[777], 777, len(leaves), p) {
			t.Fatal("rejected")
		}
	}); a != 0 {
		t.Errorf("Verify allocates %v times", a)
	}
	if a := testing.AllocsPerRun(20, func() { _ = Proof(leaves, 3) }); a != 1 {
		t.Errorf("Proof allocates %v times, want 1 (the result)", a)
	}
}

func FuzzProof(f *testing.F) {
	f.Add(uint16(1), uint16(0), uint64(0), uint16(0))
	f.Add(uint16(33), uint16(32), uint64(7), uint16(5))
	f.Add(uint16(1000), uint16(511), uint64(1), uint16(300))
	f.Fuzz(func(t *testing.T, n16, i16 uint16, seed uint64, flip uint16) {
		n := int(n16%2048) + 1
		i := int(i16) % n
		leaves := makeLeaves(n, seed)
		root := Root(leaves)
		if root != refRoot(leaves) {
			t.Fatalf("n=%d: root differs from the definition", n)
		}
		p := Proof(leaves, i)
		if !Verify(root, leaves[i], i, n, p) {
			t.Fatalf("n=%d i=%d: valid proof rejected", n, i)
		}
		if len(p) > 0 {
			j := int(flip) % (len(p) * Size * 8)
			p[j/(Size*8)][j/8%Size] ^= 1 << (j % 8)
			if Verify(root, leaves[i], i, n, p) {
				t.Fatalf("n=%d i=%d: tampered proof accepted", n, i)
			}
		}
	})
}

func BenchmarkRoot(b *testing.B) {
	for _, n := range []int{64, 4096} {
		leaves := makeLeaves(n, 1)
		b.Run(itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n * Size))
			for b.Loop() {
				Root(leaves)
			}
		})
	}
}

func BenchmarkProofVerify(b *testing.B) {
	leaves := makeLeaves(4096, 1)
	root := Root(leaves)
	buf := make([][Size]byte, 0, 64)
	b.Run("proof", func(b *testing.B) {
		for b.Loop() {
			buf = AppendProof(buf[:0], leaves, 1234)
		}
	})
	p := Proof(leaves, 1234)
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			Verify(root, leaves[1234], 1234, len(leaves), p)
		}
	})
}

func itoa(n int) string {
	b := []byte{}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestTreeMatchesRootAndProof(t *testing.T) {
	if tr := NewTree(nil); tr.Root() != EmptyRoot || tr.Proof(0) != nil || tr.Len() != 0 {
		t.Fatal("empty tree")
	}
	for n := 1; n <= 70; n++ {
		leaves := makeLeaves(n, 1234)
		tr := NewTree(leaves)
		if tr.Root() != Root(leaves) || tr.Len() != n {
			t.Fatalf("n=%d: Tree root differs from Root", n)
		}
		for i := 0; i < n; i++ {
			p, q := tr.Proof(i), Proof(leaves, i)
			if len(p) != len(q) {
				t.Fatalf("n=%d i=%d: Tree proof has %d hashes, Proof %d", n, i, len(p), len(q))
			}
			for j := range p {
				if p[j] != q[j] {
					t.Fatalf("n=%d i=%d: Tree proof differs at %d", n, i, j)
				}
			}
		}
		if tr.Proof(n) != nil || tr.Proof(-1) != nil {
			t.Fatalf("n=%d: out-of-range Tree proof not nil", n)
		}
	}
}
