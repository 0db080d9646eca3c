package admin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rwproxy/rwproxy/config"
)

// runCommand executes a LOAD or SAVE command.
func (e *engine) runCommand(ctx context.Context, cmd *command) (*result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.internal.Store(true)
	defer e.internal.Store(false)
	switch cmd.act {
	case actMemoryToRuntime:
		return e.loadToRuntime(ctx, cmd)
	case actRuntimeToMemory:
		return &result{}, e.writeMemory(ctx, cmd.mod, e.rt.Config())
	case actConfigToMemory:
		if e.configFile == "" {
			return nil, newError(erUnknown, "LOAD ... FROM CONFIG: the proxy was not started from a configuration file")
		}
		cfg, err := config.Load(e.configFile)
		if err != nil {
			return nil, newError(erUnknown, fmt.Sprintf("LOAD %s FROM CONFIG: %v", cmd.mod.name, err))
		}
		return &result{}, e.writeMemory(ctx, cmd.mod, cfg)
	case actMemoryToDisk, actDiskToMemory:
		if e.diskPath == "" {
			return nil, newError(erUnknown, "no DISK layer: admin.datadir is not set")
		}
		return &result{}, e.copyDisk(ctx, cmd)
	}
	return nil, newError(erUnknown, "unsupported command "+cmd.String())
}

// writeMemory replaces the module's MEMORY tables with cfg's values. The
// reload:"restart" variables keep their running values: they only ever
// come from the YAML file at start.
func (e *engine) writeMemory(ctx context.Context, m *module, cfg *config.Config) error {
	cfg = withRunningRestartFields(cfg, e.rt.Config())
	return inTx(ctx, e.mu.conn, func(tx *sql.Tx) error { return writeModule(ctx, tx, schemaMain, m, cfg) })
}

// withRunningRestartFields returns cfg with the restart-only variables
// set to running's values (a copy if anything changes).
func withRunningRestartFields(cfg, running *config.Config) *config.Config {
	out := cfg
	for _, v := range variables {
		if v.restart && v.get(cfg) != v.get(running) {
			if out == cfg {
				out = cfg.Clone()
			}
			_ = v.set(out, v.get(running))
		}
	}
	return out
}

// copyDisk copies the module's tables between MEMORY and DISK in one
// transaction: SAVE ... TO DISK commits all of them or none, so a crash
// leaves the previous or the new configuration in the file.
func (e *engine) copyDisk(ctx context.Context, cmd *command) error {
	from, to := schemaMain, schemaDisk
	if cmd.act == actDiskToMemory {
		from, to = schemaDisk, schemaMain
	}
	return inTx(ctx, e.mu.conn, func(tx *sql.Tx) error {
		for _, t := range cmd.mod.tables {
			where := cmd.mod.where(t)
			keep := where
			if t == tVariables && to == schemaMain {
				// Restart-only variables keep their running values.
				keep = andWhere(where, "variable_name NOT IN ("+restartVariableList()+")")
			}
			stmts := []string{
				"DELETE FROM " + to + "." + t.name + keep,
				"INSERT INTO " + to + "." + t.name + " SELECT * FROM " + from + "." + t.name + keep + " ORDER BY rowid",
			}
			for _, s := range stmts {
				if _, err := tx.ExecContext(ctx, s); err != nil {
					return sqlError(fmt.Errorf("%s: %w", cmd, err), "")
				}
			}
		}
		if to == schemaMain && cmd.mod.prefix != "" {
			if err := resetRestartVariables(ctx, tx, cmd.mod, e.rt.Config()); err != nil {
				return err
			}
		}
		if cmd.act == actMemoryToDisk && e.beforeCommit != nil {
			e.beforeCommit()
		}
		return nil
	})
}

