package antom

// The notification families the official SDKs model (global-open-sdk-java's request/ams/notify
// classes, the fullest set), how each is recognised, and how its deduplication key is built.
//
// The rule (docs/antom-protocol.md §5): Antom's retries resend the same notification, so the exact
// body is always a safe identity. An id-based key is used only where it is needed and provably
// unique: a final PAYMENT_RESULT by paymentId (an inquiry result must pair with it), a final
// CAPTURE_RESULT by captureId and a final REFUND_RESULT by refundId. Everything else keys on the
// body. Merging two distinct events loses one for good; delivering one twice costs the app a
// lookup of its webhook-id.

// Notification kinds returned in Notification.Kind.
const (
	KindPayment             = "payment"
	KindCapture             = "capture"
	KindRefund              = "refund"
	KindAuthorization       = "authorization"
	KindDispute             = "dispute"
	KindSubscription        = "subscription"
	KindVaulting            = "vaulting"
	KindBillingSubscription = "billing_subscription"
	KindInvoice             = "invoice"
	KindCreditNote          = "credit_note"
	KindMeterEvent          = "meter_event"
	KindTransfer            = "transfer"
	KindCard                = "card"
	KindUnknown             = "unknown"
)

// Family is one kind of notification Antom sends.
type Family struct {
	Name     string // e.g. "payment result"
	SDKClass string // the official Java SDK's class (request/ams/notify), or what else models it
	Kind     string // the Antom-Event-Kind header
	// TypeFields name the fields whose value is the Antom-Event-Type header: the first present.
	TypeFields []string
	// RequestIDFields name the fields of Antom-Request-Id (and Antom-Request-Id-Field): the first present.
	RequestIDFields []string
	// Recognised and Key say in words how the family is told apart and keyed (the README's table).
	Recognised string
	Key        string

	match func(f fields) bool
	// idKey returns the id-based dedup key, or "" for the body key.
	idKey func(f fields, n *Notification) string
	// result reads the outcome where the family does not carry it in `result`.
	result func(f fields) (status, code string)
}

// paymentTypes are the notifyType values of the payment families.
var paymentTypes = []string{"PAYMENT_RESULT", "PAYMENT_PENDING", "OFFLINE_PAYMENT_CODE", "UPDATE_AMOUNT_RESULT"}

