package handlers

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// A client that sends its headers and part of a body, then nothing, must hold neither a
// goroutine nor a connection for long: antom_webhook and antom_api read bodies within their
// read_timeout (readWithin), and an answer that leaves a body unread or partly read closes the
// connection at once (closeIfUnread).

// watchedBody is a request body that notes when it was read to its end.
type watchedBody struct {
	io.ReadCloser
	done bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.done = true
	}
	return n, err
}

// watchBody makes r's body note when it is read to its end, for closeIfUnread. Call it first
// thing in ServeHTTP.
func watchBody(r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &watchedBody{ReadCloser: r.Body}
	}
}

// closeIfUnread prepares the answer to an HTTP/1 request whose body was not read to its end
// (refused before reading it, or while reading it): the answer says Connection: close and the
// connection's read deadline passes now, so that the answer leaves at once and the connection
// is closed after it. Otherwise Go's server reads the rest of the body before it sends the
// answer: its shortcut for a large unread body (close instead) does not apply to a body Caddy
// wrapped, and with the body only partly sent it waits on the client up to Caddy's idle
// timeout (a minute), and again when it closes the body after the answer. HTTP/2 and HTTP/3
// end the request's stream instead, so nothing is needed there.
func closeIfUnread(w http.ResponseWriter, r *http.Request, log *zap.Logger) {
	if r.ProtoMajor != 1 || r.ContentLength == 0 {
		return
	}
	if b, ok := r.Body.(*watchedBody); ok && b.done {
		return
	}
	w.Header().Set("Connection", "close")
	if err := http.NewResponseController(w).SetReadDeadline(time.Now()); err != nil {
		log.Debug("cannot set a read deadline on this connection; the server may wait for the rest of the body", zap.Error(err))
	}
}

// readWithin reads r's body into dst, at most limit bytes, within timeout: the connection's
// read deadline is set for the whole body (Caddy's own idle timeout only bounds each read, at a
// minute), and cleared once the body is read, since a deadline left set would cut the request
// short while it waits for something else (Go's server then cancels its context). The error is
// a *http.MaxBytesError over limit, a net.Error whose Timeout() is true past the deadline, or
// the client's.
func readWithin(w http.ResponseWriter, r *http.Request, dst *bytes.Buffer, limit int64, timeout time.Duration, log *zap.Logger) error {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		log.Debug("cannot set a read deadline on this connection", zap.Error(err))
	}
	if _, err := dst.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		return err
	}
	_ = rc.SetReadDeadline(time.Time{})
	return nil
}
