package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// peers are the other proxies the harness starts beside rwproxy.
type peers struct {
	proxysql, haproxy *proc
	servers           []*sql.DB // one per sandbox server, user app2: status and processlist
}

// rwproxyThreads is the most threads rwproxy may use (its GOMAXPROCS at
// start; with threads: 0 it runs on fewer while one is enough): it inherits
// the harness's environment and cgroup limits, so it is the harness's own.
func rwproxyThreads() int { return runtime.GOMAXPROCS(0) }

func (b *bench) peerPorts() []int {
	var ps []int
	if b.o.proxysqlBin != "" {
		ps = append(ps, b.ports.proxysql, b.ports.proxysqlAdmin)
	}
	if b.o.haproxyBin != "" {
		ps = append(ps, b.ports.haproxy)
	}
	return ps
}

// startPeers starts ProxySQL and HAProxy when asked for, each with its
// configuration written to the scratch directory, and waits until they
// serve: HAProxy accepts connections, ProxySQL answers a read through its
// reader hostgroup.
func (b *bench) startPeers(ctx context.Context) error {
	if err := portsFree(b.peerPorts()...); err != nil {
		return err
	}
	if bin := b.o.haproxyBin; bin != "" {
		conf := filepath.Join(b.work, "haproxy.cfg")
		if err := os.WriteFile(conf, []byte(haproxyConfig(b.ports, rwproxyThreads())), 0o644); err != nil {
			return err
		}
		var err error
		if b.peers.haproxy, err = startProc("haproxy", filepath.Join(b.work, "haproxy.log"), b.work, bin, "-db", "-f", conf); err != nil {
			return err
		}
		if err := b.peers.haproxy.waitListening(ctx, b.haproxyAddr()); err != nil {
			return err
		}
	}
	if bin := b.o.proxysqlBin; bin != "" {
		data := filepath.Join(b.work, "proxysql-data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			return err
		}
		conf := filepath.Join(b.work, "proxysql.cnf")
		if err := os.WriteFile(conf, []byte(proxysqlConfig(b.ports, data, rwproxyThreads())), 0o644); err != nil {
			return err
		}
		if err := b.startProxySQL(ctx); err != nil {
			return err
		}
	}
	return nil
}

// startProxySQL starts ProxySQL on the configuration startPeers wrote
// (--initial: its datadir is reset from it) and waits until it serves.
func (b *bench) startProxySQL(ctx context.Context) error {
	var err error
	b.peers.proxysql, err = startProc("proxysql", filepath.Join(b.work, "proxysql.out"), b.work, b.o.proxysqlBin,
		"-f", "--initial", "--no-version-check", "-c", filepath.Join(b.work, "proxysql.cnf"), "-D", filepath.Join(b.work, "proxysql-data"))
	if err != nil {
		return err
	}
	if err := b.peers.proxysql.waitListening(ctx, b.proxysqlAddr()); err != nil {
		return err
	}
	return b.waitServes(ctx, b.peers.proxysql, b.proxysqlAddr())
}

