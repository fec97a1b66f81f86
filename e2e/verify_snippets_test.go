package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-antom/caddy-antom/antom"
)

// The snippets of examples/verify, one pair per language the README names (Standard Webhooks and
// Antom's signature), run on deliveries the caddy binary made, through the harnesses in
// e2e/snippets (one process per language and test; Java and C# are compiled once, into bin/).

// snippetLang is one language's toolchain and harness.
type snippetLang struct {
	name  string
	tools []string // programs it needs
	pkg   string   // the Debian packages that bring them
	// command returns the program and arguments that run the harness on a cases file.
	command func(t testing.TB, cases string) []string
}

func snippetsDir() string { return filepath.Join(repoRoot, "examples", "verify") }
func harnessDir() string  { return filepath.Join(repoRoot, "e2e", "snippets") }

var snippetLangs = []snippetLang{
	{name: "php", tools: []string{"php"}, pkg: "php-cli", command: func(_ testing.TB, cases string) []string {
		return []string{"php", filepath.Join(harnessDir(), "harness.php"), snippetsDir(), cases}
	}},
	{name: "java", tools: []string{"javac", "java"}, pkg: "default-jdk-headless", command: func(t testing.TB, cases string) []string {
		return []string{"java", "-cp", compiledSnippets(t, "java"), "Harness", cases}
	}},
	{name: "csharp", tools: []string{"mcs", "mono"}, pkg: "mono-mcs mono-runtime", command: func(t testing.TB, cases string) []string {
		return []string{"mono", filepath.Join(compiledSnippets(t, "csharp"), "harness.exe"), cases}
	}},
	{name: "perl", tools: []string{"perl"}, pkg: "perl", command: func(_ testing.TB, cases string) []string {
		return []string{"perl", filepath.Join(harnessDir(), "harness.pl"), snippetsDir(), cases}
	}},
	{name: "javascript", tools: []string{"node"}, pkg: "nodejs", command: func(_ testing.TB, cases string) []string {
		return []string{"node", filepath.Join(harnessDir(), "harness.js"), snippetsDir(), cases}
	}},
	{name: "python", tools: []string{"python3"}, pkg: "python3", command: func(_ testing.TB, cases string) []string {
		return []string{"python3", filepath.Join(harnessDir(), "harness.py"), snippetsDir(), cases}
	}},
}

// compiled holds one compilation per language and test process.
var compiled = struct {
	sync.Mutex
	dirs map[string]string
}{dirs: map[string]string{}}

// compiledSnippets compiles a language's snippets with its harness into bin/verify-snippets/
// <lang>-<hash of the sources>/ (reused while the sources do not change) and returns the folder.
// javac targets Java 8 and mcs C# 5 (.NET Framework 4.5), the oldest the snippets promise.
func compiledSnippets(t testing.TB, lang string) string {
	t.Helper()
	compiled.Lock()
	defer compiled.Unlock()
	if dir, ok := compiled.dirs[lang]; ok {
		return dir
	}
	ext, harness := map[string]string{"java": ".java", "csharp": ".cs"}[lang], map[string]string{"java": "Harness.java", "csharp": "Harness.cs"}[lang]
	srcs, err := filepath.Glob(filepath.Join(snippetsDir(), "*"+ext))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no %s snippets in %s (%v)", ext, snippetsDir(), err)
	}
	srcs = append(srcs, filepath.Join(harnessDir(), harness))
	sort.Strings(srcs)
	h := sha256.New()
	for _, src := range srcs {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(src), len(b))
		h.Write(b)
	}
	dir := filepath.Join(repoRoot, "bin", "verify-snippets", lang+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(dir); err == nil {
		compiled.dirs[lang] = dir
		return dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), lang+"-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	var args []string
	switch lang {
	case "java":
		args = append([]string{"javac", "--release", "8", "-Xlint:-options", "-d", tmp}, srcs...)
	case "csharp":
		args = append([]string{"mcs", "-langversion:5", "-warnaserror+", "-out:" + filepath.Join(tmp, "harness.exe")}, srcs...)
	}
	if out, err := runCmd(t, args[0], args[1:]...); err != nil {
		t.Fatalf("compiling the %s snippets: %v\n%s", lang, err, out)
	}
	// Another test process may have compiled the same sources meanwhile: either copy will do.
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr != nil {
			t.Fatal(err)
		}
	}
	compiled.dirs[lang] = dir
	return dir
}

