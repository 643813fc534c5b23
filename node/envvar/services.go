package envvar

import (
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// kv is one environment variable.
type kv struct{ name, value string }

// serviceVars returns the Docker-links style variables of services, sorted
// by service name, skipping services without a cluster IP.
func serviceVars(services []*corev1.Service) []kv {
	services = slices.Clone(services)
	slices.SortFunc(services, func(a, b *corev1.Service) int { return strings.Compare(a.Name, b.Name) })
	var vars []kv
	for _, svc := range services {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone {
			continue
		}
		prefix := varName(svc.Name)
		vars = append(vars, kv{prefix + "_SERVICE_HOST", ip})
		if len(svc.Spec.Ports) == 0 {
			continue
		}
		vars = append(vars, kv{prefix + "_SERVICE_PORT", strconv.Itoa(int(svc.Spec.Ports[0].Port))})
		for _, p := range svc.Spec.Ports {
			if p.Name != "" {
				vars = append(vars, kv{prefix + "_SERVICE_PORT_" + varName(p.Name), strconv.Itoa(int(p.Port))})
			}
		}
		for i, p := range svc.Spec.Ports {
			proto := string(p.Protocol)
			if proto == "" {
				proto = string(corev1.ProtocolTCP)
			}
			port := strconv.Itoa(int(p.Port))
			url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, port)
			if i == 0 {
				vars = append(vars, kv{prefix + "_PORT", url})
			}
			pp := prefix + "_PORT_" + port + "_" + strings.ToUpper(proto)
			vars = append(vars,
				kv{pp, url},
				kv{pp + "_PROTO", strings.ToLower(proto)},
				kv{pp + "_PORT", port},
				kv{pp + "_ADDR", ip},
			)
		}
	}
	return vars
}

// varName turns a service or port name into a variable name part:
// upper case, with "-" replaced by "_".
func varName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}
