package outbox

// Summary is what logs and Caddy events may say about an event: its metadata, never the body,
// which can carry buyer or card data.
func (e *Event) Summary() map[string]any {
	return map[string]any{
		"webhook_id":       e.ID,
		"profile":          e.Profile,
		"source":           e.Source,
		"kind":             e.Kind,
		"type":             e.Type,
		"result_status":    e.ResultStatus,
		"request_id_field": e.RequestIDField,
		"request_id":       e.RequestID,
	}
}
