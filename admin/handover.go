package admin

import "os"

// ListenerFile returns a duplicate of the admin listening socket (the
// zero-downtime upgrade hands it to the new process).
func (s *Server) ListenerFile() (*os.File, error) { return s.ln.File() }
