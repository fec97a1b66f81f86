package caddyantom

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-antom/caddy-antom/antom"
)

const defaultProfile = "default"

// Profile is one merchant account at Antom. Secret fields accept `{env.NAME}` and
// `{file./path}` placeholders, which stay placeholders in the adapted JSON and are resolved when
// the config loads; literal values work too. Secrets are never logged or returned by the admin API.
type Profile struct {
	// ClientID is the merchant's client id from the Antom dashboard. Ids that start with
	// `SANDBOX_` use the sandbox API path.
	ClientID string `json:"client_id,omitempty"`

	// PrivateKey is the merchant RSA private key that signs API requests: PKCS#8 (the dashboard's
	// one-line base64, starting MIIEv) or PKCS#1, as one-line base64 DER or PEM. Required for
	// antom_api; antom_webhook does not need it.
	PrivateKey string `json:"private_key,omitempty"`

	// KeyVersion is the keyVersion sent in request signatures. Default: 1.
	KeyVersion string `json:"key_version,omitempty"`

	// AntomPublicKeys are Antom's public keys (base64 SPKI from the dashboard, starting MIIBI, or
	// PEM) by key version, used to verify notifications and API responses. Several versions may be
	// configured during a key rotation. At least one is required.
	AntomPublicKeys []AntomPublicKey `json:"antom_public_keys,omitempty"`

	// Gateway is the Antom region, `sg` (default), `na`, `eu` or `us`, or an explicit base URL
	// such as the offline simulator's.
	Gateway string `json:"gateway,omitempty"`

	// AgentToken is sent as Agent-Token on every API call, for ISV (agent) integrations only.
	AgentToken string `json:"agent_token,omitempty"`

	client *antom.Client
}

// AntomPublicKey is one version of Antom's public key.
type AntomPublicKey struct {
	// Key is the public key, or a placeholder that yields it.
	Key string `json:"key,omitempty"`
	// KeyVersion is the keyVersion Antom names in its signatures. Default: 1.
	KeyVersion string `json:"key_version,omitempty"`
}

// provision resolves the placeholders and parses the keys. Errors name the profile and the field
// and never the value.
func (p *Profile) provision(name string) error {
	repl := caddy.NewReplacer()
	resolve := func(field, value string, required bool) (string, error) {
		if value == "" {
			if required {
				return "", fmt.Errorf("antom profile %q: %s is required", name, field)
			}
			return "", nil
		}
		out, err := repl.ReplaceOrErr(value, true, true)
		if err != nil {
			return "", fmt.Errorf("antom profile %q: %s: %v (check that the environment variable or file exists and is not empty)", name, field, err)
		}
		return out, nil
	}

	clientID, err := resolve("client_id", p.ClientID, true)
	if err != nil {
		return err
	}
	gateway, err := antom.GatewayURL(p.Gateway)
	if err != nil {
		return fmt.Errorf("antom profile %q: gateway: %v", name, err)
	}
	agentToken, err := resolve("agent_token", p.AgentToken, false)
	if err != nil {
		return err
	}

	signer := antom.Signer{ClientID: clientID, KeyVersion: p.KeyVersion}
	privateKey, err := resolve("private_key", p.PrivateKey, false)
	if err != nil {
		return err
	}
	if privateKey != "" {
		if signer.Key, err = antom.ParsePrivateKey(privateKey); err != nil {
			return fmt.Errorf("antom profile %q: private_key: %v", name, err)
		}
	}

	if len(p.AntomPublicKeys) == 0 {
		return fmt.Errorf("antom profile %q: antom_public_key is required (Antom's public key from the dashboard, to verify notifications and responses)", name)
	}
	keyring := new(antom.Keyring)
	for _, k := range p.AntomPublicKeys {
		version := versionOrDefault(k.KeyVersion)
		value, err := resolve("antom_public_key "+version, k.Key, true)
		if err != nil {
			return err
		}
		pub, err := antom.ParsePublicKey(value)
		if err != nil {
			return fmt.Errorf("antom profile %q: antom_public_key %s: %v", name, version, err)
		}
		if signer.Key != nil && pub.Equal(signer.Key.Public()) {
			return fmt.Errorf("antom profile %q: antom_public_key %s is the public half of your own private_key; paste Antom's public key from the dashboard instead", name, version)
		}
		keyring.Add(version, pub)
	}

	p.client = &antom.Client{
		Gateway:    gateway,
		Signer:     signer,
		AntomKeys:  keyring,
		AgentToken: agentToken,
	}
	return nil
}
