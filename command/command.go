// Package command is the `caddy antom ...` command line: key and secret generation, offline
// signature checks, clients of the antom admin API (events, replay, redrive, timeline, pause,
// resume) and copy-store, which opens event stores itself. It never reaches into a running app.
package command

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/outbox"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "antom",
		Usage: "keygen | secret | verify | events | replay | redrive | timeline | copy-store | pause | resume",
		Short: "Antom helpers: merchant keys, forward secrets, offline signature checks, the event queue",
		Long: `
Helpers for the antom app (caddy-antom).

  caddy antom keygen [--out DIR]      new merchant RSA-2048 key pair; prints the public key for the dashboard
  caddy antom secret                  new Standard Webhooks forward_secret (whsec_...)
  caddy antom verify ...              check a captured Antom notification offline
  caddy antom events [--state S] ...  list or search stored events (through the admin API)
  caddy antom replay <id> | --dead    deliver an event, or every dead event, again
  caddy antom redrive [filters]       replay the events a filter matches (a dry run unless --confirm)
  caddy antom timeline --request-id X everything known about one payment, in time order
  caddy antom copy-store              copy the retired file store, or SQLite, into SQLite or PostgreSQL
  caddy antom pause|resume [--forward URL]   stop or restart deliveries to the app (every forward without --forward)

Run "caddy antom <command> --help" for the flags of each.`,
		CobraFunc: setupAntomCommand,
	})
}

// setupAntomCommand adds the subcommands to the `antom` command. Each call builds fresh
// subcommands, so tests can run them on their own root.
func setupAntomCommand(cmd *cobra.Command) {
	cmd.SilenceUsage = true
	cmd.AddCommand(newKeygenCommand(), newSecretCommand(), newVerifyCommand(), newEventsCommand(), newReplayCommand(),
		newRedriveCommand(), newTimelineCommand(), newCopyStoreCommand(), newPauseCommand(), newResumeCommand())
}

// ---- keygen ----

const (
	privateKeyPEMFile = "merchant_private_key.pem"
	privateKeyB64File = "merchant_private_key.b64"
	publicKeyB64File  = "merchant_public_key.b64"
)

func newKeygenCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "keygen [--out DIR]",
		Short: "Generate the merchant RSA-2048 key pair",
		Long: `Generates a merchant RSA-2048 key pair and writes three files: the private key
as merchant_private_key.pem (PKCS#8 PEM, mode 0600) and in the dashboard's forms,
merchant_private_key.b64 (one-line base64 PKCS#8, mode 0600) and
merchant_public_key.b64; it prints the one-line base64 public key to paste into the
Antom Dashboard.

The same pair, made into another directory and never uploaded to Antom, is an
antom_webhook forward_key (forward_format antom): merchant_private_key.pem goes to
forward_key, and the app's notify handler verifies with merchant_public_key.b64 in
place of Antom's public key.

The files go to --out DIR (created with mode 0700 if missing), or the current
directory. Existing files are never overwritten.`,
		Example: "  caddy antom keygen --out /etc/caddy/antom",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, _ := cmd.Flags().GetString("out")
			return runKeygen(cmd.OutOrStdout(), dir)
		},
	}
	c.Flags().String("out", "", "directory for the key files (default: the current directory)")
	return c
}

type keyFile struct {
	name string
	data []byte
	mode os.FileMode
	what string
}