// Catalogue lists the families in the order they are tried: the first whose rule matches wins.
var Catalogue = []Family{
	{
		Name: "authorization", SDKClass: "AlipayAuthNotify", Kind: KindAuthorization,
		TypeFields: []string{"authorizationNotifyType"}, RequestIDFields: []string{"authState", "authClientId"},
		Recognised: "`authorizationNotifyType` (`AUTHCODE_CREATED`, `TOKEN_CREATED`, `TOKEN_CANCELED`)",
		Key:        "body",
		match:      func(f fields) bool { return f.has("authorizationNotifyType") },
	},
	{
		Name: "dispute", SDKClass: "AlipayDisputeNotify", Kind: KindDispute,
		TypeFields: []string{"disputeNotificationType"}, RequestIDFields: []string{"paymentRequestId", "disputeId"},
		Recognised: "`disputeNotificationType` (`DISPUTE_CREATED`, `DISPUTE_JUDGED`, `DISPUTE_CANCELLED`, `DEFENSE_SUPPLIED`, `DEFENSE_DUE_ALERT`, `DISPUTE_ACCEPTED`, `RDR_RESOLVED`) or `disputeId`",
		Key:        "body (alerts of one type repeat)",
		match:      func(f fields) bool { return f.has("disputeNotificationType") || f.has("disputeId") },
	},
	{
		Name: "credit note", SDKClass: "AlipayCreditNoteNotify", Kind: KindCreditNote,
		TypeFields: []string{"creditNoteNotificationType"}, RequestIDFields: []string{"creditNoteRequestId", "notifyId"},
		Recognised: "`creditNoteNotificationType` (`CREATED`, `VOIDED`, `REFUND_SUCCEEDED`, `REFUND_FAILED`) or `notifyId`",
		Key:        "body",
		match:      func(f fields) bool { return f.has("creditNoteNotificationType") || f.has("notifyId") },
	},
	{
		Name: "subscription lifecycle", SDKClass: "AlipaySubscriptionNotify", Kind: KindSubscription,
		TypeFields: []string{"subscriptionNotificationType"}, RequestIDFields: []string{"subscriptionRequestId", "subscriptionId"},
		Recognised: "`subscriptionNotificationType` (`CREATE`, `CHANGE`, `CANCEL`, `UPDATE`, `TERMINATE`)",
		Key:        "body (a type repeats per subscription)",
		match:      func(f fields) bool { return f.has("subscriptionNotificationType") },
	},
	{
		Name: "subscription order", SDKClass: "AlipaySubscriptionCancelNotify", Kind: KindSubscription,
		TypeFields: []string{"subscriptionOrderStatus", "notifyType"}, RequestIDFields: []string{"subscriptionRequestId", "subscriptionId"},
		Recognised: "`subscriptionOrderStatus`",
		Key:        "body",
		match:      func(f fields) bool { return f.has("subscriptionOrderStatus") },
	},
	{
		// Antom Business Account direct payments report their outcome in paymentStatus; a card
		// payment's notification never carries it.
		Name: "ABA direct payment", SDKClass: "AlipayInquireDirectPaymentResponse", Kind: KindPayment,
		TypeFields: []string{"notifyType"}, RequestIDFields: []string{"paymentRequestId"},
		Recognised: "`paymentStatus` (no notify class; shaped like the inquiry; the result is there, not in `result`)",
		Key:        "body (PROCESSING precedes the final status)",
		match:      func(f fields) bool { return f.has("paymentStatus") },
		result:     paymentStatusResult,
	},
	{
		Name: "subscription period payment", SDKClass: "AlipaySubscriptionPayNotify", Kind: KindPayment,
		TypeFields: []string{"notifyType"}, RequestIDFields: []string{"paymentRequestId", "subscriptionRequestId"},
		Recognised: "a payment `notifyType` with `subscriptionId` (sent as `Antom-Subscription-Id`)",
		Key:        "as payment result",
		match:      func(f fields) bool { return f.oneOf("notifyType", paymentTypes...) && f.has("subscriptionId") },
		idKey:      paymentResultKey,
	},
	{
		Name: "payment result", SDKClass: "AlipayPayResultNotify", Kind: KindPayment,
		TypeFields: []string{"notifyType"}, RequestIDFields: []string{"paymentRequestId"},
		Recognised: "`notifyType` `PAYMENT_RESULT`",
		Key:        "`payment:<paymentId>:PAYMENT_RESULT` when `resultStatus` is S or F and there is no `retryInfo` (an inquiry result gets the same key); otherwise body",
		match:      func(f fields) bool { return f.oneOf("notifyType", "PAYMENT_RESULT") },
		idKey:      paymentResultKey,
	},
	{
		Name: "payment progress", SDKClass: "AlipayPayResultNotify", Kind: KindPayment,
		TypeFields: []string{"notifyType"}, RequestIDFields: []string{"paymentRequestId"},
		Recognised: "`notifyType` `PAYMENT_PENDING`, `OFFLINE_PAYMENT_CODE`, `UPDATE_AMOUNT_RESULT`",
		Key:        "body (repeats per payment, e.g. per `updateRequestId`)",
		match:      func(f fields) bool { return f.oneOf("notifyType", paymentTypes...) },
	},
	{
		Name: "capture", SDKClass: "AlipayCaptureResultNotify", Kind: KindCapture,
		TypeFields: []string{"notifyType"}, RequestIDFields: []string{"captureRequestId"},
		Recognised: "`notifyType` `CAPTURE_RESULT`",
		Key:        "`capture:<captureId>` when `resultStatus` is S or F; otherwise body",
		match:      func(f fields) bool { return f.oneOf("notifyType", "CAPTURE_RESULT") },
		idKey:      finalIDKey("captureId", CaptureResultDedupKey),
	},
	{
		// An ABA direct refund reports PROCESSING before its final status under one refundId.
		Name: "ABA direct refund", SDKClass: "AlipayDirectRefundNotify", Kind: KindRefund,
		TypeFields: []string{"notifyType"}, RequestIDFields: []string{"refundRequestId"},
		Recognised: "`refundId` with `refundFromAmount`, `refundToAmount` or `refundFromMethod`",
		Key:        "body",
		match: func(f fields) bool {
			return f.has("refundId") && (f.present("refundFromAmount") || f.present("refundToAmount") || f.present("refundFromMethod"))
		},
	},
	{
		Name: "refund", SDKClass: "AlipayRefundNotify", Kind: KindRefund,
		TypeFields: []string{"notifyType"}, RequestIDFields: []string{"refundRequestId"},
		Recognised: "`notifyType` `REFUND_RESULT`",
		Key:        "`refund:<refundId>` when `resultStatus` is S or F; otherwise body",
		match:      func(f fields) bool { return f.oneOf("notifyType", "REFUND_RESULT") },
		idKey:      finalIDKey("refundId", RefundResultDedupKey),
	},
	{
		Name: "vaulting", SDKClass: "AlipayVaultingNotify", Kind: KindVaulting,
		TypeFields: []string{"notifyType"}, RequestIDFields: []string{"vaultingRequestId"},
		Recognised: "`vaultingRequestId`",
		Key:        "body",
		match:      func(f fields) bool { return f.has("vaultingRequestId") },
	},
	{
		Name: "billing subscription", SDKClass: "AlipayBillingSubscriptionNotify", Kind: KindBillingSubscription,
		TypeFields: []string{"notifyType", "status"}, RequestIDFields: []string{"subscriptionRequestId", "subscriptionId"},
		Recognised: "`subscriptionId` without any of the above",
		Key:        "body (repeats per `status`/`eventTime`)",
		match:      func(f fields) bool { return f.has("subscriptionId") },
	},
	{
		Name: "invoice", SDKClass: "AlipayInvoiceNotify", Kind: KindInvoice,
		TypeFields: []string{"notifyType", "invoiceStatus"}, RequestIDFields: []string{"invoiceRequestId", "invoiceId"},
		Recognised: "`invoiceId` or `invoiceRequestId`",
		Key:        "body",
		match:      func(f fields) bool { return f.has("invoiceId") || f.has("invoiceRequestId") },
	},
	{
		Name: "meter event", SDKClass: "AlipayMeterEventNotify", Kind: KindMeterEvent,
		TypeFields: []string{"notifyType", "eventName"}, RequestIDFields: nil,
		Recognised: "`eventName`",
		Key:        "body",
		match:      func(f fields) bool { return f.has("eventName") },
	},
	{
		Name: "ABA transfer", SDKClass: "AlipayABATransferNotify", Kind: KindTransfer,
		TypeFields: []string{"notifyType"}, RequestIDFields: []string{"transferRequestId", "transferId"},
		Recognised: "`transferRequestId` or `transferId` (the result is in `transferResult`)",
		Key:        "body",
		match:      func(f fields) bool { return f.has("transferRequestId") || f.has("transferId") },
		result:     func(f fields) (string, string) { return f.result("transferResult") },
	},
	{
		Name: "ABA card bill", SDKClass: "AlipayCardBillNotify", Kind: KindCard,
		TypeFields: []string{"notifyType", "billStatus"}, RequestIDFields: []string{"billNo"},
		Recognised: "`billNo`",
		Key:        "body",
		match:      func(f fields) bool { return f.has("billNo") },
	},
	{
		Name: "ABA card status", SDKClass: "AlipayCardStatusNotify", Kind: KindCard,
		TypeFields: []string{"notifyType", "operateType"}, RequestIDFields: []string{"requestId", "assetId"},
		Recognised: "`assetId` with `cardStatus` or `operateType`",
		Key:        "body",
		match:      func(f fields) bool { return f.has("assetId") && (f.has("cardStatus") || f.has("operateType")) },
	},
}

