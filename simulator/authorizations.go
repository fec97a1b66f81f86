package simulator

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// EasySafePay in the simulator: a first payment (createPaymentSession, AGREEMENT_PAYMENT,
// productScene EASY_PAY, agreementInfo.authState) is paid by the buyer on the cashier page;
// the simulator then sends notifyAuthorization, acknowledged before the PAYMENT_RESULT goes
// out, in one of the two variants Antom documents (Config.EasySafePayNotification):
//   - AUTHCODE_CREATED with an authCode, which applyToken exchanges for an accessToken;
//   - TOKEN_CREATED with the accessToken itself (the current documentation).
// A later pay with paymentMethod.paymentMethodId = accessToken succeeds without the buyer.

// The notifyAuthorization variants of Config.EasySafePayNotification.
const (
	AuthCodeCreated = "AUTHCODE_CREATED"
	TokenCreated    = "TOKEN_CREATED"
)

// authNotice is the body of a notifyAuthorization.
type authNotice struct {
	AuthorizationNotifyType string       `json:"authorizationNotifyType"`
	AuthCode                string       `json:"authCode,omitempty"`
	AccessToken             string       `json:"accessToken,omitempty"`
	AuthState               string       `json:"authState,omitempty"`
	UserLoginID             string       `json:"userLoginId,omitempty"`
	Result                  antom.Result `json:"result"`
}

// tokenAnswer is the body of an applyToken answer.
type tokenAnswer struct {
	Result                 antom.Result `json:"result"`
	AccessToken            string       `json:"accessToken,omitempty"`
	AccessTokenExpiryTime  string       `json:"accessTokenExpiryTime,omitempty"`
	RefreshToken           string       `json:"refreshToken,omitempty"`
	RefreshTokenExpiryTime string       `json:"refreshTokenExpiryTime,omitempty"`
	UserLoginID            string       `json:"userLoginId,omitempty"`
}

// authorizeLocked grants the authorisation of an EasySafePay first payment and notifies it:
// an authCode (AUTHCODE_CREATED) or the tokens themselves (TOKEN_CREATED). The notification
// goes to the payment's notify URL (the real one goes to the URL configured in the Antom
// Dashboard for alipay.ams.authorizations.notify).
func (s *Simulator) authorizeLocked(p *payment, now time.Time) *Notification {
	userLoginID := p.userLoginID
	if userLoginID == "" {
		userLoginID = "buyer_" + p.id[len(p.id)-6:] + "@simulator.invalid"
	}
	g := &grant{clientID: p.clientID, userLoginID: userLoginID}
	notice := authNotice{
		AuthorizationNotifyType: s.espNotification,
		AuthState:               p.authState,
		UserLoginID:             userLoginID,
		Result:                  resSuccess,
	}
	if s.espNotification == TokenCreated {
		s.issueTokensLocked(g, now)
		notice.AccessToken = g.accessToken
	} else {
		g.authCode = "SIM_AUTHCODE_" + randToken(24)
		p.authCode = g.authCode
		s.state.authCodes[g.authCode] = g
		notice.AuthCode = g.authCode
	}
	return s.notifyLocked(p.clientID, p.notifyURL, s.espNotification, p.id, notice)
}

// tokenValidLocked reports whether token is a live access token of clientID.
func (s *Simulator) tokenValidLocked(token, clientID string, now time.Time) bool {
	g := s.state.accessTokens[token]
	return g != nil && g.clientID == clientID && now.Before(g.accessExpires)
}

// applyToken answers v1/authorizations/applyToken: grantType AUTHORIZATION_CODE exchanges an
// authCode (repeating the same authCode returns the same tokens, so that a retry after a
// timeout is safe); REFRESH_TOKEN issues a new access token.
func (s *Simulator) applyToken(c *call) reply {
	var req struct {
		GrantType    string `json:"grantType"`
		AuthCode     string `json:"authCode"`
		RefreshToken string `json:"refreshToken"`
	}
	if err := decode(c.body, &req); err != nil {
		return answer(onlyResult{paramIllegal(err)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var g *grant
	switch req.GrantType {
	case "AUTHORIZATION_CODE":
		if req.AuthCode == "" {
			return answer(onlyResult{paramIllegal(errors.New("authCode is required with grantType AUTHORIZATION_CODE"))})
		}
		g = s.state.authCodes[req.AuthCode]
		if g == nil || g.clientID != c.clientID {
			return answer(onlyResult{fail("INVALID_CODE", "The authorization code is invalid: it was not issued by this simulator to this client id (simulator state is in memory).")})
		}
		if g.accessToken == "" {
			s.issueTokensLocked(g, c.now)
		}
	case "REFRESH_TOKEN":
		if req.RefreshToken == "" {
			return answer(onlyResult{paramIllegal(errors.New("refreshToken is required with grantType REFRESH_TOKEN"))})
		}
		g = s.state.refreshTokens[req.RefreshToken]
		if g == nil || g.clientID != c.clientID || !c.now.Before(g.refreshExpires) {
			return answer(onlyResult{fail("INVALID_REFRESH_TOKEN", "The refresh token is invalid or expired.")})
		}
		delete(s.state.accessTokens, g.accessToken)
		delete(s.state.refreshTokens, g.refreshToken)
		s.issueTokensLocked(g, c.now)
	default:
		return answer(onlyResult{paramIllegal(fmt.Errorf("grantType %q is not AUTHORIZATION_CODE or REFRESH_TOKEN", req.GrantType))})
	}
	return answer(tokenAnswer{
		Result:                 resSuccess,
		AccessToken:            g.accessToken,
		AccessTokenExpiryTime:  iso(g.accessExpires),
		RefreshToken:           g.refreshToken,
		RefreshTokenExpiryTime: iso(g.refreshExpires),
		UserLoginID:            g.userLoginID,
	})
}

func (s *Simulator) issueTokensLocked(g *grant, now time.Time) {
	g.accessToken = "SIM_TOKEN_" + randToken(30)
	g.refreshToken = "SIM_REFRESH_" + randToken(30)
	g.accessExpires = now.Add(accessTokenLife)
	g.refreshExpires = now.Add(refreshTokenLife)
	s.state.accessTokens[g.accessToken] = g
	s.state.refreshTokens[g.refreshToken] = g
}
