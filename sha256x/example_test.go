package sha256x_test

import (
	"crypto/sha256"
	"fmt"

	"github.com/tessera-net/tessera/sha256x"
)

func ExampleSumMany() {
	msgs := [][]byte{[]byte("abc"), []byte(""), make([]byte, 8192)}
	out := make([][32]byte, len(msgs))
	sha256x.SumMany(out, msgs)
	fmt.Printf("%x\n", out[0][:4])
	fmt.Println(out[2] == sha256.Sum256(make([]byte, 8192)))
	// Output:
	// ba7816bf
	// true
}
