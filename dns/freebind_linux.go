package dns

import (
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// freeBind returns a socket control function that lets addr be bound before
// it is assigned to an interface (IP_FREEBIND, IPV6_FREEBIND): the node
// agent can start its DNS server on the pod bridge's gateway address before
// the bridge exists.
func freeBind(addr netip.Addr) func(network, address string, c syscall.RawConn) error {
	level, opt := unix.SOL_IP, unix.IP_FREEBIND
	if addr.Is6() && !addr.Is4In6() {
		level, opt = unix.SOL_IPV6, unix.IPV6_FREEBIND
	}
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, 1) }); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("set freebind on %s %s: %w", network, address, serr)
		}
		return nil
	}
}