// resetRestartVariables sets the module's restart-only variables in
// MEMORY to their running values.
func resetRestartVariables(ctx context.Context, q querier, m *module, running *config.Config) error {
	for _, v := range variables {
		if !v.restart || !strings.HasPrefix(v.name, m.prefix) {
			continue
		}
		if _, err := q.ExecContext(ctx, "REPLACE INTO main.global_variables VALUES (?, ?)", v.name, v.get(running)); err != nil {
			return fmt.Errorf("global_variables %s: %w", v.name, err)
		}
	}
	return nil
}

func andWhere(where, cond string) string {
	if where == "" {
		return " WHERE " + cond
	}
	return where + " AND " + cond
}

// restartVariableList is the SQL list of the restart-only variable names.
func restartVariableList() string {
	var names []string
	for _, v := range variables {
		if v.restart {
			names = append(names, quoteString(v.name))
		}
	}
	return strings.Join(names, ", ")
}

// loadToRuntime builds the configuration the module's MEMORY tables
// describe, validates it and applies it (or, for DRY RUN, shows what
// would change). Any refusal leaves the running configuration untouched.
func (e *engine) loadToRuntime(ctx context.Context, cmd *command) (*result, error) {
	cur := e.rt.Config()
	next := cur.Clone()
	if err := readModule(ctx, e.mu.conn, schemaMain, cmd.mod, next, false); err != nil {
		return nil, refused(cmd, err)
	}
	next.FillDefaults()
	if err := next.Validate(); err != nil {
		return nil, refused(cmd, describeConfigErrors(err, next))
	}
	if err := restartChanges(cur, next); err != nil {
		return nil, refused(cmd, err)
	}
	changes := diffModule(cmd.mod, cur, next)
	if cmd.dryRun {
		res := &result{Columns: []string{"table_name", "row", "change"}}
		for _, c := range changes {
			res.Rows = append(res.Rows, []any{c.table, c.key, c.what})
		}
		return res, nil
	}
	if err := e.rt.Apply(ctx, next); err != nil {
		return nil, refused(cmd, err)
	}
	return &result{Info: summarize(changes)}, nil
}

// refused wraps why a LOAD ... TO RUNTIME was refused.
func refused(cmd *command, err error) error {
	return newError(erUnknown, fmt.Sprintf("%s refused; the running configuration is unchanged:\n%v", cmd, err))
}

// restartChanges reports the restart-only settings that differ.
func restartChanges(cur, next *config.Config) error {
	var errs []error
	for _, path := range config.RestartFields(cur, next) {
		name := variableOfPath(path)
		if name == "" {
			continue // not editable here; kept as is
		}
		v, _ := lookupVariable(name)
		errs = append(errs, fmt.Errorf("%s is read from the configuration file at start (%s); to change it, edit the file "+
			"and restart. Set it back with: UPDATE global_variables SET variable_value=%s WHERE variable_name='%s'",
			name, path, quoteString(v.get(cur)), name))
	}
	return errors.Join(errs...)
}

// writeModule replaces the module's tables in schema with cfg's rows.
func writeModule(ctx context.Context, q querier, schema string, m *module, cfg *config.Config) error {
	for _, t := range m.tables {
		var rows []row
		for _, r := range converters[t].rows(cfg) {
			if m.keep(t, r) {
				rows = append(rows, r)
			}
		}
		if err := replaceRows(ctx, q, schema, t.name, m.where(t), len(t.cols), rows); err != nil {
			return err
		}
	}
	return nil
}

// replaceRows deletes the rows of schema.name matching where and inserts rows.
func replaceRows(ctx context.Context, q querier, schema, name, where string, ncols int, rows []row) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM "+schema+"."+name+where); err != nil {
		return fmt.Errorf("%s.%s: %w", schema, name, err)
	}
	if len(rows) == 0 {
		return nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", ncols), ",")
	stmt, err := q.PrepareContext(ctx, "INSERT INTO "+schema+"."+name+" VALUES ("+marks+")")
	if err != nil {
		return fmt.Errorf("%s.%s: %w", schema, name, err)
	}
	defer func() { _ = stmt.Close() }()
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, r...); err != nil {
			return fmt.Errorf("%s.%s: %w", schema, name, err)
		}
	}
	return nil
}

