package httpapi

// Identify returns the principal that token identifies now, by the principals the server holds at
// this moment (SetPrincipals replaces them when the file changes). The web console asks it at every
// request of a session, so that a principal removed from the file loses its sessions at once.
func (s *Server) Identify(token string) (Principal, bool) {
	return s.principals.Load().Authenticate(token)
}