func runKeygen(w io.Writer, dir string) error {
	if dir == "" {
		dir = "."
	}
	// Refuse before generating anything, so nothing is half-written.
	for _, name := range []string{privateKeyPEMFile, privateKeyB64File, publicKeyB64File} {
		path := filepath.Join(dir, name)
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite a key (move it away or use --out with another directory)", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating the RSA key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	publicB64 := antom.EncodePublicKey(&key.PublicKey)
	files := []keyFile{
		{privateKeyPEMFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600, "private key, PKCS#8 PEM"},
		{privateKeyB64File, []byte(antom.EncodePrivateKey(key) + "\n"), 0o600, "the same private key as one-line base64 PKCS#8"},
		{publicKeyB64File, []byte(publicB64 + "\n"), 0o644, "the public key line below"},
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	var written []string
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := writeNewFile(path, f.data, f.mode); err != nil {
			for _, p := range written {
				_ = os.Remove(p)
			}
			return err
		}
		written = append(written, path)
	}

	for i, p := range written {
		if abs, err := filepath.Abs(p); err == nil {
			written[i] = abs
		}
	}
	pemPath := written[0]
	fmt.Fprintf(w, "Wrote the merchant private key to %s (PKCS#8 PEM, mode 0600).\n", pemPath)
	for i, f := range files[1:] {
		fmt.Fprintf(w, "Wrote %s (%s).\n", written[i+1], f.what)
	}
	fmt.Fprintf(w, `
The private key signs your API calls. Keep it on the Caddy host, readable only by the
user Caddy runs as, and point the antom global option at it:

	private_key {file.%s}

Merchant public key: paste this one line into the Antom Dashboard where it asks for
your public key (key configuration), then put Antom's public key from the same page
into antom_public_key:

%s
`, pemPath, publicB64)
	return nil
}

// writeNewFile creates path with mode, failing if it exists.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; refusing to overwrite a key", path)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// ---- secret ----

func newSecretCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "secret",
		Short: "Print a new Standard Webhooks forward_secret (whsec_...)",
		Long: `Prints a new random Standard Webhooks secret (32 bytes, whsec_<base64>) on
standard output, and a reminder on standard error, so that
  export ANTOM_FORWARD_SECRET="$(caddy antom secret)"
works. Give the same value to antom_webhook (forward_secret {env.ANTOM_FORWARD_SECRET})
and to your app's webhook verifier.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := delivery.GenerateSecret()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), s)
			fmt.Fprintln(cmd.ErrOrStderr(), "Give this secret to antom_webhook as forward_secret {env.ANTOM_FORWARD_SECRET} and to your app's Standard Webhooks verifier; keep it out of the Caddyfile itself.")
			return nil
		},
	}
}

// ---- verify ----

type verifyInput struct {
	method, path, clientID, requestTime, signature string
	body                                           []byte
}

func newVerifyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "verify --antom-public-key FILE (--request FILE | --path PATH --client-id ID --request-time T --signature HEADER --body FILE)",
		Short: "Check the signature of a captured Antom notification offline",
		Long: `Verifies an Antom notification signature offline, exactly as antom_webhook does,
and prints OK or the reason it fails.

Give the notification either as a raw HTTP request capture (--request: request line,
headers, blank line, body; the path, client-id, request-time and signature headers
and the body are taken from it) or piece by piece. Flags given next to --request
override what the capture says, e.g. --path when a proxy rewrote the path: the path
that counts is the one Antom POSTed to, as the outside world sees it.

--antom-public-key is a file holding Antom's public key (base64 or PEM, as in
antom_public_key); --key-version is the version it is configured under (default 1).`,
		Example: `  caddy antom verify --antom-public-key antom_public_key.pem --request notify.http
  caddy antom verify --antom-public-key antom_public_key.pem --path /antom/notify \
      --client-id SANDBOX_5YBZ... --request-time 2024-01-01T00:01:11-08:00 \
      --signature 'algorithm=RSA256,keyVersion=1,signature=...' --body body.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := runVerify(cmd)
			var verr *antom.VerifyError
			if errors.As(err, &verr) {
				// runVerify already printed the verdict; exit non-zero without repeating it.
				cmd.SilenceErrors = true
			}
			return err
		},
	}
	f := c.Flags()
	f.String("antom-public-key", "", "file with Antom's public key (required)")
	f.String("key-version", "1", "key version the Antom public key is configured under")
	f.String("request", "", "file with the raw HTTP request as received")
	f.String("method", http.MethodPost, "HTTP method")
	f.String("path", "", "path (and query) Antom POSTed to, e.g. /antom/notify")
	f.String("client-id", "", "client-id header")
	f.String("request-time", "", "request-time header, verbatim")
	f.String("signature", "", "signature header value")
	f.String("body", "", "file with the exact body bytes")
	return c
}

