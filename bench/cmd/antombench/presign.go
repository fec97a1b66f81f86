package main

// presign.go: notifications signed like Antom signs them (the antom_sim key of the golden vectors),
// each one distinct so the webhook's deduplication never short-circuits. They are signed before
// any measurement and cached in .cache/bench, so signing is never inside a measured loop.

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// The merchant account every scenario uses, and the path Antom posts notifications to.
const (
	clientID   = "BENCH_5X00000000000001"
	notifyPath = "/antom/notify"
)

// notification is one signed request, ready to send.
type notification struct {
	Body        []byte
	RequestTime string
	Signature   string // the Signature header value
}

// notificationBody is a PAYMENT_RESULT like the golden vector's, with unique ids.
func notificationBody(i int) []byte {
	return fmt.Appendf(nil, `{"notifyType":"PAYMENT_RESULT","result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success."},`+
		`"paymentRequestId":"BENCH_%09d","paymentId":"20240101194010800100%012d","paymentAmount":{"value":"1000","currency":"USD"},`+
		`"paymentCreateTime":"2024-01-01T00:00:05-08:00","paymentTime":"2024-01-01T00:01:10-08:00"}`, i, i)
}

// eventBody is the i-th notification when they are the events of payments payments (0: every
// one its own payment): the first event of each payment is its PAYMENT_RESULT, the further ones
// are REFUND_RESULTs of that paymentId, each with its own refundId (so none deduplicates), all
// kept in order per payment by ordering on.
func eventBody(i, payments int) []byte {
	if payments == 0 || i < payments {
		return notificationBody(i)
	}
	return fmt.Appendf(nil, `{"notifyType":"REFUND_RESULT","result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success."},`+
		`"refundRequestId":"BENCH_R_%09d","refundId":"20240101194010800200%012d","paymentId":"20240101194010800100%012d",`+
		`"refundAmount":{"value":"10","currency":"USD"},"refundTime":"2024-01-02T00:01:10-08:00"}`, i, i, i%payments)
}

// presign returns n signed notifications (eventBody), from the cache when it holds them.
func presign(cacheDir string, key *rsa.PrivateKey, n, payments int) ([]notification, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append(der, notifyPath+clientID...))
	name := fmt.Sprintf("notifications-%s-%d", hex.EncodeToString(sum[:6]), n)
	if payments > 0 {
		name += fmt.Sprintf("-payments-%d", payments)
	}
	cache := filepath.Join(cacheDir, name+".gob")
	if f, err := os.Open(cache); err == nil {
		defer f.Close()
		var notes []notification
		if err := gob.NewDecoder(f).Decode(&notes); err == nil && len(notes) == n {
			logf("loaded %d pre-signed notifications from %s", n, cache)
			return notes, nil
		}
	}

	logf("signing %d notifications on %d cores (once; cached in %s)", n, runtime.NumCPU(), cacheDir)
	start := time.Now()
	notes := make([]notification, n)
	reqTime := antom.RequestTime(time.Now()) // the webhook does not check freshness
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				body := eventBody(i, payments)
				sig, err := antom.Sign(key, antom.ContentToSign(http.MethodPost, notifyPath, clientID, reqTime, body))
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				notes[i] = notification{Body: body, RequestTime: reqTime, Signature: antom.SignatureHeader("1", sig)}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	logf("signed %d notifications in %s", n, time.Since(start).Round(time.Millisecond))
	if err := os.MkdirAll(cacheDir, 0o755); err == nil {
		tmp := cache + ".tmp"
		if f, err := os.Create(tmp); err == nil {
			if gob.NewEncoder(f).Encode(notes) == nil && f.Close() == nil {
				_ = os.Rename(tmp, cache)
			}
			_ = os.Remove(tmp)
		}
	}
	return notes, nil
}

// pool hands out each notification once. Every caddy instance starts with an empty data dir,
// so a new pool over the same notifications is still free of duplicates.
type pool struct {
	notes []notification
	next  atomic.Int64
}

func newPool(notes []notification) *pool { return &pool{notes: notes} }

// take returns the next unused notification, or nil when all were used.
func (p *pool) take() *notification {
	i := p.next.Add(1) - 1
	if i >= int64(len(p.notes)) {
		return nil
	}
	return &p.notes[i]
}

func (p *pool) left() int { return max(0, len(p.notes)-int(p.next.Load())) }
