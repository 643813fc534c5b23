package proxy

import (
	"testing"

	"github.com/sqlkube/sqlkube/internal/testenv"
)

// The kernel tests create nftables tables, interfaces and network
// namespaces: they run in a network namespace of their own.
func TestMain(m *testing.M) { testenv.IsolateNetwork(m) }
