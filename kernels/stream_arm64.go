//go:build arm64 && !purego

package kernels

//go:noescape
func readXORNEON(p *byte, n int) uint64

func init() {
	readXOR = func(b []byte) uint64 {
		if len(b) == 0 {
			return 0
		}
		return readXORNEON(&b[0], len(b)/readUnit)
	}
}
