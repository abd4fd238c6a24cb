//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package discovery

import "golang.org/x/sys/unix"

// reuse lets several processes (or hosts in one process) share the mDNS
// port, as every mDNS responder does.
func reuse(fd uintptr) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
