package cluster

// The node credentials exchange: how a node agent holding the node join
// token gets its certificates from an API server. The server answers it
// (package server), the agent asks (package node/join); this is the wire
// format they share.
const (
	// NodeCAPath serves the cluster's CA certificate (PEM) to anyone: the
	// agent checks it against the hash its token pins before it trusts
	// the server, and before it sends the secret.
	NodeCAPath = "/sqlkube/v1/ca"
	// NodeCredentialsPath takes a POST of a NodeCredentialsRequest with
	// the header "Authorization: Bearer node:<secret>" and answers a
	// NodeCredentialsResponse.
	NodeCredentialsPath = "/sqlkube/v1/node-credentials"
)

// NodeCredentialsRequest asks for a node's certificates.
type NodeCredentialsRequest struct {
	// NodeName is the Node the agent runs as, a DNS-1123 subdomain.
	NodeName string `json:"nodeName"`
	// CSR is a PEM certificate request signed by the key of the client
	// certificate; only its public key is used (the server decides the
	// subject: CN=system:node:NAME, O=system:nodes).
	CSR string `json:"csr"`
	// ServingCSR is the same for the key of the agent's serving
	// certificate.
	ServingCSR string `json:"servingCSR"`
	// Addresses are the node's IP addresses and host names, the subject
	// alternative names of its serving certificate (beside NodeName).
	Addresses []string `json:"addresses,omitempty"`
}

// NodeCredentialsResponse holds the certificates issued, PEM.
type NodeCredentialsResponse struct {
	ClientCert  string `json:"clientCert"`
	ServingCert string `json:"servingCert"`
	CA          string `json:"ca"`
}
