package kernels

import (
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the transparent huge page size on the Linux architectures
// Go runs on with 4 KiB base pages (2 MiB on amd64 and arm64).
const hugePage = 2 << 20

// thpMode reads whether transparent huge pages can back memory that asks
// for them.
var thpMadvise = func() bool {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && (strings.Contains(string(b), "[always]") || strings.Contains(string(b), "[madvise]"))
}()

// allocWeights returns size bytes of Go memory whose whole huge pages are
// marked MADV_HUGEPAGE before they are first written, so that the kernel
// backs them with huge pages. Memory the runtime had already used (backed
// by small pages) is asked to be collapsed into huge pages as well; both
// requests are hints, and failures leave ordinary pages.
func allocWeights(size int) []byte {
	if !thpMadvise || size < hugePage {
		return make([]byte, size)
	}
	raw := make([]byte, size+hugePage)
	start := (hugePage - int(uintptr(unsafe.Pointer(&raw[0]))%hugePage)) % hugePage
	buf := raw[start : start+size : start+size]
	whole := size &^ (hugePage - 1)
	_ = unix.Madvise(buf[:whole], unix.MADV_HUGEPAGE)
	return buf
}

// collapseWeights asks the kernel to back b's whole huge pages with huge
// pages now (MADV_COLLAPSE, Linux 6.1+), for memory that was already
// backed by small pages before allocWeights marked it.
func collapseWeights(b []byte) {
	if !thpMadvise || len(b) < hugePage {
		return
	}
	start := (hugePage - int(uintptr(unsafe.Pointer(&b[0]))%hugePage)) % hugePage
	whole := (len(b) - start) &^ (hugePage - 1)
	if whole > 0 {
		_ = unix.Madvise(b[start:start+whole], unix.MADV_COLLAPSE)
	}
}
