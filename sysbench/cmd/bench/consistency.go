package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// consistencyVariant is one extra rwproxy target of -consistency: the
// harness's rwproxy configuration with the user's read consistency set;
// or of -compare-bin: the default configuration run by another binary
// (bin; "" is the measured rwproxy).
type consistencyVariant struct{ target, userKeys, bin string }

// compareVariant is the key of the -compare-bin target in o.consistency.
const compareVariant = "compare"

// consistencyVariants are the -consistency values.
var consistencyVariants = map[string]consistencyVariant{
	"eventual": {"rwproxy-eventual", "consistency: eventual", ""},
	"session":  {"rwproxy-ryw-session", "consistency: read_your_writes, consistency_scope: session", ""},
	"user":     {"rwproxy-ryw-user", "consistency: read_your_writes, consistency_scope: user", ""},
}

// variant returns the variant of key v: one of consistencyVariants, or
// the -compare-bin target.
func (o *options) variant(v string) consistencyVariant {
	if v == compareVariant {
		return consistencyVariant{target: "rwproxy-compare", bin: o.compareBin}
	}
	return consistencyVariants[v]
}

// parseConsistency reads "eventual,session,user".
func parseConsistency(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, v := range splitList(s, ",") {
		if _, ok := consistencyVariants[v]; !ok {
			return nil, fmt.Errorf("%q is not eventual, session or user", v)
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}

// variantPorts are the listen, admin and HTTP ports of the i-th variant:
// rwproxy's port + 10 onwards, three each.
func (o *options) variantPorts(i int) ports {
	p := o.ports()
	v := p.proxy + 10 + 3*i
	p.proxy, p.admin, p.http = v, v+1, v+2
	return p
}

// variantPortList is every port the variants listen on.
func (o *options) variantPortList() []int {
	var out []int
	for i := range o.consistency {
		p := o.variantPorts(i)
		out = append(out, p.proxy, p.admin, p.http)
	}
	return out
}

// startVariants starts one rwproxy per -consistency variant, each with its
// own generated configuration, and adds them as targets after rwproxy.
func (b *bench) startVariants(ctx context.Context) error {
	for i, v := range b.o.consistency {
		cv := b.o.variant(v)
		p := b.o.variantPorts(i)
		conf := filepath.Join(b.work, cv.target+".yaml")
		body := proxyConfigUser(p, filepath.Join(b.work, cv.target+"-data"), cv.userKeys)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			return err
		}
		bin := b.proxyBin()
		if cv.bin != "" {
			bin = cv.bin
		}
		pr, err := startProc(cv.target, filepath.Join(b.work, cv.target+".log"), b.work, bin, "--config", conf)
		if err != nil {
			return err
		}
		b.variants = append(b.variants, pr)
		addr := fmt.Sprintf("127.0.0.1:%d", p.proxy)
		if err := pr.waitListening(ctx, addr); err != nil {
			return err
		}
		b.variantTargets = append(b.variantTargets, harness.Target{Name: cv.target, Addr: addr, Kind: "extra"})
	}
	return nil
}

// variantPIDs records the variants' processes for the CPU figures.
func (b *bench) variantPIDs() {
	for i, t := range b.variantTargets {
		b.pids[t.Name] = b.variants[i].pid()
		b.proxies = append(b.proxies, b.variants[i].pid())
	}
}

// stopVariants stops the variants' rwproxy processes.
func (b *bench) stopVariants() {
	for _, pr := range b.variants {
		pr.stop(10 * time.Second)
	}
}
