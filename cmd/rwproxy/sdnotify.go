package main

import (
	"net"
	"os"
	"strconv"

	"go.uber.org/zap"
)

// sdNotify sends state to systemd's notification socket ($NOTIFY_SOCKET,
// set for Type=notify units); without it, nothing is sent.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// notifyReady tells systemd (Type=notify) the proxy serves.
func notifyReady(lg *zap.Logger) {
	if err := sdNotify("READY=1"); err != nil {
		lg.Warn("systemd notification failed", zap.Error(err))
	}
}

// notifyMainPID tells systemd this process, which took over from the
// previous one, is the service's main process now (NotifyAccess=all).
func notifyMainPID(lg *zap.Logger) {
	if err := sdNotify("MAINPID=" + strconv.Itoa(os.Getpid()) + "\nREADY=1"); err != nil {
		lg.Warn("systemd notification failed", zap.Error(err))
	}
}
