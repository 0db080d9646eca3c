package harness

import (
	"os"
	"path/filepath"
	"testing"
)

// A relay's stat line: the name has a space and a parenthesis in it.
const statLine = "4242 (re lay) x) S 1 4242 4242 0 -1 4194560 1047 0 0 0 " +
	"1234 567 0 0 20 0 7 0 893511 1252593664 2345 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n"

const statusText = `Name:	relay
Umask:	0022
State:	S (sleeping)
VmPeak:	 1224016 kB
VmHWM:	   12688 kB
VmRSS:	    9380 kB
Threads:	7
`

const procStat = `cpu  1000 50 300 8000 100 10 20 5 400 0
cpu0 500 25 150 4000 50 5 10 2 200 0
intr 1 2 3
`

func TestParseStatTicks(t *testing.T) {
	n, err := ParseStatTicks(statLine)
	if err != nil || n != 1234+567 {
		t.Fatalf("ticks = %d, %v; want 1801", n, err)
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "12 (x) S 1 2 3 4 5 6 7 8 9 10 u s"} {
		if _, err := ParseStatTicks(bad); err == nil {
			t.Errorf("ParseStatTicks(%q) accepted", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	if kb, err := ParseStatusKB(statusText, "VmHWM"); err != nil || kb != 12688 {
		t.Fatalf("VmHWM = %d, %v", kb, err)
	}
	if kb, _ := ParseStatusKB(statusText, "VmRSS"); kb != 9380 {
		t.Fatalf("VmRSS = %d", kb)
	}
	if _, err := ParseStatusKB(statusText, "VmSwap"); err == nil {
		t.Fatal("missing key accepted")
	}
}

func TestParseSystemCPU(t *testing.T) {
	busy, total, err := ParseSystemCPU(procStat)
	// user+nice+system+irq+softirq+steal; total adds idle+iowait; guest excluded.
	if err != nil || busy != 1000+50+300+10+20+5 || total != busy+8000+100 {
		t.Fatalf("busy %d total %d err %v", busy, total, err)
	}
	if _, _, err := ParseSystemCPU("intr 1 2\n"); err == nil {
		t.Fatal("bad /proc/stat accepted")
	}
}

func TestProcReadsFixtureTree(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "4242", "stat"), statLine)
	write(t, filepath.Join(root, "4242", "status"), statusText)
	write(t, filepath.Join(root, "stat"), procStat)
	write(t, filepath.Join(root, "loadavg"), "3.52 2.10 1.00 4/300 999\n")
	p := Proc{Root: root}
	if n, err := p.CPUTicks(4242); err != nil || n != 1801 {
		t.Fatalf("CPUTicks = %d, %v", n, err)
	}
	if kb, err := p.PeakRSSKB(4242); err != nil || kb != 12688 {
		t.Fatalf("PeakRSSKB = %d, %v", kb, err)
	}
	if la, err := p.LoadAvg(); err != nil || la != 3.52 {
		t.Fatalf("LoadAvg = %v, %v", la, err)
	}
	if err := p.ResetPeakRSS(4242); err != nil {
		t.Fatalf("ResetPeakRSS: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "4242", "clear_refs")); string(b) != "5\n" {
		t.Fatalf("clear_refs got %q", b)
	}
	if _, err := p.CPUTicks(1); err == nil {
		t.Fatal("missing pid accepted")
	}
}

func TestCPUArithmetic(t *testing.T) {
	old := ClockTicks
	defer func() { ClockTicks = old }()
	ClockTicks = 100
	// 480 ticks over 120,000 queries = 4.8 s / 120k = 40 µs per query.
	if got := MicrosPerQuery(TicksToSeconds(480), 120000); got != 40 {
		t.Fatalf("µs/query = %v, want 40", got)
	}
	if MicrosPerQuery(1, 0) != 0 {
		t.Fatal("no queries must give 0")
	}
}

func TestListenerPID(t *testing.T) {
	root := t.TempDir()
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0D58 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
   1: 0100007F:1A85 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0
   2: 0100007F:1A85 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 20 4 30 10 -1
`
	write(t, filepath.Join(root, "net", "tcp"), tcp)
	if got := ListenInodes(tcp, 6789); len(got) != 1 || got[0] != "222" {
		t.Fatalf("ListenInodes(6789) = %v", got)
	}
	mkfd(t, root, "77", "3", "socket:[111]")
	mkfd(t, root, "88", "9", "socket:[222]")
	mkfd(t, root, "99", "4", "socket:[333]")
	if pid, err := (Proc{root}).ListenerPID(6789); err != nil || pid != 88 {
		t.Fatalf("ListenerPID(6789) = %d, %v; want 88", pid, err)
	}
	if _, err := (Proc{root}).ListenerPID(1); err == nil {
		t.Fatal("port without listener accepted")
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkfd(t *testing.T, root, pid, fd, target string) {
	t.Helper()
	dir := filepath.Join(root, pid, "fd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, fd)); err != nil {
		t.Fatal(err)
	}
}

func TestConnectedLocalPorts(t *testing.T) {
	// sl local rem st ... inode: two connections to :25800 (0x64C8), one
	// listening, one to another port, one of another process (inode 99).
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:64C8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10 1 0 100 0 0 10 0
   1: 0100007F:D431 0100007F:64C8 01 00000000:00000000 00:00000000 00000000     0        0 11 1 0 20 4 30 10 -1
   2: 0100007F:D432 0100007F:64C9 01 00000000:00000000 00:00000000 00000000     0        0 12 1 0 20 4 30 10 -1
   3: 0100007F:D433 0100007F:64C8 01 00000000:00000000 00:00000000 00000000     0        0 99 1 0 20 4 30 10 -1
   4: 0100007F:D434 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 13 1 0 20 4 30 10 -1
`
	got := ConnectedLocalPorts(tcp, map[int]bool{25800: true, 25801: true}, map[string]bool{"10": true, "11": true, "12": true, "13": true})
	if len(got) != 2 || !got[0xD431] || !got[0xD432] {
		t.Fatalf("%v", got)
	}
}
