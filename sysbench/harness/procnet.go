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
