package server

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Service-account tokens are JWTs signed with the cluster's signing key
// (an ECDSA P-256 key, ES256), part of the sealed cluster identity so that
// every server of a datastore issues and accepts the same tokens. The JWS
// compact form is written here with the standard library: one algorithm,
// one key, no header options beyond alg and kid, which is all
// kube-apiserver's own tokens use.
//
// Two kinds of token, as in Kubernetes 1.32:
//   - bound tokens (TokenRequest, serviceaccounts/NAME/token): issuer
//     Config.ServiceAccountIssuer, audiences, an expiry, and the private
//     claim "kubernetes.io" naming the service account and the Pod or
//     Secret the token is bound to;
//   - legacy tokens (Secrets of type kubernetes.io/service-account-token):
//     issuer "kubernetes/serviceaccount", no expiry, flat private claims,
//     valid while the Secret exists and holds the token.

const (
	// defaultServiceAccountIssuer is the issuer of bound tokens,
	// kube-apiserver's usual --service-account-issuer.
	defaultServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	// legacyIssuer is the issuer of the tokens of token Secrets.
	legacyIssuer = "kubernetes/serviceaccount"

	// defaultTokenExpiration, minTokenExpiration and maxTokenExpiration
	// bound a TokenRequest's expirationSeconds: 1 h by default, at least
	// 10 minutes (less is refused, as in Kubernetes), at most 48 h (more
	// is lowered, as --service-account-max-token-expiration does).
	defaultTokenExpiration = time.Hour
	minTokenExpiration     = 10 * time.Minute
	maxTokenExpiration     = 48 * time.Hour
	// tokenLeeway is the clock skew allowed on exp and nbf (the leeway of
	// kube-apiserver's validator).
	tokenLeeway = time.Minute
)

// Extra keys of service-account users, as kube-apiserver sets them.
const (
	extraPodName      = "authentication.kubernetes.io/pod-name"
	extraPodUID       = "authentication.kubernetes.io/pod-uid"
	extraNodeName     = "authentication.kubernetes.io/node-name"
	extraNodeUID      = "authentication.kubernetes.io/node-uid"
	extraCredentialID = "authentication.kubernetes.io/credential-id"
)

// tokenSigner signs and verifies ES256 JWS compact tokens with one key.
// It is read-only after construction and safe for concurrent use.
type tokenSigner struct {
	key *ecdsa.PrivateKey
	// kid is the key id in every header: the base64url SHA-256 of the
	// public key's PKIX encoding, as kube-apiserver derives it.
	kid string
	// header is the encoded JWS header.
	header string
}

func newTokenSigner(key *ecdsa.PrivateKey) (*tokenSigner, error) {
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("service-account signing key: %w", err)
	}
	sum := sha256.Sum256(pub)
	kid := b64.EncodeToString(sum[:])
	h, _ := json.Marshal(jwsHeader{Alg: "ES256", Kid: kid})
	return &tokenSigner{key: key, kid: kid, header: b64.EncodeToString(h)}, nil
}

var b64 = base64.RawURLEncoding

type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ,omitempty"`
}

// sign returns claims as a signed JWT.
func (s *tokenSigner) sign(claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := s.header + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", err
	}
	// ES256 is r and s, each as 32 big-endian bytes (RFC 7518 3.4).
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig), nil
}

var errNotOurToken = errors.New("not a token of this cluster")

// verify checks token's signature and returns its payload. It fails with
// errNotOurToken for anything that is not a JWS compact token signed by
// this key.
func (s *tokenSigner) verify(token string) ([]byte, error) {
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errNotOurToken
	}
	p, sig64, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig64, ".") {
		return nil, errNotOurToken
	}
	hb, err := b64.DecodeString(h)
	if err != nil {
		return nil, errNotOurToken
	}
	var hdr jwsHeader
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr.Alg != "ES256" || (hdr.Kid != "" && hdr.Kid != s.kid) {
		return nil, errNotOurToken
	}
	sig, err := b64.DecodeString(sig64)
	if err != nil || len(sig) != 64 {
		return nil, errNotOurToken
	}
	digest := sha256.Sum256([]byte(token[:len(h)+1+len(p)]))
	if !ecdsa.Verify(&s.key.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, errNotOurToken
	}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return nil, errNotOurToken
	}
	return payload, nil
}

// boundClaims are the claims of a bound (TokenRequest) token.
type boundClaims struct {
	Issuer     string         `json:"iss"`
	Subject    string         `json:"sub"`
	Audience   audiences      `json:"aud"`
	Expiry     int64          `json:"exp"`
	IssuedAt   int64          `json:"iat"`
	NotBefore  int64          `json:"nbf"`
	ID         string         `json:"jti,omitempty"`
	Kubernetes *privateClaims `json:"kubernetes.io,omitempty"`
}

// privateClaims is the "kubernetes.io" claim: what the token is bound to.
type privateClaims struct {
	Namespace      string     `json:"namespace,omitempty"`
	ServiceAccount objectRef  `json:"serviceaccount"`
	Pod            *objectRef `json:"pod,omitempty"`
	Secret         *objectRef `json:"secret,omitempty"`
	Node           *objectRef `json:"node,omitempty"`
}

type objectRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// legacyClaims are the claims of a token Secret's token.
type legacyClaims struct {
	Issuer             string `json:"iss"`
	Subject            string `json:"sub"`
	Namespace          string `json:"kubernetes.io/serviceaccount/namespace"`
	SecretName         string `json:"kubernetes.io/serviceaccount/secret.name"`
	ServiceAccountName string `json:"kubernetes.io/serviceaccount/service-account.name"`
	ServiceAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid"`
}

// audiences is the aud claim: written as an array, read as an array or a
// single string (RFC 7519 allows both).
type audiences []string

func (a *audiences) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audiences{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// intersect returns the audiences of a also in b, in a's order.
func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		for _, y := range b {
			if x == y {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

// serviceAccountGroups are the groups of every service account of ns.
func serviceAccountGroups(namespace string) []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, groupAuthenticated}
}
