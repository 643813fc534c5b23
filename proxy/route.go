package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ensureServiceRoute makes ClusterIPs reachable from the node itself on a
// machine that has no route covering them (no default route, as in a
// network namespace holding only loopback and the pod bridge): a program
// connecting to a ClusterIP would fail with "network unreachable" before
// the table's output hook could translate the address. It adds the
// Service range on the loopback device, which only lets the connection
// start: the table sends it on to an endpoint (or refuses it). A machine
// whose routes cover the range already is left alone.
func ensureServiceRoute(serviceCIDR netip.Prefix, log *slog.Logger) error {
	if !serviceCIDR.IsValid() || !serviceCIDR.Addr().Is4() {
		return nil
	}
	probe := net.JoinHostPort(serviceCIDR.Masked().Addr().Next().String(), "53")
	c, err := net.Dial("udp", probe) // a route lookup, nothing is sent
	if err == nil {
		c.Close()
		return nil
	}
	if !errors.Is(err, syscall.ENETUNREACH) {
		return fmt.Errorf("look up the route to the Service range %s: %w", serviceCIDR, err)
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return fmt.Errorf("route the Service range %s: %w", serviceCIDR, err)
	}
	conn, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return fmt.Errorf("route the Service range %s: %w", serviceCIDR, err)
	}
	defer conn.Close()
	ae := netlink.NewAttributeEncoder()
	dst := serviceCIDR.Masked().Addr().As4()
	ae.Bytes(unix.RTA_DST, dst[:])
	ae.Uint32(unix.RTA_OIF, uint32(lo.Index))
	attrs, err := ae.Encode()
	if err != nil {
		return fmt.Errorf("route the Service range %s: %w", serviceCIDR, err)
	}
	// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope,
	// type, flags.
	rtm := []byte{unix.AF_INET, byte(serviceCIDR.Bits()), 0, 0, unix.RT_TABLE_MAIN, unix.RTPROT_STATIC, unix.RT_SCOPE_LINK, unix.RTN_UNICAST, 0, 0, 0, 0}
	_, err = conn.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_NEWROUTE, Flags: netlink.Request | netlink.Create | netlink.Excl | netlink.Acknowledge},
		Data:   append(rtm, attrs...),
	})
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("route the Service range %s to lo: %w", serviceCIDR, err)
	}
	log.Info("proxy: no route covered the Service range; routed it to lo so the node reaches ClusterIPs", "serviceCIDR", serviceCIDR)
	return nil
}
