// Package config holds rwproxy's configuration: the plain Config types,
// their defaults and validation, loading from a YAML file with environment
// overrides, and the Store that publishes immutable, versioned snapshots to
// the rest of the proxy.
//
// Concurrency contract: a *Config obtained from a Store is shared by every
// goroutine and must never be mutated; build a modified copy with Clone and
// hand it to Store.Apply. Store methods are safe for concurrent use. Load,
// Defaults, Validate and Clone touch no shared state.
//
// Viper is used only inside this package; nothing else imports it.
package config
