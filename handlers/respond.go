package handlers

import (
	"net/http"
	"strconv"

	"github.com/caddy-antom/caddy-antom/antom"
)

// writeResult answers with a JSON body in Antom's `result` shape, so that code written against
// Antom's answers handles Caddy's own errors too.
func writeResult(w http.ResponseWriter, status int, code, resultStatus, message string) {
	body := antom.ResultBody(code, resultStatus, message)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
