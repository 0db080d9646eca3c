package admin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rwproxy/rwproxy/config"
)

// Bootstrap returns the configuration to start with, following ProxySQL:
//
//   - When <datadir>/rwproxy.db holds a saved configuration, its tables
//     (servers, users, query rules, hostgroup settings and global
//     variables) replace the YAML file's. Node-local settings that need a
//     restart (listen addresses, server_version, datadir, log, cluster)
//     always come from the YAML file.
//   - Otherwise the YAML configuration is used, and written to the file
//     so that the DISK layer always holds a complete configuration.
//   - initial starts from the YAML file whatever the disk holds (the
//     --initial flag): the old file is kept as rwproxy.db.bak and a new one
//     is written from the YAML file.
//
// fromYAML must be valid (config.Load's result); it is not modified. The
// result is validated: a disk file whose configuration no longer
// validates is reported, naming the problems (start with --initial to
// discard it).
func Bootstrap(datadir string, fromYAML *config.Config, initial bool) (*config.Config, error) {
	if datadir == "" {
		return nil, errors.New("admin: bootstrap: no datadir")
	}
	if err := os.MkdirAll(datadir, 0o750); err != nil {
		return nil, fmt.Errorf("admin: datadir: %w", err)
	}
	path := filepath.Join(datadir, DiskFile)
	if initial {
		if err := backupDisk(path); err != nil {
			return nil, err
		}
	}
	if _, err := ensurePrivate(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, fmt.Errorf("admin: open %s: %w", path, err)
	}
	defer func() { _ = db.Close() }()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("admin: open %s: %w", path, err)
	}
	defer func() { _ = conn.Close() }()
	cfg, err := bootstrapFrom(ctx, conn, fromYAML)
	if err != nil {
		return nil, fmt.Errorf("admin: %s: %w", path, err)
	}
	return cfg, nil
}

// SaveConfig writes c's operator tables (servers, users, query rules,
// replication and hostgroup settings, global variables) to
// <datadir>/rwproxy.db in one transaction, as SAVE ... TO DISK of every
// module would: the configuration the next start (Bootstrap) uses. It is
// for writers other than the admin interface, such as a cluster node that
// adopted a peer's configuration (cluster.save_to_disk). c must be valid.
func SaveConfig(datadir string, c *config.Config) error {
	if err := os.MkdirAll(datadir, 0o750); err != nil {
		return fmt.Errorf("admin: datadir: %w", err)
	}
	path := filepath.Join(datadir, DiskFile)
	if _, err := ensurePrivate(path); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return fmt.Errorf("admin: open %s: %w", path, err)
	}
	defer func() { _ = db.Close() }()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("admin: open %s: %w", path, err)
	}
	defer func() { _ = conn.Close() }()
	c = c.Clone()
	c.FillDefaults()
	err = diskPragmas(ctx, conn)
	if err == nil {
		err = inTx(ctx, conn, func(tx *sql.Tx) error {
			if err := createDiskTables(ctx, tx, schemaMain); err != nil {
				return err
			}
			return initDisk(ctx, tx, schemaMain, c)
		})
	}
	if err != nil {
		return fmt.Errorf("admin: save to %s: %w", path, err)
	}
	return nil
}

// diskPragmas sets up a connection to the disk file.
func diskPragmas(ctx context.Context, c *sql.Conn) error {
	for _, p := range []string{"PRAGMA busy_timeout = 5000", "PRAGMA synchronous = FULL"} {
		if _, err := c.ExecContext(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// bootstrapFrom reads (or initialises) the configuration in the open
// disk file c.
func bootstrapFrom(ctx context.Context, c *sql.Conn, fromYAML *config.Config) (*config.Config, error) {
	fromYAML = fromYAML.Clone()
	fromYAML.FillDefaults()
	if err := diskPragmas(ctx, c); err != nil {
		return nil, err
	}
	ver, err := userVersion(ctx, c, schemaMain)
	if err != nil {
		return nil, err
	}
	if ver > diskSchemaVersion {
		return nil, fmt.Errorf("written by a newer rwproxy (schema version %d > %d)", ver, diskSchemaVersion)
	}
	if ver == 0 {
		// New (or never completed) file: the YAML configuration, all of it,
		// in one transaction.
		err := inTx(ctx, c, func(tx *sql.Tx) error {
			if err := createDiskTables(ctx, tx, schemaMain); err != nil {
				return err
			}
			return initDisk(ctx, tx, schemaMain, fromYAML)
		})
		if err != nil {
			return nil, fmt.Errorf("write the initial configuration: %w", err)
		}
		return fromYAML, nil
	}
	// Tables and columns added since the file was written, in one
	// transaction: an upgrade cut short leaves the file as it was.
	if err := inTx(ctx, c, func(tx *sql.Tx) error { return createDiskTables(ctx, tx, schemaMain) }); err != nil {
		return nil, err
	}
	cfg := fromYAML
	for _, m := range modules {
		if err := readModule(ctx, c, schemaMain, m, cfg, true); err != nil {
			return nil, err
		}
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("the saved configuration is invalid (fix it through the admin interface after starting "+
			"with --initial, or remove the file):\n%w", describeConfigErrors(err, cfg))
	}
	return cfg, nil
}

// backupDisk moves the disk file (with its journal, so that an interrupted
// transaction stays with its database) to rwproxy.db.bak.
func backupDisk(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, suffix := range []string{"", "-journal", "-wal"} {
		err := os.Rename(path+suffix, path+".bak"+suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("admin: --initial: keep the old %s: %w", path+suffix, err)
		}
		if err == nil {
			_ = os.Chmod(path+".bak"+suffix, privateMode) // a backup of a 0644 file of an older version
		}
		if errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(path + ".bak" + suffix) // an older backup's journal must not pair with the new one
		}
	}
	_ = os.Remove(path + "-shm")
	return nil
}
