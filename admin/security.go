package admin

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/go-mysql-org/go-mysql/server"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

// privateMode is the mode of files that hold passwords (rwproxy.db and its
// backup): the admin's users table and the monitor's credentials are kept
// in plain text, as in ProxySQL's proxysql.db.
const privateMode fs.FileMode = 0o600

// ensurePrivate makes path a file only its owner can read: it creates it
// empty with privateMode (SQLite accepts an empty file as a new database,
// and creates its journals with the database's mode), or removes the
// group and other bits of an existing one. It reports the mode it found
// when it had to tighten it (0 otherwise).
func ensurePrivate(path string) (fs.FileMode, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, privateMode) //nolint:gosec // <admin.datadir>/rwproxy.db
	if err == nil {
		return 0, f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return 0, fmt.Errorf("admin: create %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("admin: %s: %w", path, err)
	}
	old := st.Mode().Perm()
	if old&0o077 == 0 {
		return 0, nil
	}
	if err := os.Chmod(path, old&^0o077); err != nil {
		return 0, fmt.Errorf("admin: restrict %s to its owner: %w", path, err)
	}
	return old, nil
}

// warnWeakAdminPassword warns at start when the admin account has the
// default or an empty password. Validation refuses both unless
// admin.listen is loopback; there, any local user (or process) still gets
// the whole configuration, passwords included.
func warnWeakAdminPassword(a config.Admin, lg *zap.Logger) {
	if a.Password != config.DefaultAdminPassword && a.Password != "" {
		return
	}
	what := "the default password"
	if a.Password == "" {
		what = "an empty password"
	}
	lg.Warn("the admin interface accepts "+what+"; allowed on a loopback admin.listen only: set admin.password",
		zap.String("admin_user", a.Username), zap.String("listen", a.Listen))
}

// newProtocolServer is the go-mysql server of the admin listener: with
// TLS offered when admin.tls_cert and admin.tls_key are set (the files
// are read once, at start).
func newProtocolServer(a config.Admin, creds server.AuthenticationHandler) (*server.Server, error) {
	if a.TLSCert == "" || a.TLSKey == "" {
		return protocol.NewServer(Version)
	}
	cert, err := tls.LoadX509KeyPair(a.TLSCert, a.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("admin.tls_cert/admin.tls_key: %w", err)
	}
	return protocol.NewSecureServer(Version, protocol.ServerTLSConfig(cert), creds)
}
