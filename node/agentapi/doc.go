// Package agentapi owns the node agent's HTTP faces, the ports a kubelet
// serves: the secure port (10250), where the API server reads container
// logs and opens exec, attach and port-forward streams, and the
// read-only port (10255), with health, the node's pods, metrics and a
// stats summary.
//
// The secure port serves only clients holding a certificate signed by
// Config.ClientCAs whose common name is one of Config.AllowedClientNames
// (the API server's kubelet-client certificate): node certificates are
// signed by the same CA and are refused. Exec and attach speak the
// remotecommand protocol over SPDY/3.1 (v1 to v4.channel.k8s.io) and over
// WebSocket (v1 to v5.channel.k8s.io); port-forward speaks
// portforward.k8s.io over SPDY, and over SPDY tunneled in WebSocket
// binary messages (SPDY/3.1+portforward.k8s.io), as kubectl 1.30+ tries
// first.
//
// What the streams reach (containers, their logs, their network
// namespaces) is the Backend's: the agent implements it.
package agentapi
