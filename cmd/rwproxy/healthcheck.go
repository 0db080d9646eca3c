package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// healthcheck is `rwproxy healthcheck [URL]`: GET URL (default the
// /healthz of the default http.listen) and exit 0 on a 2xx answer, 1
// otherwise. Container images without curl use it for HEALTHCHECK.
func healthcheck(args []string) int {
	url := "http://127.0.0.1:6070/healthz"
	if len(args) > 0 {
		url = args[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil) //nolint:gosec // G704: as below
	if err != nil {
		fmt.Fprintln(os.Stderr, "rwproxy healthcheck:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // G704: the URL is the operator's argument, by design
	if err != nil {
		fmt.Fprintln(os.Stderr, "rwproxy healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		fmt.Fprintln(os.Stderr, "rwproxy healthcheck:", url, resp.Status)
		return 1
	}
	return 0
}