func runVerify(cmd *cobra.Command) error {
	f := cmd.Flags()
	str := func(name string) string { v, _ := f.GetString(name); return v }
	w := cmd.OutOrStdout()

	keyPath := str("antom-public-key")
	if keyPath == "" {
		return errors.New("--antom-public-key FILE is required: Antom's public key, as given to antom_public_key")
	}
	keyText, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	pub, err := antom.ParsePublicKey(string(keyText))
	if err != nil {
		return fmt.Errorf("--antom-public-key %s: %v", keyPath, err)
	}
	keyring := new(antom.Keyring)
	keyring.Add(str("key-version"), pub)

	var in verifyInput
	if path := str("request"); path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var note string
		if in, note, err = parseCapturedRequest(raw); err != nil {
			return fmt.Errorf("--request %s: %v", path, err)
		}
		if note != "" {
			fmt.Fprintf(w, "note: %s\n", note)
		}
	}
	if f.Changed("method") || in.method == "" {
		in.method = str("method")
	}
	for _, o := range []struct {
		flag string
		dst  *string
	}{{"path", &in.path}, {"client-id", &in.clientID}, {"request-time", &in.requestTime}, {"signature", &in.signature}} {
		if f.Changed(o.flag) {
			*o.dst = str(o.flag)
		}
	}
	if f.Changed("body") {
		if in.body, err = os.ReadFile(str("body")); err != nil {
			return err
		}
	}
	if str("request") == "" {
		var missing []string
		for _, name := range []string{"path", "client-id", "request-time", "signature", "body"} {
			if !f.Changed(name) {
				missing = append(missing, "--"+name)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("give --request FILE, or all of --path --client-id --request-time --signature --body (missing %s)", strings.Join(missing, " "))
		}
	}

	sum := sha256.Sum256(in.body)
	fmt.Fprintf(w, "%s %s\nclient-id:    %s\nrequest-time: %s\nbody:         %d bytes, sha256 %s\n",
		in.method, in.path, in.clientID, in.requestTime, len(in.body), hex.EncodeToString(sum[:]))
	version, err := keyring.Verify(in.method, in.path, in.clientID, in.requestTime, in.body, in.signature)
	if err != nil {
		var verr *antom.VerifyError
		if errors.As(err, &verr) {
			fmt.Fprintf(w, "NOT OK (%s): %s\n", verr.Reason, verr.Msg)
		}
		return err
	}
	fmt.Fprintf(w, "OK: the signature verifies with Antom public key version %s\n", version)
	return nil
}

// parseCapturedRequest reads a raw HTTP/1.x request (CRLF or LF line ends). The body is
// Content-Length bytes (or the chunked body); without either, the rest of the file. note
// reports bytes ignored after a Content-Length body.
func parseCapturedRequest(raw []byte) (in verifyInput, note string, err error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	req, err := http.ReadRequest(br)
	if err != nil {
		return in, "", fmt.Errorf("not a raw HTTP request (request line, headers, blank line, body): %v", err)
	}
	defer req.Body.Close()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return in, "", fmt.Errorf("reading the body: %v (is Content-Length %d right?)", err, req.ContentLength)
	}
	rest, _ := io.ReadAll(br)
	switch {
	case len(rest) == 0:
	case req.ContentLength == 0 && len(req.TransferEncoding) == 0 && req.Header.Get("Content-Length") == "":
		body = rest // a hand-made capture without Content-Length
	default:
		note = fmt.Sprintf("%d bytes after the %d-byte body were ignored (Content-Length says where the body ends)", len(rest), len(body))
	}
	return verifyInput{
		method:      req.Method,
		path:        req.RequestURI,
		clientID:    req.Header.Get("Client-Id"),
		requestTime: req.Header.Get("Request-Time"),
		signature:   req.Header.Get("Signature"),
		body:        body,
	}, note, nil
}

// ---- events and replay: clients of the admin API in adminapi/admin.go ----

var adminFlagUsage = "address of Caddy's admin API (default " + caddy.DefaultAdminListen + ")"

func newEventsCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "events [--state pending|delivered|dead] [filters] [--limit N] [--admin ADDR]",
		Short: "List or search stored events (metadata only) through the admin API",
		Long: `Lists the events in one state (pending oldest first, the others newest first), or,
given any filter, searches every state (--state narrows) newest first. A search prints the
--cursor that shows its next page.`,
		Example: `  caddy antom events --state dead
  caddy antom events --request-id ORDER-1234
  caddy antom events --type REFUND_RESULT --since 2026-05-01T00:00:00Z --state dead`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			state, _ := f.GetString("state")
			limit, _ := f.GetInt("limit")
			admin, _ := f.GetString("admin")
			filter := filterFlagValues(f)
			if cursor, _ := f.GetString("cursor"); cursor != "" {
				filter.Set("cursor", cursor)
			}
			if len(filter) > 0 && !f.Changed("state") {
				state = "" // a search covers every state unless told
			}
			return runEvents(cmd.OutOrStdout(), admin, state, limit, filter)
		},
	}
	c.Flags().String("state", string(outbox.StatePending), "pending, delivered or dead")
	c.Flags().Int("limit", 100, "most events to list")
	c.Flags().String("cursor", "", "the next page of a search, as the previous page printed it")
	addFilterFlags(c)
	c.Flags().String("admin", "", adminFlagUsage)
	return c
}

// adminEvent is an event as GET /antom/events shows it.
type adminEvent struct {
	outbox.Event
	BodySize int `json:"bodySize"`
}

// runEvents lists the events in state (no filter), or searches with filter (state "": all).
func runEvents(w io.Writer, admin, state string, limit int, filter url.Values) error {
	switch outbox.State(state) {
	case outbox.StatePending, outbox.StateDelivered, outbox.StateDead:
	case "":
		if len(filter) == 0 {
			return errors.New("--state must be pending, delivered or dead")
		}
	default:
		return fmt.Errorf("--state must be pending, delivered or dead, not %q", state)
	}
	if limit <= 0 {
		return fmt.Errorf("--limit must be a positive number")
	}
	var page struct {
		Events []adminEvent `json:"events"`
		Next   string       `json:"next"`
	}
	if len(filter) == 0 {
		uri := "/antom/events?state=" + url.QueryEscape(state) + "&limit=" + strconv.Itoa(limit)
		body, err := adminRequest(admin, http.MethodGet, uri)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(body, &page.Events); err != nil {
			return fmt.Errorf("the admin API answered something that is not a list of events: %v", err)
		}
	} else {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		for k, v := range filter {
			q[k] = v
		}
		if state != "" {
			q.Set("state", state)
		}
		body, err := adminRequest(admin, http.MethodGet, "/antom/events/search?"+q.Encode())
		if err != nil {
			return err
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("the admin API answered something that is not a page of events: %v", err)
		}
	}
	what := state + " events"
	if len(filter) > 0 {
		what = strings.TrimSpace(state + " events matching the filter")
	}
	if len(page.Events) == 0 {
		fmt.Fprintf(w, "no %s\n", what)
		return nil
	}
	if err := printEvents(w, page.Events, state); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d %s", len(page.Events), what)
	switch {
	case page.Next != "":
		fmt.Fprintf(w, "; next page: --cursor %s", page.Next)
	case len(filter) == 0 && len(page.Events) >= limit:
		fmt.Fprintf(w, " (the first %d; --limit shows more)", limit)
	}
	fmt.Fprintln(w)
	return nil
}

