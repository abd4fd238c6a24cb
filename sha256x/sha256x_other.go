//go:build !amd64 || purego

package sha256x

// useMulti is false where no multi-buffer kernel exists.
var useMulti = false

// minLanes is unused without a multi-buffer kernel.
const minLanes = 1

func sumMulti(out [][32]byte, msgs [][]byte) { sumEach(out, msgs) }
