//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func readXORAVX2(p *byte, n int) uint64

func init() {
	if cpu.X86.HasAVX2 {
		readXOR = func(b []byte) uint64 {
			if len(b) == 0 {
				return 0
			}
			return readXORAVX2(&b[0], len(b)/readUnit)
		}
	}
}
