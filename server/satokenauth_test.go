package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/storage"
)

// newTestAuthority is a token authority over a SQLite store holding the
// service account default/robot (uid sa-1), with a clock the test sets.
func newTestAuthority(t *testing.T) (*tokenAuthority, *time.Time) {
	t.Helper()
	dir := t.TempDir()
	st, err := storage.Open(context.Background(), storage.Config{Datastore: "sqlite://" + filepath.Join(dir, "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Create(context.Background(), storage.Key{Resource: "serviceaccounts", Namespace: "default", Name: "robot"},
		[]byte(`{"metadata":{"name":"robot","namespace":"default","uid":"sa-1"}}`)); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := newTokenSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	ta := &tokenAuthority{signer: signer, issuer: defaultServiceAccountIssuer, apiAudiences: []string{apiAudience}, store: st}
	ta.now = func() time.Time { return now }
	return ta, &now
}

// TestTokenValidation: the checks of a bound token's signature, times,
// audiences and service account, with a clock the test moves.
func TestTokenValidation(t *testing.T) {
	ta, clock := newTestAuthority(t)
	start := *clock
	robot := objectRef{Name: "robot", UID: "sa-1"}
	issue := func(at time.Time, b boundToken) string {
		t.Helper()
		saved := *clock
		*clock = at
		defer func() { *clock = saved }()
		tok, _, err := ta.issue(b)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	api := boundToken{namespace: "default", serviceAccount: robot, audiences: []string{apiAudience}, expiration: time.Hour}
	other, _ := newTestAuthority(t)
	otherKey, _, _ := other.issue(api)
	good := issue(start, api)
	// A payload changed after signing: the signature no longer matches.
	parts := strings.Split(good, ".")
	var claims map[string]any
	payload, _ := b64.DecodeString(parts[1])
	_ = json.Unmarshal(payload, &claims)
	claims["sub"] = "system:serviceaccount:kube-system:admin"
	forgedPayload, _ := json.Marshal(claims)
	tampered := parts[0] + "." + b64.EncodeToString(forgedPayload) + "." + parts[2]
	none := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	vault := api
	vault.audiences = []string{"vault"}
	ghost := api
	ghost.serviceAccount = objectRef{Name: "robot", UID: "an-older-robot"}

	for _, tc := range []struct {
		name  string
		token string
		at    time.Time
		want  error
		in    string
	}{
		{"good", good, start, nil, ""},
		{"good until it expires", good, start.Add(time.Hour), nil, ""},
		{"within the clock skew", good, start.Add(time.Hour + 30*time.Second), nil, ""},
		{"expired", good, start.Add(time.Hour + 2*time.Minute), errTokenInvalid, "expired"},
		{"issued in the future", issue(start.Add(10*time.Minute), api), start, errTokenInvalid, "not valid yet"},
		{"another audience", issue(start, vault), start, errTokenInvalid, "audiences"},
		{"a recreated service account", issue(start, ghost), start, errTokenInvalid, "uid"},
		{"another cluster's key", otherKey, start, errNotOurToken, ""},
		{"tampered payload", tampered, start, errNotOurToken, ""},
		{"alg none", none, start, errNotOurToken, ""},
		{"garbage", "a.b.c", start, errNotOurToken, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			*clock = tc.at
			u, _, err := ta.authenticate(context.Background(), tc.token, nil)
			if !errors.Is(err, tc.want) || (err != nil && !strings.Contains(err.Error(), tc.in)) {
				t.Fatalf("authenticate: %v, want %v (%q)", err, tc.want, tc.in)
			}
			if err == nil && u.Name != "system:serviceaccount:default:robot" {
				t.Fatalf("user %+v", u)
			}
		})
	}
	*clock = start
	if _, auds, err := ta.authenticate(context.Background(), issue(start, vault), []string{"other", "vault"}); err != nil || len(auds) != 1 || auds[0] != "vault" {
		t.Fatalf("vault token for vault: %v %v", auds, err)
	}
}
