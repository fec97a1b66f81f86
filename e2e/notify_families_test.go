package e2e

// antom_webhook through the real binary with a notification of every family the SDKs model
// (testdata/notifications), replayed and stale notifications, and clients that stall their body.

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// readNotificationCorpus returns the bodies of testdata/notifications by file name.
func readNotificationCorpus(t testing.TB) map[string][]byte {
	t.Helper()
	dir := filepath.Join("..", "testdata", "notifications")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("notification corpus missing: %v", err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = b
		}
	}
	if len(out) < 30 {
		t.Fatalf("the corpus has %d bodies, want at least 30", len(out))
	}
	return out
}

// Every body of the corpus is a distinct event: each is delivered once, with its own webhook-id;
// Antom's retry of each (same body, a new request-time and signature) is acknowledged and not
// delivered again. The ack carries response-time and client-id.
func TestWebhookEveryFamilyDeliveredOnce(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	corpus := readNotificationCorpus(t)
	want := map[string][]byte{}
	names := map[string]string{}
	for name, body := range corpus {
		id := whEventID(t, body)
		if other, dup := names[id]; dup {
			t.Fatalf("%s and %s get the same webhook-id %s", other, name, id)
		}
		names[id], want[id] = name, body
		status, h, ack := httpDo(t, http.MethodPost, s.Notify, signNotification(t, whNotifyPath, whClientID, "", body), body)
		whRequireAck(t, name, status, h, ack)
		if h.Get("client-id") != whClientID {
			t.Errorf("%s: ack client-id %q, want %s", name, h.Get("client-id"), whClientID)
		}
		if rt, err := antom.ParseRequestTime(h.Get("response-time")); err != nil || time.Since(rt) > time.Hour || time.Until(rt) > time.Hour {
			t.Errorf("%s: ack response-time %q is not the time now in ISO-8601 (%v)", name, h.Get("response-time"), err)
		}
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	whWaitDelivered(t, s.app, ids)
	retryTime := time.Now().Add(2 * time.Minute).Format("2006-01-02T15:04:05.000-07:00")
	for name, body := range corpus {
		status, h, ack := httpDo(t, http.MethodPost, s.Notify, signNotification(t, whNotifyPath, whClientID, retryTime, body), body)
		whRequireAck(t, name+" retried", status, h, ack)
	}
	s.app.Never(2 * time.Second)
	whCheckDeliveries(t, s.app, want, true)
	if n := len(whByID(s.app.Requests())); n != len(corpus) {
		t.Fatalf("the app got %d distinct webhook-ids, want %d", n, len(corpus))
	}

	// A subscription's period payment is routed like any payment result, with its subscription id.
	for _, r := range s.app.Requests() {
		if names[r.Header.Get("webhook-id")] != "10-subscription-period-2.json" {
			continue
		}
		if r.Header.Get("Antom-Event-Kind") != "payment" || r.Header.Get("Antom-Event-Type") != "PAYMENT_RESULT" ||
			r.Header.Get("Antom-Subscription-Id") != "202401011900000000000000SUB09" {
			t.Errorf("period payment headers: kind %q type %q subscription %q", r.Header.Get("Antom-Event-Kind"),
				r.Header.Get("Antom-Event-Type"), r.Header.Get("Antom-Subscription-Id"))
		}
	}
	// An event without a request id is logged without an empty key.
	if strings.Contains(s.p.Logs(), `"":""`) {
		t.Errorf("a log line has an empty key:\n%s", s.p.Logs())
	}
}

// A validly signed notification whose request-time is too old (a replay) or too far in the future
// is refused with 401 stale_request_time, logged, and neither stored nor forwarded. A
// max_request_age that Antom's retries or the app's retention cannot live with fails the load.
func TestWebhookRefusesStaleRequestTime(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{})
	now := time.Now()
	cases := []struct{ name, requestTime, reason string }{
		{"a year old", now.AddDate(-1, 0, 0).Format(time.RFC3339), "stale_request_time"},
		{"older than max_request_age", antom.RequestTime(now.Add(-73 * time.Hour)), "stale_request_time"},
		{"months in the future", now.AddDate(0, 3, 0).Format("2006-01-02T15:04:05.000-07:00"), "stale_request_time"},
		{"ten minutes in the future", antom.RequestTime(now.Add(10 * time.Minute)), "stale_request_time"},
		{"no offset", now.Format("2006-01-02T15:04:05"), "malformed_request_time"},
		{"missing", "", "malformed_request_time"},
	}
	for i, c := range cases {
		body := whBody(fmt.Sprintf("STALE%05d", i))
		h := signNotification(t, whNotifyPath, whClientID, c.requestTime, body)
		if c.requestTime == "" {
			h.Del("request-time")
		}
		status, _, resp := httpDo(t, http.MethodPost, s.Notify, h, body)
		if status != http.StatusUnauthorized || !strings.Contains(string(resp), c.reason) {
			t.Errorf("%s: HTTP %d %s, want 401 naming %s", c.name, status, resp, c.reason)
		}
	}
	s.p.WaitLog("stale_request_time", whWait)
	// Within the window, late as Antom's last retry can be: accepted.
	late := whBody("STALEOK001")
	status, h, ack := httpDo(t, http.MethodPost, s.Notify, signNotification(t, whNotifyPath, whClientID, antom.RequestTime(now.Add(-30*time.Hour)), late), late)
	whRequireAck(t, "a 30 hour old request-time", status, h, ack)
	whWaitDelivered(t, s.app, []string{whEventID(t, late)})
	s.app.Never(time.Second)
	if n := s.app.Len(); n != 1 {
		t.Fatalf("the app got %d requests, want only the fresh one\n%s", n, s.app.dump())
	}
	if evs := whEvents(t, s.p, "pending"); len(evs) != 0 {
		t.Errorf("refused notifications were stored: %+v", evs)
	}

	for _, c := range []struct{ webhook, want string }{
		{"max_request_age 200h", "longer than the antom app's retention"},
		{"max_request_age 10h", "too short"},
	} {
		conf := s.conf
		conf.Webhook = "\t\t" + c.webhook
		if err := s.p.TryReload(conf.caddyfile()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: reload error %v, want one saying %q", c.webhook, err, c.want)
		}
	}
}