// printEvents prints events as a table; state "" means they are in different states.
func printEvents(w io.Writer, events []adminEvent, state string) error {
	whenTitle := map[string]string{"pending": "NEXT ATTEMPT", "delivered": "DELIVERED", "dead": "DEAD SINCE", "": "STATE SINCE"}[state]
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	stateTitle := ""
	if state == "" {
		stateTitle = "STATE\t"
	}
	fmt.Fprintf(tw, "ID\t%sPROFILE\tTYPE\tRESULT\tREQUEST ID\tATTEMPTS\tRECEIVED\t%s\tLAST ERROR\n", stateTitle, whenTitle)
	for _, ev := range events {
		when := ev.NextAttempt
		switch ev.State {
		case outbox.StateDelivered:
			when = ev.DeliveredAt
		case outbox.StateDead:
			when = ev.DeadAt
		}
		lastErr := ev.LastError
		if ev.LastStatus != 0 && !strings.Contains(lastErr, strconv.Itoa(ev.LastStatus)) {
			lastErr = strings.TrimSpace("HTTP " + strconv.Itoa(ev.LastStatus) + " " + lastErr)
		}
		stateCol := ""
		if state == "" {
			stateCol = string(ev.State) + "\t"
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n",
			ev.ID, stateCol, ev.Profile, dash(ev.Type), dash(ev.ResultStatus), dash(ev.RequestID), ev.Attempts,
			formatTime(ev.ReceivedAt), formatTime(when), dash(truncateText(lastErr, 60)))
	}
	return tw.Flush()
}

func newReplayCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "replay <id> | --dead [--admin ADDR]",
		Short: "Deliver a delivered or dead event again, or every dead event (--dead)",
		Long: `Moves an event back to pending so the delivery workers send it to the app again,
with the same webhook-id (the app deduplicates by it). "caddy antom events --state dead"
lists the ids. --dead replays every dead event.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dead, _ := cmd.Flags().GetBool("dead")
			admin, _ := cmd.Flags().GetString("admin")
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			return runReplay(cmd.OutOrStdout(), admin, id, dead)
		},
	}
	c.Flags().Bool("dead", false, "replay every dead event")
	c.Flags().String("admin", "", adminFlagUsage)
	return c
}

func runReplay(w io.Writer, admin, id string, dead bool) error {
	switch {
	case dead && id != "":
		return errors.New("give an event id or --dead, not both")
	case dead:
		body, err := adminRequest(admin, http.MethodPost, "/antom/events/replay-dead")
		if err != nil {
			return err
		}
		var out struct {
			Replayed int `json:"replayed"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return fmt.Errorf("unexpected answer from the admin API: %v", err)
		}
		fmt.Fprintf(w, "replayed %d dead event(s); they are pending again and will be delivered shortly\n", out.Replayed)
		return nil
	case id == "":
		return errors.New("give the id of the event to replay (caddy antom events --state dead lists them), or --dead")
	case !outbox.ValidEventID(id):
		return fmt.Errorf("%q is not an event id (msg_ followed by 32 hex digits)", id)
	}
	body, err := adminRequest(admin, http.MethodPost, "/antom/events/"+id+"/replay")
	if err != nil {
		return err
	}
	var out struct {
		Replayed string `json:"replayed"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Replayed != id {
		return fmt.Errorf("unexpected answer from the admin API: %s", truncateText(string(body), 200))
	}
	fmt.Fprintf(w, "replayed %s; it is pending again and will be delivered shortly\n", id)
	return nil
}

// adminRequest calls Caddy's admin API and returns the response body, turning Caddy's JSON
// error answers into plain messages.
func adminRequest(admin, method, uri string) ([]byte, error) {
	if admin == "" {
		admin = caddy.DefaultAdminListen
	}
	resp, err := caddycmd.AdminAPIRequest(admin, method, uri, nil, nil)
	if err != nil {
		msg := strings.TrimSpace(err.Error())
		if rest, ok := strings.CutPrefix(msg, "caddy responded with error: "); ok {
			// "HTTP 409: {"error":"..."}"
			status, body, _ := strings.Cut(rest, ": ")
			var apiErr struct {
				Error string `json:"error"`
			}
			if json.Unmarshal([]byte(body), &apiErr) == nil && apiErr.Error != "" {
				body = apiErr.Error
			}
			return nil, fmt.Errorf("admin API %s %s: %s: %s", method, uri, status, body)
		}
		if strings.HasPrefix(msg, "performing request") {
			return nil, fmt.Errorf("%s\nis Caddy running with its admin API at %s? Use --admin ADDR if it listens elsewhere", msg, admin)
		}
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 32<<20))
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncateText(s string, n int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-3]) + "..."
}
