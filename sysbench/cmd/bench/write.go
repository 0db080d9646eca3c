package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// write saves <ts>.json, <ts>.md, latest.md and the latest-*.png charts.
func (b *bench) write(interrupted bool) error {
	r := b.report
	r.Finished, r.Interrupted = time.Now().UTC(), interrupted
	r.Finish()
	dir := b.o.outDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(b.repo, dir)
	}
	files, err := writeOutputs(dir, r.Started.Format("20060102-150405"), r)
	for _, f := range files {
		b.say("wrote %s", f)
	}
	if err == nil {
		printVerdicts(r)
	}
	return err
}

func writeOutputs(dir, stamp string, r *harness.Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	jsonPath := filepath.Join(dir, stamp+".json")
	if err := harness.WriteJSON(jsonPath, r); err != nil {
		return nil, err
	}
	files := []string{jsonPath}
	charts, err := harness.WriteCharts(dir, "latest", r)
	if err != nil {
		return files, err
	}
	for _, list := range charts {
		for _, c := range list {
			files = append(files, filepath.Join(dir, c))
		}
	}
	for name, withCharts := range map[string]bool{stamp + ".md": false, "latest.md": true} {
		var c map[string][]string
		if withCharts {
			c = charts
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(harness.Markdown(r, c)), 0o644); err != nil {
			return files, err
		}
		files = append(files, p)
	}
	return files, nil
}

func printVerdicts(r *harness.Report) {
	for _, v := range r.Verdicts {
		switch {
		case !v.Measured:
			fmt.Printf("target %-38s not measured\n", v.Name+":")
		case v.Met:
			fmt.Printf("target %-38s MET     %s; %s\n", v.Name+":", v.Value, v.Detail)
		default:
			fmt.Printf("target %-38s MISSED  %s; %s\n", v.Name+":", v.Value, v.Detail)
		}
	}
}

// render rebuilds the markdown and charts of a saved results file.
func render(o *options) error {
	r, err := harness.ReadJSON(o.render)
	if err != nil {
		return err
	}
	r.Finish()
	dir := filepath.Dir(o.render)
	stamp := r.Started.Format("20060102-150405")
	files, err := writeOutputs(dir, stamp, r)
	for _, f := range files {
		fmt.Println("bench: wrote", f)
	}
	return err
}
