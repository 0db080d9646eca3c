// Package mgr runs rwproxy (in-process) in front of a real MySQL Group
// Replication group: three members of MySQL 9.x, single-primary, started
// once by `scripts/sandbox mgr-up` inside a Debian sid chroot (see
// docs/monitor.md, "Group Replication"). It checks that the monitor's
// group_replication_hostgroups placement routes writes to the PRIMARY and
// reads to the SECONDARY members, and follows switchover, a killed primary,
// applier lag, non-ONLINE members and loss of quorum.
//
// When the package mirror refuses to build the chroot, `mgr-up` prints
// "SKIP mgr: <reason>" and exits 77; this package then prints that line and
// skips every test. Every other problem fails.
package mgr

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rwproxy/rwproxy/internal/testkit"
)

// defaultBasePort: members listen on 23826..23828, group communication on
// 23836..23838 (the MariaDB sandbox tests use 234xx, 235xx and 237xx).
// RWPROXY_MGR_BASE_PORT overrides it.
const defaultBasePort = 23826

var (
	// grp is the package's group, shared by every test (they run in
	// order; each starts from three ONLINE members, see ensureGroup).
	grp *testkit.MGR
	// skipReason is set when the group cannot run here (mirror refused).
	skipReason string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	port, err := testkit.BasePort("RWPROXY_MGR_BASE_PORT", defaultBasePort, 20)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mgr:", err)
		return 1
	}
	start := time.Now()
	g, err := testkit.StartMGR(port)
	if errors.Is(err, testkit.ErrMGRUnavailable) {
		reason := strings.TrimPrefix(err.Error(), testkit.ErrMGRUnavailable.Error()+": ")
		fmt.Printf("SKIP mgr: %s\n", reason)
		skipReason = "SKIP mgr: " + reason
		return m.Run() // every test skips
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mgr: cannot start the group: %v\n", err)
		return 1
	}
	grp = g
	fmt.Printf("mgr: %s: 3 members ONLINE in %.1fs (ports %v)\n", g.Version, time.Since(start).Seconds(), g.Ports)
	disarm := g.StopOnExit()
	defer func() {
		t0 := time.Now()
		if err := g.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "mgr: stopping the group: %v\n", err)
		}
		fmt.Printf("mgr: group stopped in %.1fs\n", time.Since(t0).Seconds())
		disarm()
	}()
	if _, err := g.SQL(1, schema); err != nil {
		fmt.Fprintf(os.Stderr, "mgr: creating the test tables: %v\n", err)
		return 1
	}
	return m.Run()
}

// schema is created on member 1 (the primary after mgr-up).
const schema = `CREATE TABLE app.rw (id BIGINT AUTO_INCREMENT PRIMARY KEY, port INT NOT NULL, uuid CHAR(36) NOT NULL);
CREATE TABLE app.failover (seq INT PRIMARY KEY, port INT NOT NULL);
CREATE TABLE app.lag (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL)`

// needGroup skips the test when the group could not be built here.
func needGroup(t *testing.T) {
	t.Helper()
	if grp == nil {
		if skipReason == "" {
			t.Fatal("the group is not running")
		}
		t.Skip(skipReason)
	}
}
