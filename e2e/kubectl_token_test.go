package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestKubectlCreateToken: kubectl create token prints a JWT for the
// default ServiceAccount the controllers create, and kubectl using that
// token is the service account; every namespace has kube-root-ca.crt.
func TestKubectlCreateToken(t *testing.T) {
	c := startServer(t, "--tls-san", "api.example.com")
	// The serviceaccount controller creates default (and kube-root-ca.crt)
	// a moment after the server starts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, errSA := c.kubectl("get", "serviceaccount", "default", "-n", "default")
		_, errCA := c.kubectl("get", "configmap", "kube-root-ca.crt", "-n", "default")
		if errSA == nil && errCA == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no default ServiceAccount (%v) or kube-root-ca.crt (%v) after 30s", errSA, errCA)
		}
		time.Sleep(200 * time.Millisecond)
	}
	jwt := regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
	token, err := c.kubectl("create", "token", "default")
	if err != nil || !jwt.MatchString(token) {
		t.Fatalf("kubectl create token default: %v\n%s", err, token)
	}
	out, err := c.kubectl("--token", token, "auth", "whoami")
	if err != nil || !regexp.MustCompile(`(?s)system:serviceaccount:default:default.*system:serviceaccounts:default`).MatchString(out) {
		t.Fatalf("kubectl auth whoami with the token: %v\n%s", err, out)
	}
	c.steps(t, []kubectlStep{
		{"audience and duration", []string{"create", "token", "default", "--audience", "vault", "--duration", "2h"}, jwt.String(), false},
		{"too short", []string{"create", "token", "default", "--duration", "5m"}, `less than 10 minutes`, true},
		{"missing account", []string{"create", "token", "nobody"}, `not found`, true},
		{"root CA", []string{"get", "configmap", "kube-root-ca.crt", "-n", "kube-system", "-o", "jsonpath={.data.ca\\.crt}"}, `BEGIN CERTIFICATE`, false},
	})
	if strings.Contains(out, "system:masters") {
		t.Fatalf("the token is the admin:\n%s", out)
	}
}