// requireSnippetLang fails the test, naming the install command, when a toolchain is missing.
func requireSnippetLang(t testing.TB, l snippetLang) {
	t.Helper()
	for _, tool := range l.tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("e2e: %s is not installed, so the %s snippets cannot be tested; install it with "+
				"`apt-get install --no-install-recommends %s` (or run ./scripts/setup.sh test)", tool, l.name, l.pkg)
		}
	}
}

// snippetCase is one verification a snippet is asked to do, and what it must answer.
type snippetCase struct {
	name   string
	format string            // "sw" or "antom"
	creds  [][2]string       // label, secret or key (see e2e/snippets/README.md)
	path   string            // antom: the path the delivery was posted to
	now    int64             // sw: the clock
	header map[string]string // as received
	body   []byte
	want   string // "ok <webhook-id or keyVersion>" or "fail <status>"
}

func (c snippetCase) line() string {
	b64 := func(s []byte) string { return base64.StdEncoding.EncodeToString(s) }
	var creds []string
	for _, cr := range c.creds {
		creds = append(creds, cr[0]+":"+b64([]byte(cr[1])))
	}
	var hdr strings.Builder
	names := make([]string, 0, len(c.header))
	for k := range c.header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&hdr, "%s: %s\n", k, c.header[k])
	}
	return strings.Join([]string{c.name, c.format, strings.Join(creds, ","), b64([]byte(c.path)),
		strconv.FormatInt(c.now, 10), b64([]byte(hdr.String())), b64(c.body)}, "\t")
}

