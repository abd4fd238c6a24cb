//go:build unix

package gguf

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile maps size bytes of f read-only and shared, and returns the
// mapping and the function that releases it.
func mapFile(f *os.File, size int) ([]byte, func([]byte) error, error) {
	if size == 0 {
		return nil, nil, nil // mmap of length 0 fails; parse reports the empty file
	}
	data, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	return data, unix.Munmap, nil
}

// dropPages tells the kernel the process no longer needs the whole pages
// inside b resident. For a shared read-only file mapping this only unmaps
// them from the process: the data stays in the page cache and a later
// access faults it back in unchanged.
func dropPages(b []byte) {
	if len(b) == 0 {
		return
	}
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(&b[0]))
	end := start + uintptr(len(b))
	first := (start + page - 1) &^ (page - 1)
	last := end &^ (page - 1)
	if last <= first {
		return
	}
	off := int(first - start)
	_ = unix.Madvise(b[off:off+int(last-first)], unix.MADV_DONTNEED)
}
