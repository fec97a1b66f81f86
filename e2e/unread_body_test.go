package e2e

// Refused requests whose body is left unread (issue 25), through the real caddy binary: a client
// that sends headers and part of a body, then nothing, gets its answer at once (or after
// read_timeout when its body is read) with Connection: close, the connection is closed, and
// caddy's goroutines and sockets go back to where they were.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stalledRequest is a request whose body stops after partial bytes, of the Content-Length it
// announced, and the answer it must get.
type stalledRequest struct {
	name          string
	path          string
	header        http.Header
	contentLength int
	partial       int
	wantStatus    int
	wantReason    string // in the answer's body
}

// stalledAnswer is what a stalledRequest got.
type stalledAnswer struct {
	status int
	close  bool // the answer said Connection: close
	body   []byte
	err    error // no answer, or the connection stayed open after it
}

// stalledAnswerWait bounds the wait for an answer and for the close after it: well above the
// read_timeout the test configures (1s), well below the minute of Caddy's own idle timeout
// that used to be the only bound.
const stalledAnswerWait = 15 * time.Second

// send sends the request's headers and partial body over a new connection, then nothing, and
// reads the answer and the end of the connection. The connection is left open on this side
// (conn; nil if dialling failed) so that only caddy can have ended it.
func (r stalledRequest) send(addr string) (a stalledAnswer, conn net.Conn) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return stalledAnswer{err: err}, nil
	}
	_ = conn.SetDeadline(time.Now().Add(stalledAnswerWait))
	var head strings.Builder
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\n", r.path, addr)
	for k, vs := range r.header {
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n", r.contentLength)
	if _, err := io.WriteString(conn, head.String()+strings.Repeat("x", r.partial)); err != nil {
		return stalledAnswer{err: fmt.Errorf("writing: %v", err)}, conn
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return stalledAnswer{err: fmt.Errorf("no answer: %v", err)}, conn
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	a = stalledAnswer{status: resp.StatusCode, close: resp.Close, body: body, err: err}
	if a.err == nil {
		// caddy closes its end (EOF), possibly with a reset for the unread bytes.
		if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			a.err = fmt.Errorf("the connection stayed open after the answer (read: %v)", err)
		}
	}
	return a, conn
}

// caddyLoad is what a caddy process holds: goroutines (admin pprof) and open sockets.
type caddyLoad struct{ goroutines, sockets int }

func measureLoad(t testing.TB, p *caddyProc) caddyLoad {
	t.Helper()
	first, _, _ := strings.Cut(string(p.AdminGet("/debug/pprof/goroutine?debug=1")), "\n")
	n, err := strconv.Atoi(strings.TrimPrefix(first, "goroutine profile: total "))
	if err != nil {
		t.Fatalf("reading the goroutine count from %q: %v", first, err)
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", p.PID())
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatalf("listing caddy's open files: %v", err)
	}
	sockets := 0
	for _, fd := range fds {
		if target, err := os.Readlink(fdDir + "/" + fd.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			sockets++
		}
	}
	return caddyLoad{goroutines: n, sockets: sockets}
}

// loadSlack is how far above its baseline a caddy at rest may measure: timers and the admin
// endpoint's own connection come and go.
const loadSlack = 5

// Headers, then part of the body, then silence, 200 times at once over both directives: a body
// over max_body (413 from its Content-Length), a wrong client id (the protocol's 401, with or
// without a huge body), a body that stalls (408 after read_timeout), antom_api's refusals
// before the body (400) and its own 413 and 408. Each gets its answer with Connection: close and
// the connection is closed; then caddy's goroutines and sockets go back to their baseline.
func TestRefusedRequestsDoNotHoldConnections(t *testing.T) {
	t.Parallel()
	app := newFakeApp(t)
	port := freePort(t)
	env := apiEnv(t)
	env["ANTOM_FORWARD_SECRET"] = whSecret()
	p := startCaddy(t, apiConfig(apiProfile("", apiClientID, "http://"+freeAddr(t), ""), fmt.Sprintf(`http://127.0.0.1:%d {
	handle %s {
		antom_webhook {
			forward        %s/events
			forward_secret {env.ANTOM_FORWARD_SECRET}
			read_timeout   1s
		}
	}
	handle /antom/v1/* {
		antom_api {
			read_timeout 1s
		}
	}
}
`, port, whNotifyPath, app.URL)), env)
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	signed := signNotification(t, whNotifyPath, whClientID, "", whBody("STALL00001"))
	wrongID := signNotification(t, whNotifyPath, "TEST_OTHER0000000000", "", whBody("STALL00001"))
	apiHeader := http.Header{"Content-Type": {"application/json"}}
	apiWrongID := http.Header{"Content-Type": {"application/json"}, "Client-Id": {"TEST_OTHER0000000000"}}
	const inquiry = "/antom/v1/payments/inquiryPayment"
	kinds := []stalledRequest{
		{"notification over max_body", whNotifyPath, signed, 999999, 1000, 413, "body_too_large"},
		{"notification over max_body, wrong client id", whNotifyPath, wrongID, 999999, 1000, 401, "client_id_mismatch"},
		{"notification with a wrong client id", whNotifyPath, wrongID, 2000, 1000, 401, "client_id_mismatch"},
		{"notification whose body stalls", whNotifyPath, signed, 2000, 1000, 408, "body_timeout"},
		{"API call over max_body", inquiry, apiHeader, 5 << 20, 1000, 413, "BODY_TOO_LARGE"},
		{"API call with a wrong client id", inquiry, apiWrongID, 2000, 1000, 400, "CLIENT_ID_MISMATCH"},
		{"API call whose body stalls", inquiry, apiHeader, 2000, 1000, 408, "BODY_TIMEOUT"},
	}

	base := measureLoad(t, p)
	const conns = 200
	answers := make([]stalledAnswer, conns)
	open := make([]net.Conn, conns)
	defer func() {
		for _, c := range open {
			if c != nil {
				c.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], open[i] = kinds[i%len(kinds)].send(addr)
		}()
	}
	wg.Wait()
	sent, failed := map[string]int{}, map[string]int{} // per kind; the first failure of each is shown
	for i, a := range answers {
		k := kinds[i%len(kinds)]
		sent[k.name]++
		var why string
		switch {
		case a.err != nil && a.status == 0:
			why = a.err.Error()
		case a.status != k.wantStatus || !strings.Contains(string(a.body), k.wantReason):
			why = fmt.Sprintf("HTTP %d %s, want %d naming %s", a.status, a.body, k.wantStatus, k.wantReason)
		case !a.close:
			why = "answer without Connection: close"
		case a.err != nil:
			why = a.err.Error()
		default:
			continue
		}
		if failed[k.name]++; failed[k.name] == 1 {
			t.Errorf("%s (connection %d): %s", k.name, i, why)
		}
	}
	for name, n := range failed {
		t.Errorf("%s: %d of %d connection(s) failed", name, n, sent[name])
	}
	if app.Len() != 0 {
		t.Errorf("refused requests reached the app: %d", app.Len())
	}

	// The clients still hold their ends: only caddy can have let go.
	var now caddyLoad
	waitFor(t, time.Minute, "caddy's goroutines and sockets to go back to their baseline", func() bool {
		now = measureLoad(t, p)
		return now.goroutines <= base.goroutines+loadSlack && now.sockets <= base.sockets+loadSlack
	})
	t.Logf("baseline %+v, after %d refused connections %+v", base, conns, now)
}
