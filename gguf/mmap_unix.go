//go:build unix

package gguf

import (
	"os"

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
