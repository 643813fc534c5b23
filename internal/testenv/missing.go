package testenv

import (
	"errors"
	"os"
	"strconv"
	"testing"
)

// ErrNotInstalled is wrapped by errors about a dependency that is not
// installed on this machine (as opposed to one that failed to start).
var ErrNotInstalled = errors.New("not installed")

// Missing reports that the dependency what (for example "PostgreSQL") is not
// installed. Under CI (environment variable CI=true) the test fails, naming the
// dependency and how to install it; otherwise the test is skipped. Missing
// does not return.
func Missing(t testing.TB, what string) {
	t.Helper()
	if underCI() {
		t.Fatalf("%s is not installed; run make deps (hack/deps.sh) to install it", what)
	}
	t.Skipf("%s is not installed (run make deps to install it); skipping", what)
}

// underCI reports whether the CI environment variable is set to a true value.
func underCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}
