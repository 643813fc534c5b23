package dns

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Limits on a pod's resolv.conf, as the kubelet applies them (the API
// validates dnsConfig against the same numbers).
const (
	MaxNameservers       = 3
	MaxSearchDomains     = 32
	MaxSearchLineChars   = 2048
	maxSearchDomainChars = 253 // longer search domains make some libcs abort
)

// resolvConf is a parsed resolv.conf.
type resolvConf struct {
	nameservers []string
	searches    []string
	options     []string
}

// ResolvConf returns the resolv.conf of a pod in namespace, following the
// kubelet's rules:
//
//   - ClusterFirst (and "", the API's default) for a pod on the pod network,
//     and ClusterFirstWithHostNet: the cluster DNS servers only, search
//     NS.svc.DOMAIN svc.DOMAIN DOMAIN then the host's searches, options
//     ndots:5. Without cluster DNS servers, falls back to Default.
//   - Default, and ClusterFirst for a hostNetwork pod: the host's file
//     (hostResolvConf) as it is; a nil hostResolvConf means the node has no
//     resolv.conf, and gives nameserver 127.0.0.1 with search ".".
//   - None: nothing but what dnsConfig says.
//
// dnsConfig, when set, is merged in: its nameservers and searches are
// appended (duplicates dropped), its options override same-named ones. The
// result keeps at most MaxNameservers nameservers, MaxSearchDomains search
// domains and MaxSearchLineChars characters of search line, dropping from
// the end. ResolvConf fails on an unknown dnsPolicy and on a host file with
// an empty nameserver line.
func ResolvConf(clusterDNS []string, namespace, domain string, dnsPolicy corev1.DNSPolicy, dnsConfig *corev1.PodDNSConfig, hostResolvConf []byte, hostNetwork bool) ([]byte, error) {
	host, err := parseResolvConf(hostResolvConf)
	if err != nil {
		return nil, fmt.Errorf("pod resolv.conf in namespace %s: host resolv.conf: %w", namespace, err)
	}
	domain = strings.Trim(domain, ".")
	cluster := false
	switch dnsPolicy {
	case corev1.DNSNone:
		host = resolvConf{}
	case corev1.DNSClusterFirstWithHostNet:
		cluster = true
	case corev1.DNSClusterFirst, "":
		cluster = !hostNetwork
	case corev1.DNSDefault:
	default:
		return nil, fmt.Errorf("pod resolv.conf in namespace %s: unknown dnsPolicy %q", namespace, dnsPolicy)
	}
	rc := host
	switch {
	case dnsPolicy == corev1.DNSNone:
	case cluster && len(clusterDNS) > 0:
		rc.nameservers = append([]string(nil), clusterDNS...)
		if domain != "" {
			rc.searches = dedup(append([]string{namespace + ".svc." + domain, "svc." + domain, domain}, host.searches...))
		}
		rc.options = []string{"ndots:5"}
	case hostResolvConf == nil:
		rc.nameservers = []string{"127.0.0.1"}
		rc.searches = []string{"."}
	}
	if dnsConfig != nil {
		rc.nameservers = dedup(append(rc.nameservers, dnsConfig.Nameservers...))
		rc.searches = dedup(append(rc.searches, dnsConfig.Searches...))
		rc.options = mergeOptions(rc.options, dnsConfig.Options)
	}
	rc.nameservers = rc.nameservers[:min(len(rc.nameservers), MaxNameservers)]
	rc.searches = fitSearches(rc.searches)
	return rc.bytes(), nil
}

// parseResolvConf reads nameservers (they accumulate), the search list and
// the options (the last line of each wins) of a resolv.conf.
func parseResolvConf(b []byte) (resolvConf, error) {
	var rc resolvConf
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				return resolvConf{}, errors.New("nameserver line without an address")
			}
			rc.nameservers = append(rc.nameservers, f[1])
		case "search":
			rc.searches = rc.searches[:0]
			for _, s := range f[1:] {
				rc.searches = append(rc.searches, strings.TrimSuffix(s, "."))
			}
		case "options":
			rc.options = append([]string(nil), f[1:]...)
		}
	}
	return rc, nil
}

// mergeOptions overrides options (NAME or NAME:VALUE) with the pod's, by
// name, keeping the first-seen order.
func mergeOptions(existing []string, pod []corev1.PodDNSConfigOption) []string {
	var names []string
	values := map[string]string{}
	set := func(name, value string) {
		if _, ok := values[name]; !ok {
			names = append(names, name)
		}
		values[name] = value
	}
	for _, o := range existing {
		name, value, _ := strings.Cut(o, ":")
		set(name, value)
	}
	for _, o := range pod {
		v := ""
		if o.Value != nil {
			v = *o.Value
		}
		set(o.Name, v)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if v := values[n]; v != "" {
			out = append(out, n+":"+v)
		} else {
			out = append(out, n)
		}
	}
	return out
}

// fitSearches applies the kubelet's search-line limits: at most
// MaxSearchDomains domains, none longer than 253 characters, and a line of
// at most MaxSearchLineChars characters, cutting from the end.
func fitSearches(s []string) []string {
	s = s[:min(len(s), MaxSearchDomains)]
	var out []string
	for _, d := range s {
		if len(d) <= maxSearchDomainChars {
			out = append(out, d)
		}
	}
	for len(out) > 0 && len(strings.Join(out, " ")) > MaxSearchLineChars {
		out = out[:len(out)-1]
	}
	return out
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// bytes renders rc the way container runtimes write a pod's resolv.conf.
func (rc resolvConf) bytes() []byte {
	var b bytes.Buffer
	if len(rc.searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(rc.searches, " "))
	}
	for _, n := range rc.nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", n)
	}
	if len(rc.options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(rc.options, " "))
	}
	return b.Bytes()
}
