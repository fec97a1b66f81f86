package simulator

import (
	"errors"
	"fmt"
)

// In-store entry-code payments (Antom's Entry Code Payment): the buyer scans the store's entry
// code with a wallet and lands on the merchant's page, which asks the amount; the merchant calls
// pay with productCode IN_STORE_PAYMENT, paymentFactor.inStorePaymentScenario EntryCode and
// paymentMethod.paymentMethodType CONNECT_WALLET. Antom answers PAYMENT_IN_PROCESS with the URL
// that wakes the wallet (normalUrl); there the buyer confirms (the simulator's wallet page, a
// variant of the cashier page), and Antom notifies PAYMENT_RESULT.

const (
	productInStore    = "IN_STORE_PAYMENT"
	scenarioEntryCode = "EntryCode"
	methodWallet      = "CONNECT_WALLET"
)

// store is order.merchant of an in-store payment, shown on the wallet page.
type store struct {
	ReferenceMerchantID string `json:"referenceMerchantId"`
	MerchantName        string `json:"merchantName"`
	Store               *struct {
		ReferenceStoreID string `json:"referenceStoreId"`
		StoreName        string `json:"storeName"`
	} `json:"store"`
}

// name is how the wallet page names the payee.
func (m *store) name() string {
	if m == nil {
		return ""
	}
	if m.Store != nil && m.Store.StoreName != "" {
		if m.MerchantName != "" {
			return m.MerchantName + " · " + m.Store.StoreName
		}
		return m.Store.StoreName
	}
	return m.MerchantName
}

// checkEntryCode checks what an IN_STORE_PAYMENT pay must carry.
func checkEntryCode(req *payRequest, api string) error {
	switch {
	case api != "pay":
		return errors.New("IN_STORE_PAYMENT is paid with v1/payments/pay, not with a payment session")
	case req.PaymentFactor.InStorePaymentScenario != scenarioEntryCode:
		return fmt.Errorf("paymentFactor.inStorePaymentScenario %q is not supported by the simulator: it implements EntryCode", req.PaymentFactor.InStorePaymentScenario)
	case req.PaymentMethod.PaymentMethodType != methodWallet:
		return fmt.Errorf("paymentMethod.paymentMethodType %q is not %s, the method of entry-code payments", req.PaymentMethod.PaymentMethodType, methodWallet)
	}
	return checkURL("paymentRedirectUrl", req.PaymentRedirectURL, false)
}
