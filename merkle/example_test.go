package merkle_test

import (
	"crypto/sha256"
	"fmt"

	"github.com/tessera-net/tessera/merkle"
)

// Commit to five records, then prove and check that the fourth is among them.
func Example() {
	var leaves [][merkle.Size]byte
	for _, rec := range []string{"a", "b", "c", "d", "e"} {
		leaves = append(leaves, sha256.Sum256([]byte(rec)))
	}
	root := merkle.Root(leaves)
	proof := merkle.Proof(leaves, 3)
	fmt.Println(len(proof), merkle.Verify(root, leaves[3], 3, len(leaves), proof))
	fmt.Println(merkle.Verify(root, leaves[3], 2, len(leaves), proof))
	// Output:
	// 3 true
	// false
}
