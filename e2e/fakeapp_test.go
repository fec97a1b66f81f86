package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordedRequest is one request the fake app received.
type recordedRequest struct {
	Method string
	Path   string // URL path
	Query  string // raw query
	Header http.Header
	Body   []byte
	At     time.Time
	Status int // the status the fake app answered
}

// fakeApp stands in for the merchant's application behind antom_webhook: an HTTP server on
// 127.0.0.1 that records every request (headers and body) and answers with a programmable
// sequence of statuses. Off() closes its listener and connections (deliveries then see
// "connection refused"); On() listens again on the same address.
type fakeApp struct {
	t    testing.TB
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port

	srv *http.Server

	mu        sync.Mutex
	ln        net.Listener
	conns     map[net.Conn]struct{}
	reqs      []recordedRequest
	statuses  []int // answered in order, then defStatus
	defStatus int
	delay     time.Duration
	body      string
	bodies    []string       // answered in order, then body
	changed   chan struct{}  // closed and replaced on every recorded request
	inFlight  int            // requests being answered now
	flightIDs map[string]int // webhook-ids of the requests being answered now
	maxFlight int            // the most inFlight ever was
}

// newFakeApp starts a fake app that answers 200 to everything; it is closed at test end.
func newFakeApp(t testing.TB) *fakeApp {
	t.Helper()
	return newFakeAppAt(t, "127.0.0.1:0")
}

// newFakeAppAt is newFakeApp listening on addr: a fixed port, for stored records that name the
// forward's URL (use one below 32768, outside the ports the kernel hands out).
func newFakeAppAt(t testing.TB, addr string) *fakeApp {
	t.Helper()
	a := &fakeApp{
		t:         t,
		conns:     map[net.Conn]struct{}{},
		flightIDs: map[string]int{},
		defStatus: http.StatusOK,
		body:      "ok\n",
		changed:   make(chan struct{}),
	}
	a.srv = &http.Server{
		Handler:           http.HandlerFunc(a.serve),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, s http.ConnState) {
			a.mu.Lock()
			defer a.mu.Unlock()
			switch s {
			case http.StateNew:
				a.conns[c] = struct{}{}
			case http.StateClosed, http.StateHijacked:
				delete(a.conns, c)
			}
		},
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("fakeApp: %v", err)
	}
	a.Addr = ln.Addr().String()
	a.URL = "http://" + a.Addr
	a.ln = ln
	go a.srv.Serve(ln) //nolint:errcheck // returns when the listener closes
	t.Cleanup(func() {
		a.srv.Close()
		if t.Failed() {
			t.Logf("---- fake app %s received %d request(s) ----\n%s", a.URL, a.Len(), a.dump())
		}
	})
	return a
}

func (a *fakeApp) serve(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("webhook-id")
	a.mu.Lock()
	a.inFlight++
	a.flightIDs[id]++
	a.maxFlight = max(a.maxFlight, a.inFlight)
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.inFlight--
		if a.flightIDs[id]--; a.flightIDs[id] == 0 {
			delete(a.flightIDs, id)
		}
		a.mu.Unlock()
	}()
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	delay := a.delay
	status := a.defStatus
	if len(a.statuses) > 0 {
		status, a.statuses = a.statuses[0], a.statuses[1:]
	}
	respBody := a.body
	if len(a.bodies) > 0 {
		respBody, a.bodies = a.bodies[0], a.bodies[1:]
	}
	a.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}

	a.mu.Lock()
	a.reqs = append(a.reqs, recordedRequest{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.RawQuery,
		Header: r.Header.Clone(),
		Body:   body,
		At:     time.Now(),
		Status: status,
	})
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, respBody)
}

// MaxConcurrent is the most requests the app was answering at once.
func (a *fakeApp) MaxConcurrent() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.maxFlight
}

// SetStatuses makes the next requests get these statuses, in order; then the default applies.
func (a *fakeApp) SetStatuses(codes ...int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.statuses = append([]int(nil), codes...)
}

// SetDefaultStatus sets the status answered once the SetStatuses sequence is used up (default 200).
func (a *fakeApp) SetDefaultStatus(code int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.defStatus = code
}

// SetDelay makes every answer wait d (or until the client gives up), to exercise timeouts.
// The request is recorded after the delay.
func (a *fakeApp) SetDelay(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.delay = d
}

// SetBody sets the response body (default "ok\n").
func (a *fakeApp) SetBody(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.body = s
}

// SetBodies makes the next answers carry these bodies, in order; then SetBody's applies.
func (a *fakeApp) SetBodies(bodies ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bodies = append([]string(nil), bodies...)
}

// Off closes the listener and every open connection: the app is down (connection refused).
func (a *fakeApp) Off() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ln == nil {
		return
	}
	a.ln.Close()
	a.ln = nil
	for c := range a.conns {
		c.Close()
	}
}

// On listens again on the same address after Off.
func (a *fakeApp) On() {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ln != nil {
		return
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly
		if ln, err = net.Listen("tcp", a.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		a.t.Fatalf("fakeApp.On: %v", err)
	}
	a.ln = ln
	go a.srv.Serve(ln) //nolint:errcheck
}

// Requests returns a copy of every request received so far.
func (a *fakeApp) Requests() []recordedRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]recordedRequest(nil), a.reqs...)
}

// Len is the number of requests received so far.
func (a *fakeApp) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}

// Reset forgets the recorded requests (statuses, delay and body stay).
func (a *fakeApp) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = nil
}

// WaitRequests waits until at least n requests were received and returns them; it fails the
// test after timeout.
func (a *fakeApp) WaitRequests(n int, timeout time.Duration) []recordedRequest {
	a.t.Helper()
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		got, ch := len(a.reqs), a.changed
		a.mu.Unlock()
		if got >= n {
			return a.Requests()
		}
		select {
		case <-ch:
		case <-deadline:
			a.t.Fatalf("fake app: %d request(s) after %s, want %d\n%s", got, timeout, n, a.dump())
		}
	}
}

// Never checks that no request arrives for d (after the ones already received).
func (a *fakeApp) Never(d time.Duration) {
	a.t.Helper()
	before := a.Len()
	time.Sleep(d)
	if after := a.Len(); after != before {
		a.t.Fatalf("fake app: %d unexpected request(s) within %s\n%s", after-before, d, a.dump())
	}
}

// dump describes the requests received, the first and last dumpEnds of them in full: a
// redelivery storm records thousands.
func (a *fakeApp) dump() string {
	const dumpEnds = 50
	var s strings.Builder
	reqs := a.Requests()
	for i, r := range reqs {
		if i == dumpEnds && len(reqs) > 2*dumpEnds {
			fmt.Fprintf(&s, "... %d more ...\n", len(reqs)-2*dumpEnds)
		}
		if i >= dumpEnds && i < len(reqs)-dumpEnds {
			continue
		}
		fmt.Fprintf(&s, "#%d %s %s %s -> %d\n", i+1, r.At.Format("15:04:05.000"), r.Method, r.Path, r.Status)
		for k, v := range r.Header {
			fmt.Fprintf(&s, "    %s: %v\n", k, v)
		}
		fmt.Fprintf(&s, "    body: %.400s\n", r.Body)
	}
	return s.String()
}

// InFlight is the number of requests the app is answering now.
func (a *fakeApp) InFlight() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inFlight
}

// InFlightIDs are the webhook-ids of the requests the app is answering now.
func (a *fakeApp) InFlightIDs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]string, 0, len(a.flightIDs))
	for id := range a.flightIDs {
		ids = append(ids, id)
	}
	return ids
}
