package outbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// Activity is the metadata of something that happened to a payment besides its stored events:
// an API call through antom_api, an inquiry of the reconciliation, a notification that was
// rejected or received again. It never holds a body, card data or a secret.
type Activity struct {
	// ID is random ("act_" and 32 hex digits): a record stored under several of its ids is
	// one activity.
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
	What string    `json:"what"` // ActivityAPICall, ActivityInquiry, ActivityRejected or ActivityDuplicate
	// Profile is the antom profile of the handler or worker that recorded it.
	Profile string `json:"profile,omitempty"`
	// API is the Antom API path called, e.g. v1/payments/refund.
	API string `json:"api,omitempty"`
	// IDs are the ids the activity names, by their Antom field name: paymentRequestId,
	// paymentId, refundRequestId, captureRequestId, refundId, captureId. It is found by each.
	IDs map[string]string `json:"ids"`
	// Unverified marks ids claimed by a notification whose signature was not verified.
	Unverified bool `json:"unverified,omitempty"`
	// Status is the HTTP status: antom_api's answer to the app, Antom's answer to an inquiry,
	// the one a rejected notification got.
	Status int `json:"status,omitempty"`
	// Result is Antom's result (resultStatus and resultCode, or a payment status), or why a
	// notification was rejected.
	Result  string        `json:"result,omitempty"`
	Latency time.Duration `json:"latency,omitempty"`
	Detail  string        `json:"detail,omitempty"`
	// Remote is the sender's address, for rejected notifications.
	Remote string `json:"remote,omitempty"`
}

// Activity kinds.
const (
	ActivityAPICall   = "api_call"               // a call to Antom through antom_api (or the reconciliation's cancel)
	ActivityInquiry   = "inquiry_call"           // an inquiryPayment of the reconciliation
	ActivityRejected  = "notification_rejected"  // a notification that was not accepted
	ActivityDuplicate = "notification_duplicate" // a notification received again (Antom's retry)
)

// ActivityIDFields are the id fields an Activity may name, in the order timelines show them.
var ActivityIDFields = []string{"paymentRequestId", "paymentId", "refundRequestId", "refundId", "captureRequestId", "captureId"}

// maxActivityID bounds the length of an id an activity keeps: Antom's ids are at most 64
// characters, and a rejected notification's ids come from anyone.
const maxActivityID = 128

// NewActivity returns an activity of kind what at at, with a new random ID and no ids.
func NewActivity(what string, at time.Time) *Activity {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return &Activity{ID: "act_" + hex.EncodeToString(b[:]), At: at, What: what, IDs: map[string]string{}}
}

// Name records that the activity names id in field; empty and oversized ids are left out.
func (a *Activity) Name(field, id string) {
	if id != "" && len(id) <= maxActivityID && !strings.ContainsFunc(id, isControl) {
		a.IDs[field] = id
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// ValidActivityID reports whether id has the form NewActivity produces.
func ValidActivityID(id string) bool { return validHashID("act_", id) }

// Storage layout of activities on Caddy's storage: one folder per UTC day, and in it one per id
// (a hash of its field and value), so a lookup lists a folder per day and pruning deletes whole
// days. A record naming several ids is written under each.
const activityPrefix = "antom/activity"

const activityDay = "2006-01-02"

func activityDir(day, field, id string) string {
	sum := sha256.Sum256([]byte(field + ":" + id))
	return activityPrefix + "/" + day + "/" + hex.EncodeToString(sum[:16])
}

// AddActivity stores a under every id it names (none: nothing is stored).
func (s *Store) AddActivity(ctx context.Context, a *Activity) error {
	if !ValidActivityID(a.ID) {
		return fmt.Errorf("%w: %q", ErrInvalidID, a.ID)
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	day := a.At.UTC().Format(activityDay)
	// The time first, so a folder lists in time order.
	name := a.At.UTC().Format("150405.000000000") + "-" + a.ID
	for field, id := range a.IDs {
		if err := s.storage.Store(ctx, activityDir(day, field, id)+"/"+name, b); err != nil {
			return err
		}
	}
	return nil
}

// Activities returns the activities that name id in field, oldest first.
func (s *Store) Activities(ctx context.Context, field, id string) ([]*Activity, error) {
	days, err := s.listNames(ctx, activityPrefix)
	if err != nil {
		return nil, err
	}
	var out []*Activity
	for _, day := range days {
		dir := activityDir(day, field, id)
		names, err := s.listNames(ctx, dir)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if _, actID, ok := strings.Cut(name, "-"); !ok || !ValidActivityID(actID) {
				continue // a temporary file
			}
			b, err := s.storage.Load(ctx, dir+"/"+name)
			if errors.Is(err, fs.ErrNotExist) {
				continue // pruned meanwhile
			}
			if err != nil {
				return nil, err
			}
			var a Activity
			if err := json.Unmarshal(b, &a); err != nil {
				return nil, fmt.Errorf("decoding %s/%s: %w", dir, name, err)
			}
			out = append(out, &a)
		}
	}
	SortActivities(out)
	return out, nil
}

// SortActivities sorts activities oldest first.
func SortActivities(acts []*Activity) {
	sort.SliceStable(acts, func(i, j int) bool { return acts[i].At.Before(acts[j].At) })
}

// pruneActivities deletes the day folders whose every record is older than cutoff.
func (s *Store) pruneActivities(ctx context.Context, cutoff time.Time) error {
	days, err := s.listNames(ctx, activityPrefix)
	if err != nil {
		return err
	}
	for _, day := range days {
		t, err := time.Parse(activityDay, day)
		if err != nil || t.AddDate(0, 0, 1).After(cutoff) {
			continue
		}
		if err := s.storage.Delete(ctx, activityPrefix+"/"+day); err != nil {
			return err
		}
	}
	return nil
}
