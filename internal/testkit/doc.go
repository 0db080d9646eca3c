// Package testkit holds what tests of several packages share: the MariaDB
// sandbox and the MySQL Group Replication group they start (scripts/sandbox),
// a proxy configuration in front of them, an in-process proxy closed with
// the test, and a watchdog that dumps goroutines of a hung test binary. Its
// sub-packages are the fake backends (fakebackend), throwaway certificates
// (certs) and headless Chromium for the dashboard tests (headless).
//
// Nothing here is linked into cmd/rwproxy.
package testkit
