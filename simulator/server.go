package simulator

import (
	"net/http"
	"net/http/httptest"
)

// Server is a Simulator listening on a loopback port, for tests: the Antom counterpart of
// httptest.Server. URL is its base URL, usable as antom.Client's Gateway.
type Server struct {
	*Simulator
	// URL is the base URL, "http://127.0.0.1:port", without trailing slash.
	URL string
	// HTTP is the underlying test server.
	HTTP *httptest.Server
}

// NewServer starts a Simulator on a loopback port. Like httptest.NewServer it panics if the
// simulator cannot start (an invalid Config). Close it when done.
func NewServer(cfg Config) *Server {
	sim, err := New(cfg)
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(sim)
	return &Server{Simulator: sim, URL: ts.URL, HTTP: ts}
}

// Client returns an HTTP client for the server, e.g. to follow cashier links.
func (s *Server) Client() *http.Client { return s.HTTP.Client() }

// Close shuts the listener down (waiting for requests in flight) and stops the simulator's
// notification goroutines.
func (s *Server) Close() {
	s.Simulator.Close() // first: a held-back (magic 4003) answer returns on Close
	s.HTTP.Close()
}