// vmRSS is a process's resident memory in bytes, from /proc/<pid>/status.
func vmRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading caddy's memory use: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// 400 unauthenticated clients that send the headers of a plausible notification and almost all
// of a 1 MB body, then stall, do not make caddy hold their bodies: the memory of bodies being read
// is bounded, the excess is answered 503 at once, and the stalled reads give their memory back.
func TestWebhookStalledBodiesBoundMemory(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{Webhook: "\t\tmax_body 1MiB\n\t\tread_timeout 3s"})
	// Warm up: one real notification, so the baseline includes the handler's working set.
	s.whNotify(whBody("STALL00001"))
	base := vmRSS(t, s.p.PID())

	const clients, size = 400, 1_000_000
	hdr := signNotification(t, whNotifyPath, whClientID, "", whBody("STALL00002"))
	head := "POST " + whNotifyPath + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
		"Client-Id: " + whClientID + "\r\nRequest-Time: " + hdr.Get("request-time") + "\r\nSignature: " + hdr.Get("signature") +
		"\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	payload := append([]byte(head), make([]byte, size-1)...)
	for i := len(head); i < len(payload); i++ {
		payload[i] = 'x'
	}
	addr := strings.TrimPrefix(s.Base, "http://")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	statuses := map[string]int{}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, whWait)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			_ = c.SetDeadline(time.Now().Add(whWait))
			_, _ = c.Write(payload) // refused early: the write may fail, that is fine
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				mu.Lock()
				statuses[resp.Status]++
				mu.Unlock()
			}
		}()
	}
	// Sample while the stalled clients hold their connections.
	peak := int64(0)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for sampling := true; sampling; {
		select {
		case <-done:
			sampling = false
		case <-time.After(100 * time.Millisecond):
		}
		peak = max(peak, vmRSS(t, s.p.PID()))
	}
	mu.Lock()
	for _, c := range conns {
		_ = c.Close()
	}
	t.Logf("RSS before %d MiB, peak %d MiB; answers %v", base>>20, peak>>20, statuses)
	mu.Unlock()
	const bound = 128 << 20 // the 16 MiB budget, 400 connections' buffers and the GC's slack; unbounded reads take 400 MB
	if peak-base > bound {
		t.Errorf("caddy's RSS grew by %d MiB under stalled bodies, want at most %d MiB", (peak-base)>>20, bound>>20)
	}
	if statuses["503 Service Unavailable"] == 0 || statuses["408 Request Timeout"] == 0 {
		t.Errorf("answers %v: want 503 for the reads over the budget and 408 for the stalled ones", statuses)
	}
	// Nothing was stored or forwarded, and a real notification goes through afterwards.
	after := whBody("STALL00003")
	s.whNotify(after)
	whWaitDelivered(t, s.app, []string{whEventID(t, after)})
	if n := len(whByID(s.app.Requests())); n != 2 {
		t.Errorf("the app got %d events, want the 2 real notifications", n)
	}
}