// runSnippets runs every language's harness on the cases and checks each answer (the reason of a
// refusal is shown on a mismatch, not compared: it is for humans).
func runSnippets(t *testing.T, cases []snippetCase) {
	t.Helper()
	var lines strings.Builder
	for _, c := range cases {
		lines.WriteString(c.line() + "\n")
	}
	file := filepath.Join(t.TempDir(), "cases.tsv")
	if err := os.WriteFile(file, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, l := range snippetLangs {
		t.Run(l.name, func(t *testing.T) {
			requireSnippetLang(t, l)
			args := l.command(t, file)
			out, err := runCmd(t, args[0], args[1:]...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			got, reason := map[string]string{}, map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.SplitN(line, "\t", 4)
				if len(f) < 3 {
					t.Fatalf("unreadable harness output line %q", line)
				}
				got[f[0]] = f[1] + " " + f[2]
				if len(f) == 4 {
					reason[f[0]] = f[3]
				}
			}
			for _, c := range cases {
				if got[c.name] != c.want {
					t.Errorf("%s: %q (%s), want %q", c.name, got[c.name], reason[c.name], c.want)
				}
			}
		})
	}
}

// received is a captured delivery's headers as the app saw them, one value a name.
func received(h http.Header) map[string]string {
	m := map[string]string{}
	for k := range h {
		m[k] = h.Get(k)
	}
	return m
}

// withHeader returns a copy of h with name set to value ("" removes it).
func withHeader(h map[string]string, name, value string) map[string]string {
	m := map[string]string{}
	for k, v := range h {
		if !strings.EqualFold(k, name) {
			m[k] = v
		}
	}
	if value != "" {
		m[name] = value
	}
	return m
}

// flipByte returns a copy of b with the byte at i changed.
func flipByte(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// A delivery signed with two forward secrets (a rotation) verifies in every language with either
// secret or both, and is refused with a changed body, id or signature, an unrelated secret, a
// timestamp outside the 5 minutes either way, or a missing header.
func TestVerifySnippetsStandardWebhooks(t *testing.T) {
	t.Parallel()
	newSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("the snippets' second forward secret"))
	s := whStartWith(t, whConf{Webhook: "\t\tforward_secret {env.ANTOM_FORWARD_SECRET_NEW}"},
		caddyOpts{Env: map[string]string{"ANTOM_FORWARD_SECRET_NEW": newSecret}})
	// Not ASCII, so every snippet must sign the exact bytes.
	body := bytes.Replace(whBody("SNIP000001"), []byte(`"result":`), []byte(`"note":"café €5 🍵","result":`), 1)
	id := whEventID(t, body)
	s.whNotify(body)
	r := s.app.WaitRequests(1, whWait)[0]
	if !bytes.Equal(r.Body, body) || r.Header.Get("webhook-id") != id || len(strings.Fields(r.Header.Get("webhook-signature"))) != 2 {
		t.Fatalf("unexpected delivery: id %q signature %q body %q", r.Header.Get("webhook-id"), r.Header.Get("webhook-signature"), r.Body)
	}
	ts, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q: %v", r.Header.Get("webhook-timestamp"), err)
	}
	h := received(r.Header)
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("an unrelated secret, not configured"))
	var badSigs []string
	for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "v1,"))
		if err != nil {
			t.Fatalf("webhook-signature entry %q: %v", sig, err)
		}
		badSigs = append(badSigs, "v1,"+base64.StdEncoding.EncodeToString(flipByte(raw, 7)))
	}
	c := func(name string, secrets []string, now int64, hdr map[string]string, b []byte, want string) snippetCase {
		sc := snippetCase{name: name, format: "sw", now: now, header: hdr, body: b, want: want}
		for _, s := range secrets {
			sc.creds = append(sc.creds, [2]string{"-", s})
		}
		return sc
	}
	ok := "ok " + id
	runSnippets(t, []snippetCase{
		c("old_secret", []string{whSecret()}, ts, h, body, ok),
		c("new_secret", []string{newSecret}, ts, h, body, ok),
		c("rotating_secrets", []string{other, newSecret}, ts, h, body, ok),
		c("within_tolerance", []string{whSecret()}, ts+300, h, body, ok),
		c("changed_body_byte", []string{whSecret(), newSecret}, ts, h, flipByte(body, len(body)/2), "fail 401"),
		c("changed_signatures", []string{whSecret(), newSecret}, ts, withHeader(h, "Webhook-Signature", strings.Join(badSigs, " ")), body, "fail 401"),
		c("changed_id", []string{whSecret()}, ts, withHeader(h, "Webhook-Id", id+"x"), body, "fail 401"),
		c("unrelated_secret", []string{other}, ts, h, body, "fail 401"),
		c("stale_timestamp", []string{whSecret()}, ts+301, h, body, "fail 400"),
		c("future_timestamp", []string{whSecret()}, ts-301, h, body, "fail 400"),
		c("missing_signature", []string{whSecret()}, ts, withHeader(h, "Webhook-Signature", ""), body, "fail 400"),
	})
}