// unknownFamily keeps a notification nobody recognised working: it is delivered, keyed by body.
var unknownFamily = Family{
	Name: "anything else", Kind: KindUnknown, TypeFields: []string{"notifyType"},
	Recognised: "none of the above", Key: "body",
}

// paymentResultKey is PaymentResultDedupKey for a final PAYMENT_RESULT. A PAYMENT_RESULT that
// carries retryInfo is one attempt of a recurring payment that may be retried under the same
// paymentId, so it keys on the body.
func paymentResultKey(f fields, n *Notification) string {
	if n.Type != "PAYMENT_RESULT" || f.present("retryInfo") {
		return ""
	}
	return finalIDKey("paymentId", PaymentResultDedupKey)(f, n)
}

// finalIDKey keys a final outcome (resultStatus S or F: one per id) by the exact bytes of the id
// in field.
func finalIDKey(field string, key func(id string) string) func(f fields, n *Notification) string {
	return func(f fields, n *Notification) string {
		id := f.id(field)
		if id == "" || (n.ResultStatus != StatusSuccess && n.ResultStatus != StatusFail) {
			return ""
		}
		return key(id)
	}
}

// paymentStatusResult maps an ABA paymentStatus to S, F or U.
func paymentStatusResult(f fields) (status, code string) {
	switch s := f.str("paymentStatus"); s {
	case "SUCCESS":
		return StatusSuccess, f.str("paymentResultCode")
	case "FAIL", "CANCELLED":
		return StatusFail, f.str("paymentResultCode")
	default:
		return StatusUnknown, f.str("paymentResultCode")
	}
}
