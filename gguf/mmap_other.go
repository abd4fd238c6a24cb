//go:build !unix

package gguf

import (
	"io"
	"os"
)

// mapFile reads the whole of f into memory: the fallback for systems
// without mmap. The returned release function is nil.
func mapFile(f *os.File, size int) ([]byte, func([]byte) error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, err
	}
	return data, nil, nil
}

// dropPages does nothing where the file was read into memory.
func dropPages([]byte) {}
