package admin

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rwproxy/rwproxy/config"
)

// parseSaveConfigFile recognises SAVE CONFIG TO FILE '<path>' (significant
// tokens). ok is false for any other statement.
func parseSaveConfigFile(s []token) (path string, ok bool, err error) {
	if len(s) < 4 || !s[0].is("SAVE") || !s[1].is("CONFIG") || !s[2].is("TO") || !s[3].is("FILE") {
		return "", false, nil
	}
	if len(s) != 5 || (s[4].kind != tkString && s[4].kind != tkDQString) || unquote(s[4]) == "" {
		return "", true, fmt.Errorf("SAVE CONFIG TO FILE needs one quoted path: SAVE CONFIG TO FILE '/etc/rwproxy/rwproxy.yaml'")
	}
	return unquote(s[4]), true, nil
}

// saveConfigFile writes the running configuration as YAML to path (mode
// 0600: it holds passwords), through a temporary file renamed into place so
// that a watcher never reads half a file. Loading it back with --config
// gives the same running configuration (config.MarshalYAML).
func (e *engine) saveConfigFile(path string) (*result, error) {
	out, err := config.MarshalYAML(e.rt.Config())
	if err != nil {
		return nil, newError(erUnknown, err.Error())
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".rwproxy-save-*")
	if err == nil {
		_, err = tmp.Write(out)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}
	if err != nil {
		return nil, newError(erUnknown, fmt.Sprintf("SAVE CONFIG TO FILE: cannot write %s: %v", path, err))
	}
	return &result{Info: fmt.Sprintf("running configuration written to %s (%d bytes)", path, len(out))}, nil
}