// waitServes polls a read through addr until it succeeds (ProxySQL
// listens before its monitor has sorted the servers), p exits, ctx ends
// or 30 s pass.
func (b *bench) waitServes(ctx context.Context, p *proc, addr string) error {
	db, err := openDB("app", "app", addr, "sbtest")
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := db.QueryRowContext(qctx, "SELECT COUNT(*) FROM sbtest1 WHERE id <= 10").Scan(&n)
		cancel()
		switch {
		case err == nil:
			return nil
		case !p.alive():
			return fmt.Errorf("%s exited (see its log)", p.name)
		case time.Now().After(deadline):
			return fmt.Errorf("%s does not serve a read through %s after 30s: %v", p.name, addr, err)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func openDB(user, pass, addr, schema string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, pass, "tcp", addr, schema
	cfg.Timeout, cfg.ReadTimeout = 5*time.Second, 30*time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	return db, nil
}

// openServers opens one connection per sandbox server as app2, for the
// servers' traffic counters and the backend connection count; app2 is not
// the benchmark's user, so these connections never count as a proxy's.
func (b *bench) openServers(context.Context) error {
	for n := range 3 {
		db, err := openDB("app2", "app2", fmt.Sprintf("127.0.0.1:%d", b.ports.primary+n), "")
		if err != nil {
			return err
		}
		b.peers.servers = append(b.peers.servers, db)
	}
	return nil
}

func (b *bench) proxysqlAddr() string { return fmt.Sprintf("127.0.0.1:%d", b.ports.proxysql) }
func (b *bench) haproxyAddr() string  { return fmt.Sprintf("127.0.0.1:%d", b.ports.haproxy) }

// addPeerTargets puts HAProxy after the relay (the floors side by side)
// and ProxySQL after rwproxy, and accounts their processes.
func (b *bench) addPeerTargets() {
	insertAfter := func(after string, t harness.Target) {
		i := slices.IndexFunc(b.targets, func(x harness.Target) bool { return x.Name == after })
		b.targets = slices.Insert(b.targets, i+1, t)
	}
	if p := b.peers.haproxy; p != nil {
		insertAfter(harness.Relay, harness.Target{Name: harness.HAProxy, Addr: b.haproxyAddr(), Kind: harness.HAProxy})
		b.pids[harness.HAProxy] = p.pid()
		b.proxies = append(b.proxies, p.pid())
	}
	if p := b.peers.proxysql; p != nil {
		insertAfter(harness.RWProxy, harness.Target{Name: harness.ProxySQL, Addr: b.proxysqlAddr(), Kind: harness.ProxySQL})
		b.pids[harness.ProxySQL] = p.pid()
		b.proxies = append(b.proxies, p.pid())
	}
}

func (b *bench) stopPeers() {
	b.peers.proxysql.stop(10 * time.Second)
	b.peers.haproxy.stop(5 * time.Second)
	for _, db := range b.peers.servers {
		_ = db.Close()
	}
}

// serverBytes sums Bytes_received and Bytes_sent over the servers; ok is
// false when one could not be read.
func (b *bench) serverBytes(ctx context.Context) (recv, sent int64, ok bool) {
	if len(b.peers.servers) == 0 {
		return 0, 0, false
	}
	for _, db := range b.peers.servers {
		rows, err := db.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Bytes_received', 'Bytes_sent')")
		if err != nil {
			return 0, 0, false
		}
		for rows.Next() {
			var k string
			var v int64
			if rows.Scan(&k, &v) != nil {
				continue
			}
			if k == "Bytes_received" {
				recv += v
			} else {
				sent += v
			}
		}
		if rows.Close() != nil || rows.Err() != nil {
			return 0, 0, false
		}
	}
	return recv, sent, true
}

// backendConns counts the benchmark user's connections on the servers
// that are pid's: PROCESSLIST rows of user app (not the monitor's, not the
// harness's app2) whose client port is one of pid's connections to the
// servers. Other proxies' pools on the same servers do not count.
func (b *bench) backendConns(ctx context.Context, pid int) (int, error) {
	per, err := b.backendConnsByServer(ctx, pid)
	return per[0] + per[1] + per[2], err
}

// backendConnsByServer is backendConns per sandbox server (primary first).
func (b *bench) backendConnsByServer(ctx context.Context, pid int) ([3]int, error) {
	var per [3]int
	remote := map[int]bool{}
	for n := range 3 {
		remote[b.ports.primary+n] = true
	}
	mine, err := b.proc.ConnectedPorts(pid, remote)
	if err != nil {
		return per, err
	}
	for i, db := range b.peers.servers {
		rows, err := db.QueryContext(ctx, "SELECT HOST FROM information_schema.PROCESSLIST WHERE USER = 'app'")
		if err != nil {
			return per, err
		}
		for rows.Next() {
			var host string
			if rows.Scan(&host) != nil {
				continue
			}
			_, port, _ := net.SplitHostPort(host)
			if n, err := strconv.Atoi(port); err == nil && mine[n] && i < len(per) {
				per[i]++
			}
		}
		if err := errors.Join(rows.Close(), rows.Err()); err != nil {
			return per, err
		}
	}
	return per, nil
}

// poolView is the proxy's own account of its backend connections, read
// from its admin interface (rwproxy's and ProxySQL's
// stats_mysql_connection_pool): per server, connections in use, idle,
// opened so far and the most in use at once. "" when t has no such view.
func (b *bench) poolView(ctx context.Context, t harness.Target) string {
	var port int
	switch t.Kind {
	case harness.RWProxy:
		if t.Name != harness.RWProxy {
			return "" // a -consistency variant: its admin port is its own
		}
		port = b.ports.admin
	case harness.ProxySQL:
		port = b.ports.proxysqlAdmin
	default:
		return ""
	}
	db, err := openDB("admin", "admin", fmt.Sprintf("127.0.0.1:%d", port), "")
	if err != nil {
		return err.Error()
	}
	defer func() { _ = db.Close() }()
	rows, err := db.QueryContext(ctx, "SELECT hostgroup, srv_port, ConnUsed, ConnFree, ConnOK, MaxConnUsed FROM stats_mysql_connection_pool")
	if err != nil {
		return err.Error()
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var hg, port, used, free, ok, maxUsed string
		if rows.Scan(&hg, &port, &used, &free, &ok, &maxUsed) == nil {
			out = append(out, fmt.Sprintf("hg %s :%s used %s free %s opened %s max used %s", hg, port, used, free, ok, maxUsed))
		}
	}
	return fmt.Sprint(out)
}