// readModule sets cfg's fields from the module's tables in schema.
// skipRestart leaves the restart-only variables alone (reading the disk
// file at start: those come from the YAML file).
func readModule(ctx context.Context, q querier, schema string, m *module, cfg *config.Config, skipRestart bool) error {
	for _, t := range m.tables {
		rows, err := queryRows(ctx, q, "SELECT "+strings.Join(t.colNames(), ", ")+" FROM "+schema+"."+t.name+
			m.where(t)+" ORDER BY rowid")
		if err != nil {
			return fmt.Errorf("%s.%s: %w", schema, t.name, err)
		}
		if t == tVariables && skipRestart {
			kept := rows[:0]
			for _, r := range rows {
				if v, ok := lookupVariable(asString(r[0])); !ok || !v.restart {
					kept = append(kept, r)
				}
			}
			rows = kept
		}
		if err := converters[t].set(cfg, rows); err != nil {
			return err
		}
	}
	return nil
}

// createDiskTables creates the configuration tables in schema (a disk
// file) if they are missing. The memory-only checks are left out: they
// call Go functions a sqlite3 shell would not have.
func createDiskTables(ctx context.Context, q querier, schema string) error {
	for _, t := range configTables {
		if _, err := q.ExecContext(ctx, t.ddl(schema, t.name, true, false)); err != nil {
			return fmt.Errorf("create %s.%s: %w", schema, t.name, err)
		}
		if err := upgradeTable(ctx, q, schema, t); err != nil {
			return err
		}
	}
	return nil
}

// upgradeTable upgrades a disk table written by an older rwproxy, whose
// columns differ from t's: the table is rebuilt with t's columns in t's
// order (the layers copy rows by position), the saved values of the
// columns both have are kept, and columns added since take their defaults
// (every column added after the first release has one).
func upgradeTable(ctx context.Context, q querier, schema string, t *table) error {
	rows, err := q.QueryContext(ctx, "SELECT name FROM pragma_table_info(?, ?) ORDER BY cid", t.name, schema)
	if err != nil {
		return fmt.Errorf("columns of %s.%s: %w", schema, t.name, err)
	}
	var have []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		have = append(have, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	want := t.colNames()
	if slices.Equal(have, want) {
		return nil
	}
	var common, from []string
	for _, c := range t.cols {
		if slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, c.name) }) {
			common, from = append(common, c.name), append(from, c.name)
		} else if c.upgradeFrom != "" {
			common, from = append(common, c.name), append(from, c.upgradeFrom)
		}
	}
	cols, src := strings.Join(common, ", "), strings.Join(from, ", ")
	tmp := t.name + "_upgrade"
	for _, st := range []string{
		"DROP TABLE IF EXISTS " + schema + "." + tmp,
		t.ddl(schema, tmp, true, false),
		fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT %s FROM %s.%s ORDER BY rowid", schema, tmp, cols, src, schema, t.name),
		"DROP TABLE " + schema + "." + t.name,
		fmt.Sprintf("ALTER TABLE %s.%s RENAME TO %s", schema, tmp, t.name),
	} {
		if _, err := q.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("upgrade %s.%s (columns %v to %v): %w", schema, t.name, have, want, err)
		}
	}
	return nil
}

// initDisk writes every module of cfg into schema and marks it complete,
// in the caller's transaction.
func initDisk(ctx context.Context, q querier, schema string, cfg *config.Config) error {
	for _, m := range modules {
		if err := writeModule(ctx, q, schema, m, cfg); err != nil {
			return err
		}
	}
	_, err := q.ExecContext(ctx, fmt.Sprintf("PRAGMA %s.user_version = %d", schema, diskSchemaVersion))
	return err
}
