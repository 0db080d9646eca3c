package app

import "fmt"

// Option adds an optional service to Start.
type Option func(*startOptions)

// startOptions are the services Start brings up besides the client
// listener.
type startOptions struct {
	admin      bool
	configFile string
	http       *HTTPOptions
	cluster    bool
}

// WithAdmin starts the admin interface (admin.listen); configFile is the
// YAML file LOAD ... FROM CONFIG re-reads ("" disables that command).
func WithAdmin(configFile string) Option {
	return func(o *startOptions) { o.admin, o.configFile = true, configFile }
}

// WithHTTP starts the HTTP listener (http.listen, or o.Listen); an empty
// address starts nothing.
func WithHTTP(o HTTPOptions) Option {
	return func(so *startOptions) { so.http = &o }
}

// WithCluster joins the gossip cluster when cluster.enabled is set.
func WithCluster() Option {
	return func(o *startOptions) { o.cluster = true }
}

// startServices runs steps 2 to 4 of Start. Each error names the setting
// that failed.
func (a *App) startServices(o startOptions) error {
	if o.cluster {
		if err := a.StartCluster(); err != nil {
			return fmt.Errorf("cluster (cluster.bind): %w", err)
		}
	}
	if o.admin {
		if err := a.StartAdmin(o.configFile); err != nil {
			return fmt.Errorf("admin interface (admin.listen): %w", err)
		}
	}
	if o.http != nil {
		if err := a.StartHTTP(*o.http); err != nil {
			return fmt.Errorf("http listener (http.listen): %w", err)
		}
	}
	return nil
}
