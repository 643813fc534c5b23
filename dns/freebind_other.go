//go:build !linux

package dns

import (
	"net/netip"
	"syscall"
)

// freeBind is a no-op where the system has no IP_FREEBIND: the address must
// be assigned before the server binds it.
func freeBind(netip.Addr) func(network, address string, c syscall.RawConn) error {
	return nil
}
