package integration

import (
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// The attacks added by issue #17: pre-login header floods, long-data
// floods, a 10 MB IN list and stalled readers. The pre-login attacks come
// from other loopback addresses than sysbench and the logged-in attackers
// (127.0.0.2 and 127.0.0.3; all of 127/8 is loopback on Linux), so that the
// per-source caps on connections still logging in are what keeps them from
// starving everyone else.
const (
	hostileHeaderFlood  = 1000    // a bare header announcing 16 MiB, held open
	hostileLongData     = 2       // sessions sending 48 chunks of 8 MiB of long data, never executed
	hostileLongChunks   = 48      //
	hostileLongChunk    = 8 << 20 //
	hostileStallHolders = 8       // a 10 MB result, 4 KB read, then no read until the attacks end
	hostileInListBytes  = 10 << 20
)

var (
	halfOpenSource = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	floodSource    = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}
)

// hostileCounts2 records what the new attackers saw.
type hostileCounts2 struct {
	mu                                    sync.Mutex
	headerTooLarge, headerRefused, header int
	longDataErr                           []string
	inListCount                           string
	stalled                               int
}

func hostileDialFrom(src *net.TCPAddr, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// hostileHeaderFloods opens hostileHeaderFlood connections from one source
// that answer the greeting with a 4-byte header announcing 16 MiB (each
// cost the proxy 16 MiB before the bounded handshake reader), reads the
// answer (1153, or 1040 in place of the greeting past the per-source cap)
// and keeps the connection open until stop.
func hostileHeaderFloods(addr string, c *hostileCounts2, stop <-chan struct{}) {
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			_ = nc.Close()
		}
	}()
	for range hostileHeaderFlood {
		nc, err := hostileDialFrom(floodSource, addr)
		if err != nil {
			continue
		}
		conns = append(conns, nc)
		p, err := readRaw(nc, 10*time.Second)
		if err != nil {
			continue
		}
		code := errCode(p.payload)
		if code == 0 { // the greeting
			_, _ = nc.Write([]byte{0xff, 0xff, 0xff, 1})
			if p, err = readRaw(nc, 10*time.Second); err != nil {
				continue
			}
			code = errCode(p.payload)
		}
		c.mu.Lock()
		c.header++
		switch code {
		case mysql.ER_NET_PACKET_TOO_LARGE:
			c.headerTooLarge++
		case mysql.ER_CON_COUNT_ERROR:
			c.headerRefused++
		}
		c.mu.Unlock()
	}
	<-stop
}

// errCode is the error code of an ERR packet payload, 0 for another packet.
func errCode(p []byte) uint16 {
	if len(p) < 3 || p[0] != mysql.ERR_HEADER {
		return 0
	}
	return binary.LittleEndian.Uint16(p[1:3])
}

// hostileLongDataFlood logs in, prepares a statement and sends it 48
// chunks of 8 MiB of long data without executing it (384 MiB; the proxy
// held all of it before), then executes it: the proxy answers MySQL's 1105.
func hostileLongDataFlood(addr string, c *hostileCounts2) {
	cc, err := client.Connect(addr, "app", "app", "")
	if err != nil {
		c.addLongDataErr("connect: " + err.Error())
		return
	}
	defer cc.Close()
	st, err := cc.Prepare("SELECT LENGTH(?)")
	if err != nil {
		c.addLongDataErr("prepare: " + err.Error())
		return
	}
	chunk := make([]byte, 7+hostileLongChunk)
	chunk[0] = mysql.COM_STMT_SEND_LONG_DATA
	binary.LittleEndian.PutUint32(chunk[1:], st.ID)
	for range hostileLongChunks {
		if err := writeRaw(cc.Conn.Conn, 0, chunk); err != nil {
			c.addLongDataErr("send: " + err.Error())
			return
		}
	}
	_, err = st.Execute("x")
	var me *mysql.MyError
	if errors.As(err, &me) {
		c.addLongDataErr(strconv.Itoa(int(me.Code)) + " " + me.Message)
		return
	}
	c.addLongDataErr("execute: " + errString(err))
}

func (c *hostileCounts2) addLongDataErr(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.longDataErr = append(c.longDataErr, s)
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// hostileInList runs a SELECT with a 10 MB IN list through the proxy (the
// TiDB parser would take tens of seconds and gigabytes on it) and keeps the
// count it returned.
func hostileInList(addr string, c *hostileCounts2) {
	var b strings.Builder
	b.WriteString("SELECT COUNT(*) FROM sbhostile.sbtest1 WHERE id IN (")
	for i := 0; b.Len() < hostileInListBytes; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteString(")")
	cc, err := client.Connect(addr, "app", "app", "")
	if err != nil {
		c.setInList("connect: " + err.Error())
		return
	}
	defer cc.Close()
	r, err := cc.Execute(b.String())
	if err != nil {
		c.setInList("execute: " + err.Error())
		return
	}
	defer r.Close()
	v, err := r.GetString(0, 0)
	if err != nil {
		c.setInList("result: " + err.Error())
		return
	}
	c.setInList(v)
}

func (c *hostileCounts2) setInList(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inListCount = s
}

// hostileStalledReader logs in, asks for a 10 MB result, reads 4 KB and
// then reads nothing more until stop: the relay waits on the client's
// socket (backpressure), holding one backend connection, and nothing else
// may suffer.
func hostileStalledReader(addr string, c *hostileCounts2, stop <-chan struct{}) {
	cc, err := client.Connect(addr, "app", "app", "")
	if err != nil {
		return
	}
	nc := cc.Conn.Conn
	defer nc.Close()
	q := "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 10) SELECT n, REPEAT('x', 1048576) FROM s"
	if writeRaw(nc, 0, append([]byte{mysql.COM_QUERY}, q...)) != nil {
		return
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 4096)); err != nil {
		return
	}
	c.mu.Lock()
	c.stalled++
	c.mu.Unlock()
	<-stop
}