// Deliveries in Antom's format verify in every language with the public key the app would be
// configured with: re-signed by Caddy with forward_key (key version 2, over the forward URL's
// path and query), and passed through with Antom's own signature (key version 1). They are
// refused with a changed body byte, signature, request-time or path, the other key, a key map
// without their version, or a missing header; the signature header's spellings other senders use
// (spaces after commas, lower-case hex, a raw base64) still verify.
func TestVerifySnippetsAntomFormat(t *testing.T) {
	t.Parallel()
	forwardKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forwardPub, antomPub := antom.EncodePublicKey(&forwardKey.PublicKey), antomSimPublicKey(t)
	resigned := whStartWith(t, whConf{
		ForwardPath: "/legacy/notify.php?from=caddy",
		Webhook:     "\t\tforward_format antom\n\t\tforward_key {env.FORWARD_KEY}\n\t\tforward_key_version 2",
	}, caddyOpts{Env: map[string]string{"FORWARD_KEY": antom.EncodePrivateKey(forwardKey)}})
	passed := whStart(t, whConf{ForwardPath: whNotifyPath, Webhook: "\t\tforward_format antom\n\t\tnotify_path " + whNotifyPath})
	// Not ASCII, so every snippet must sign the exact bytes.
	body := bytes.Replace(whBody("SNIP000002"), []byte(`"result":`), []byte(`"note":"café €5 🍵","result":`), 1)
	var cases []snippetCase
	for _, d := range []struct {
		mode          string
		s             *whStack
		key, otherKey string
		version       string
	}{
		{"resigned", resigned, forwardPub, antomPub, "2"},
		{"passed_through", passed, antomPub, forwardPub, "1"},
	} {
		d.s.app.SetBody(string(whAck(t)))
		d.s.whNotify(body)
		r := d.s.app.WaitRequests(1, whWait)[0]
		path := r.Path
		if r.Query != "" {
			path += "?" + r.Query
		}
		h := received(r.Header)
		sig, err := antom.ParseSignatureHeader(h["Signature"])
		if !bytes.Equal(r.Body, body) || err != nil || sig.KeyVersion != d.version {
			t.Fatalf("%s: unexpected delivery to %s: signature %q (%v), body %q", d.mode, path, h["Signature"], err, r.Body)
		}
		b64 := base64.StdEncoding.EncodeToString(sig.Signature)
		rt, err := strconv.ParseInt(h["Request-Time"], 10, 64)
		if err != nil {
			t.Fatalf("%s: request-time %q: %v", d.mode, h["Request-Time"], err)
		}
		c := func(name string, keys map[string]string, hdr map[string]string, p string, b []byte, want string) {
			sc := snippetCase{name: d.mode + "_" + name, format: "antom", path: p, header: hdr, body: b, want: want}
			for label, k := range keys {
				sc.creds = append(sc.creds, [2]string{label, k})
			}
			sort.Slice(sc.creds, func(i, j int) bool { return sc.creds[i][0] < sc.creds[j][0] })
			cases = append(cases, sc)
		}
		ok := "ok " + d.version
		c("key", map[string]string{"*": d.key}, h, path, body, ok)
		c("pem_key", map[string]string{"*": pemPublicKey(d.key)}, h, path, body, ok)
		c("keys_by_version", map[string]string{d.version: d.key, "9": d.otherKey}, h, path, body, ok)
		c("spaces_lower_hex", map[string]string{"*": d.key}, withHeader(h, "Signature", "algorithm=RSA256, keyVersion="+d.version+", signature="+
			strings.NewReplacer("+", "%2b", "/", "%2f", "=", "%3d").Replace(b64)), path, body, ok)
		c("raw_base64", map[string]string{"*": d.key}, withHeader(h, "Signature", "algorithm=RSA256,keyVersion="+d.version+",signature="+b64), path, body, ok)
		c("other_key", map[string]string{"*": d.otherKey}, h, path, body, "fail 401")
		c("no_key_for_version", map[string]string{"9": d.key}, h, path, body, "fail 401")
		c("changed_body_byte", map[string]string{"*": d.key}, h, path, flipByte(body, len(body)/2), "fail 401")
		c("changed_signature", map[string]string{"*": d.key}, withHeader(h, "Signature", antom.SignatureHeader(d.version,
			base64.StdEncoding.EncodeToString(flipByte(sig.Signature, 9)))), path, body, "fail 401")
		c("changed_request_time", map[string]string{"*": d.key}, withHeader(h, "Request-Time", strconv.FormatInt(rt+1, 10)), path, body, "fail 401")
		c("other_path", map[string]string{"*": d.key}, h, "/other"+path, body, "fail 401")
		c("missing_client_id", map[string]string{"*": d.key}, withHeader(h, "Client-Id", ""), path, body, "fail 400")
	}
	runSnippets(t, cases)
}

// pemPublicKey wraps a one-line base64 public key in PEM armour.
func pemPublicKey(b64 string) string {
	var s strings.Builder
	s.WriteString("-----BEGIN PUBLIC KEY-----\n")
	for len(b64) > 64 {
		s.WriteString(b64[:64] + "\n")
		b64 = b64[64:]
	}
	s.WriteString(b64 + "\n-----END PUBLIC KEY-----\n")
	return s.String()
}
