package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// filterFlags are the search filter's command-line flags and the admin API parameters they set.
var filterFlags = []struct{ flag, param, usage string }{
	{"request-id", "requestId", "the merchant's request id: paymentRequestId (order number), refundRequestId or captureRequestId"},
	{"payment-id", "paymentId", "Antom's paymentId"},
	{"type", "type", "event type, e.g. PAYMENT_RESULT, REFUND_RESULT"},
	{"kind", "kind", "notification kind, e.g. notifyType"},
	{"source", "source", "notification or inquiry"},
	{"forward", "forward", "forward (delivery route id, rt_...)"},
	{"since", "since", "received at or after this RFC 3339 time"},
	{"until", "until", "received before this RFC 3339 time"},
}

func addFilterFlags(c *cobra.Command) {
	for _, f := range filterFlags {
		c.Flags().String(f.flag, "", f.usage)
	}
}

// filterFlagValues returns the filter flags given, as admin API query parameters.
func filterFlagValues(fs *pflag.FlagSet) url.Values {
	q := url.Values{}
	for _, f := range filterFlags {
		if v, _ := fs.GetString(f.flag); v != "" {
			q.Set(f.param, v)
		}
	}
	return q
}

func newRedriveCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "redrive [--state dead|delivered] [filters] [--confirm] [--admin ADDR]",
		Short: "Replay every delivered or dead event a filter matches; a dry run unless --confirm",
		Long: `Without --confirm, prints how many events the filter matches and a sample of them,
and replays nothing. With --confirm, moves them back to pending so that the delivery
workers send them to the app again, with their webhook-ids (the app deduplicates by them).
Pending events are on their way already and are left alone.`,
		Example: `  caddy antom redrive --state dead --since 2026-05-01T10:00:00Z --until 2026-05-01T12:00:00Z
  caddy antom redrive --state dead --since 2026-05-01T10:00:00Z --until 2026-05-01T12:00:00Z --confirm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			q := filterFlagValues(f)
			if state, _ := f.GetString("state"); state != "" {
				q.Set("state", state)
			}
			confirm, _ := f.GetBool("confirm")
			admin, _ := f.GetString("admin")
			return runRedrive(cmd.OutOrStdout(), admin, q, confirm)
		},
	}
	c.Flags().String("state", "", "dead or delivered (default: both)")
	addFilterFlags(c)
	c.Flags().Bool("confirm", false, "replay (without it: a dry run)")
	c.Flags().String("admin", "", adminFlagUsage)
	return c
}

func runRedrive(w io.Writer, admin string, filter url.Values, confirm bool) error {
	if len(filter) == 0 {
		return errors.New("give a filter (e.g. --state dead --since ...): replaying every stored event is rarely meant")
	}
	q := url.Values{}
	for k, v := range filter {
		q[k] = v
	}
	q.Set("dryRun", fmt.Sprint(!confirm))
	body, err := adminRequest(admin, http.MethodPost, "/antom/events/redrive?"+q.Encode())
	if err != nil {
		return err
	}
	var res struct {
		Count  int          `json:"count"`
		Sample []adminEvent `json:"sample"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("unexpected answer from the admin API: %v", err)
	}
	if confirm {
		fmt.Fprintf(w, "replayed %d event(s); they are pending again and will be delivered shortly\n", res.Count)
		return nil
	}
	if len(res.Sample) > 0 {
		if err := printEvents(w, res.Sample, ""); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "dry run: %d event(s) match (%d shown); add --confirm to replay them\n", res.Count, len(res.Sample))
	return nil
}

func newTimelineCommand() *cobra.Command {
	c := &cobra.Command{
		Use:     "timeline (--request-id ID | --payment-id ID) [--admin ADDR]",
		Short:   "Print everything known about one payment, in time order",
		Example: "  caddy antom timeline --request-id ORDER-1234",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			requestID, _ := f.GetString("request-id")
			paymentID, _ := f.GetString("payment-id")
			admin, _ := f.GetString("admin")
			return runTimeline(cmd.OutOrStdout(), admin, requestID, paymentID)
		},
	}
	c.Flags().String("request-id", "", "the payment's paymentRequestId (the order number)")
	c.Flags().String("payment-id", "", "Antom's paymentId")
	c.Flags().String("admin", "", adminFlagUsage)
	return c
}

func runTimeline(w io.Writer, admin, requestID, paymentID string) error {
	if requestID == "" && paymentID == "" {
		return errors.New("give --request-id (the paymentRequestId, your order number) or --payment-id (Antom's paymentId)")
	}
	q := url.Values{}
	if requestID != "" {
		q.Set("paymentRequestId", requestID)
	}
	if paymentID != "" {
		q.Set("paymentId", paymentID)
	}
	body, err := adminRequest(admin, http.MethodGet, "/antom/timeline?"+q.Encode())
	if err != nil {
		return err
	}
	var tl outbox.Timeline
	if err := json.Unmarshal(body, &tl); err != nil {
		return fmt.Errorf("unexpected answer from the admin API: %v", err)
	}
	fmt.Fprintf(w, "payment %s (Antom paymentId %s)\n", dash(tl.PaymentRequestID), dash(tl.PaymentID))
	if len(tl.Entries) == 0 {
		fmt.Fprintln(w, "nothing is stored about this payment")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tWHAT\tEVENT OR API\tTYPE\tSTATUS\tLATENCY\tDETAIL")
	for _, e := range tl.Entries {
		status := "-"
		if e.Status != 0 {
			status = fmt.Sprint(e.Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format("2006-01-02 15:04:05.000"),
			e.What, dash(e.Subject()), dash(e.Type), status, dash(e.Latency()), dash(truncateText(strings.TrimSpace(e.Describe()), 120)))
	}
	return tw.Flush()
}
