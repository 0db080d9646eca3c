package session

import "net"

// digestClient is the client address the digest statistics keep for this
// session's statements: its host when log.query_digests_track_hostname is
// on (ProxySQL's mysql-query_digests_track_hostname), else "". The host
// is worked out once per session.
func (s *Session) digestClient() string {
	if !s.d.Config().Log.QueryDigestsTrackHostname {
		return ""
	}
	if s.clientHost == nil {
		host := ""
		if a := s.nc.RemoteAddr(); a != nil {
			host = a.String()
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
		}
		s.clientHost = &host
	}
	return *s.clientHost
}
