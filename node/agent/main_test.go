package agent_test

import (
	"testing"

	"github.com/sqlkube/sqlkube/internal/testenv"
)

// The benchmarks run real containers: they run in a network namespace of
// their own.
func TestMain(m *testing.M) { testenv.IsolateNetwork(m) }
