//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package discovery

// reuse is a no-op where SO_REUSEPORT is not known: only one mDNS
// listener per machine there.
func reuse(fd uintptr) error { return nil }
