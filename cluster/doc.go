// Package cluster shares operator intent between rwproxy nodes: several
// proxies behind a load balancer are configured as one. It runs on
// hashicorp/memberlist (gossip membership and failure detection).
//
// What is shared is four modules of the configuration - servers, users,
// query rules and the MySQL variables (see ModuleNames) - never
// monitor-derived state (health, lag, the hostgroup a server was moved
// to) and never node identity (listen addresses, admin.*, log.*,
// cluster.*). Each module carries a version that survives restarts: a
// Lamport counter plus the node that made it, kept in
// <admin.datadir>/cluster.json, and a checksum of its canonical JSON.
//
// Paths:
//   - A local change (config.Store.Apply from the admin interface or a
//     file reload) calls Node.Publish. The node stamps each changed module
//     with a new version and gossips a small announcement (module,
//     version, origin, checksum) through memberlist's broadcast queue.
//   - A node that hears of a version newer than its own fetches the
//     payload over TCP from the node that announced it, validates its
//     whole configuration with the module replaced, installs it through
//     config.Store.Merge (which does not re-publish) and announces it in
//     turn. A payload that does not validate is refused and reported
//     (ModuleState), and the running configuration is kept.
//   - memberlist's periodic push/pull carries every module, so a node
//     that missed announcements, was away or was partitioned catches up.
//
// All paths go through one merge rule (State.Newer): per module, the
// greatest (version, origin, checksum) wins.
//
// Concurrency: a Node owns one goroutine that makes every change to its
// module state, in order; memberlist callbacks copy what they get and
// hand it over without blocking. Publish, Members, Modules, Name, Addr
// and Close are safe for concurrent use.
package cluster
