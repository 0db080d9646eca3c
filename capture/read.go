package capture

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/gzip"
)

// ReadFile reads the records of one capture file, checking its format
// version.
func ReadFile(name string) ([]Record, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("capture: %s: %w", name, err)
	}
	var recs []Record
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<30)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("capture: %s line %d: %w", name, len(recs)+1, err)
		}
		if len(recs) == 0 && (r.Type != TypeHeader || r.Version != FormatVersion) {
			return nil, fmt.Errorf("capture: %s: not a version-%d capture file", name, FormatVersion)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("capture: %s: %w", name, err)
	}
	return recs, nil
}

// Files lists the capture files of dir in order.
func Files(dir string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, "capture-*.jsonl.gz"))
}
