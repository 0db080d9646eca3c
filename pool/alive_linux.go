package pool

import "golang.org/x/sys/unix"

// peerClosed reports whether the peer of the TCP socket fd has sent its
// FIN (the socket is in CLOSE_WAIT), whatever bytes are still unread.
func peerClosed(fd uintptr) bool {
	info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	return err == nil && info.State == unix.BPF_TCP_CLOSE_WAIT
}
