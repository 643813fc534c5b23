package volume

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/sqlkube/sqlkube/internal/testenv"
)

// nsEnv marks the test binary re-executed in its own mount namespace.
const nsEnv = "SQLKUBE_VOLUME_TEST_MOUNTNS"

// TestMain re-executes the tests as root inside a private mount namespace,
// so the tmpfs mounts they make can never leak into the host's.
func TestMain(m *testing.M) {
	if os.Geteuid() != 0 || os.Getenv(nsEnv) != "" {
		os.Exit(m.Run())
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		os.Exit(m.Run()) // the tmpfs test reports the missing tool
	}
	cmd := exec.Command(unshare, append([]string{"--mount", "--propagation", "private", "--", os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), nsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "re-execute in a mount namespace:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// needMountNS skips (or under CI fails) a test that mounts file systems
// unless it runs as root in its own mount namespace.
func needMountNS(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		// Not a missing package: say so plainly, failing under CI like
		// testenv.Missing.
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("this test mounts tmpfs and must run as root under CI")
		}
		t.Skip("this test mounts tmpfs and needs root; skipping")
	}
	if os.Getenv(nsEnv) == "" {
		testenv.Missing(t, "unshare (util-linux, for a private mount namespace)")
	}
}
