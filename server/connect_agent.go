package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sqlkube/sqlkube/cluster"
	"github.com/sqlkube/sqlkube/storage"
)

// agentClientName is the common name of the certificate the server
// presents to node agents, kube-apiserver's --kubelet-client-certificate
// as kubeadm issues it; agents serve no other client.
const agentClientName = "kube-apiserver-kubelet-client"

// agentTransport dials node agents with a client certificate issued, in
// memory, by the cluster's CA at start. Agents' serving certificates are
// not verified, as kube-apiserver does not verify kubelets' without
// --kubelet-certificate-authority: an agent's certificate is its own,
// self-signed unless it was given one. What reaches the agent is still
// authenticated the other way: only this certificate is served.
func agentTransport(c *cluster.Cluster) (*http.Transport, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the node agent client key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("node agent client serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: agentClientName, Organization: []string{groupMasters}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.CA, key.Public(), c.CAKey)
	if err != nil {
		return nil, fmt.Errorf("issue the node agent client certificate: %w", err)
	}
	return &http.Transport{
		DialContext: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig: &tls.Config{
			Certificates:       []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
			InsecureSkipVerify: true,
			MinVersion:         tls.VersionTLS12,
		},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // logs and streams answer when they answer
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   8,
	}, nil
}

// agentAddress is where the node's agent listens: its InternalIP (else
// its Hostname) and the port it publishes in daemonEndpoints.
func (s *Server) agentAddress(q *request, nodeName string) (string, error) {
	o, err := s.store.Get(q.r.Context(), storage.Key{Resource: "nodes", Name: nodeName})
	if err != nil {
		return "", storageError(err, schema.GroupResource{Resource: "nodes"}, nodeName)
	}
	var node corev1.Node
	if err := json.Unmarshal(o.Value, &node); err != nil {
		return "", apierrors.NewInternalError(fmt.Errorf("decode node %s: %w", nodeName, err))
	}
	var host string
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && a.Address != "" && host == "" {
				host = a.Address
			}
		}
	}
	if host == "" {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf("node %s has no InternalIP or Hostname address: its agent is not reachable", nodeName))
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port <= 0 {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf("node %s publishes no agent port (status.daemonEndpoints.kubeletEndpoint.port): its agent is not serving", nodeName))
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), nil
}

// agentLocation is the agent URL of a connect request, as kube-apiserver
// builds a kubelet's (LogLocation, ExecLocation, AttachLocation,
// PortForwardLocation).
func agentLocation(pod *corev1.Pod, subresource, container string, in url.Values) (*url.URL, error) {
	out := url.Values{}
	var path string
	switch subresource {
	case "log":
		path = fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container)
		for _, flag := range []string{"follow", "previous", "timestamps", "insecureSkipTLSVerifyBackend"} {
			if v := in.Get(flag); v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: %q is not a boolean", flag, v))
				}
				if b && flag != "insecureSkipTLSVerifyBackend" {
					out.Set(flag, "true")
				}
			}
		}
		for _, p := range []string{"tailLines", "limitBytes", "sinceSeconds", "sinceTime"} {
			if v := in.Get(p); v != "" {
				out.Set(p, v)
			}
		}
	case "exec", "attach":
		path = fmt.Sprintf("/%s/%s/%s/%s", subresource, pod.Namespace, pod.Name, container)
		for _, f := range []struct{ api, kubelet string }{
			{"stdin", corev1.ExecStdinParam}, {"stdout", corev1.ExecStdoutParam},
			{"stderr", corev1.ExecStderrParam}, {"tty", corev1.ExecTTYParam},
		} {
			if v := in.Get(f.api); v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: %q is not a boolean", f.api, v))
				}
				if b {
					out.Set(f.kubelet, "1")
				}
			}
		}
		if subresource == "exec" {
			cmd := in[corev1.ExecCommandParam]
			if len(cmd) == 0 {
				return nil, apierrors.NewBadRequest("you must specify a command")
			}
			out[corev1.ExecCommandParam] = cmd
		}
	case "portforward":
		path = fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
		for _, p := range in["ports"] {
			out.Add("port", p)
		}
	}
	return &url.URL{Scheme: "https", Path: path, RawQuery: out.Encode()}, nil
}

// proxyToAgent forwards the request to loc on the agent at addr,
// streaming the answer; upgrades (SPDY, WebSocket) pass through both
// ways. The user's credentials stay here: the agent sees the server's
// client certificate only.
func (s *Server) proxyToAgent(q *request, addr string, loc *url.URL) {
	loc.Host = addr
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = loc
			pr.Out.Host = addr
			for _, h := range []string{"Authorization", "Impersonate-User", "Impersonate-Group", "Impersonate-Uid", "Cookie"} {
				pr.Out.Header.Del(h)
			}
			for k := range pr.Out.Header {
				if strings.HasPrefix(k, "Impersonate-Extra-") {
					pr.Out.Header.Del(k)
				}
			}
		},
		Transport:     s.agents,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Debug("proxy to node agent failed", "agent", addr, "path", loc.Path, "err", err)
			writeStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("error trying to reach the node agent at %s: %v", addr, err)))
		},
	}
	rp.ServeHTTP(q.w, q.r)
}
