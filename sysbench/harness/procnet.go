package harness

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ListenInodes returns the socket inodes listening on port, from the text
// of /proc/net/tcp or /proc/net/tcp6 (state 0A is LISTEN).
func ListenInodes(netTCP string, port int) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(netTCP))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if p, err := strconv.ParseInt(hexPort, 16, 32); ok && err == nil && int(p) == port {
			out = append(out, f[9])
		}
	}
	return out
}

// ListenerPID finds the process that has a socket listening on TCP port
// (any address) open, by matching socket inodes against /proc/*/fd. It is
// how the harness finds the process behind an extra name=host:port target.
func (p Proc) ListenerPID(port int) (int, error) {
	want := map[string]bool{}
	for _, f := range []string{"tcp", "tcp6"} {
		s, _ := p.read("net", f)
		for _, ino := range ListenInodes(s, port) {
			want["socket:["+ino+"]"] = true
		}
	}
	if len(want) == 0 {
		return 0, fmt.Errorf("nothing listens on port %d", port)
	}
	fds, _ := filepath.Glob(filepath.Join(p.Root, "[0-9]*", "fd", "*"))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && want[l] {
			return strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(fd))))
		}
	}
	return 0, fmt.Errorf("port %d: listening socket found but no process holds it (not ours to see?)", port)
}

// ConnectedLocalPorts returns the local ports of the established TCP
// connections in a /proc/net/tcp text whose remote port is in remote and
// whose socket inode is in inodes.
func ConnectedLocalPorts(netTCP string, remote map[int]bool, inodes map[string]bool) map[int]bool {
	out := map[int]bool{}
	sc := bufio.NewScanner(strings.NewReader(netTCP))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "01" || !inodes[f[9]] { // 01 is ESTABLISHED
			continue
		}
		_, lp, ok1 := strings.Cut(f[1], ":")
		_, rp, ok2 := strings.Cut(f[2], ":")
		l, err1 := strconv.ParseInt(lp, 16, 32)
		r, err2 := strconv.ParseInt(rp, 16, 32)
		if ok1 && ok2 && err1 == nil && err2 == nil && remote[int(r)] {
			out[int(l)] = true
		}
	}
	return out
}

// ConnectedPorts returns the local ports of pid's established TCP
// connections to any of the remote ports: which of the servers' client
// connections are pid's.
func (p Proc) ConnectedPorts(pid int, remote map[int]bool) (map[int]bool, error) {
	fds, err := os.ReadDir(filepath.Join(p.Root, strconv.Itoa(pid), "fd"))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(p.Root, strconv.Itoa(pid), "fd", fd.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); ok && err == nil {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	out := map[int]bool{}
	for _, f := range []string{"tcp", "tcp6"} {
		s, _ := p.read(strconv.Itoa(pid), "net", f)
		for port := range ConnectedLocalPorts(s, remote, inodes) {
			out[port] = true
		}
	}
	return out, nil
}
