package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sqlkube/sqlkube/storage"
)

// Legacy token Secrets (type kubernetes.io/service-account-token, with
// the annotation kubernetes.io/service-account.name) are filled in as
// Kubernetes 1.32's tokens controller does it: after the Secret is
// created, the server sets the kubernetes.io/service-account.uid
// annotation and data.token (a non-expiring token bound to the Secret),
// data.ca.crt and data.namespace. A token Secret of a service account that
// does not exist, or no longer has the UID the Secret names, is deleted.
//
// It is done by a loop in every server, not in the controllers: the token
// is signed with the cluster's signing key, which only servers hold (the
// controllers are API clients, as kube-controller-manager is, and are not
// given it); and not in the create path, which would make the generic
// create branch on one kind's type. Like in Kubernetes the Secret is
// filled a moment after its creation, and clients wait for data.token.
// With several servers each fills what it sees; a write against a stale
// revision fails, and the next event shows the Secret filled.

// tokenSecretActor is who fills token Secrets, in history.
const tokenSecretActor = "system:serviceaccount-token-controller"

// tokenSecretsLoop fills token Secrets until ctx ends, starting over
// after an error.
func (s *Server) tokenSecretsLoop(ctx context.Context) {
	ctx = storage.WithActor(ctx, tokenSecretActor)
	for ctx.Err() == nil {
		if err := s.followTokenSecrets(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("token secrets: restarting", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *Server) followTokenSecrets(ctx context.Context) error {
	l, err := s.store.List(ctx, storage.ListOptions{Resource: "secrets"})
	if err != nil {
		return err
	}
	w, err := s.store.Watch(ctx, storage.WatchOptions{Resource: "secrets", Revision: l.Revision})
	if err != nil {
		return err
	}
	defer w.Stop()
	for _, o := range l.Items {
		s.fillTokenSecret(ctx, o)
	}
	for e := range w.Events() {
		if e.Op != storage.OpDelete {
			s.fillTokenSecret(ctx, e.Object)
		}
	}
	return w.Err()
}

var tokenSecretType = []byte(`"` + corev1.SecretTypeServiceAccountToken + `"`)

// fillTokenSecret fills in o, when it is a token Secret that needs it,
// and logs what fails: the next change of the Secret tries again.
func (s *Server) fillTokenSecret(ctx context.Context, o storage.Object) {
	if !bytes.Contains(o.Value, tokenSecretType) {
		return
	}
	if err := s.syncTokenSecret(ctx, o); err != nil && ctx.Err() == nil && !errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound) {
		s.log.Warn("fill token secret", "secret", o.Namespace+"/"+o.Name, "err", err)
	}
}

func (s *Server) syncTokenSecret(ctx context.Context, o storage.Object) error {
	var secret corev1.Secret
	if err := json.Unmarshal(o.Value, &secret); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if secret.Type != corev1.SecretTypeServiceAccountToken || secret.DeletionTimestamp != nil {
		return nil
	}
	ns, saName := secret.Namespace, secret.Annotations[corev1.ServiceAccountNameKey]
	sa, err := s.tokens.readFresh(ctx, "serviceaccounts", ns, saName)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && secret.Annotations[corev1.ServiceAccountUIDKey] != "" && secret.Annotations[corev1.ServiceAccountUIDKey] != sa.Metadata.UID) {
		// As the tokens controller: a token of no service account (or of
		// one deleted and created again) is deleted.
		if _, err := s.store.Delete(ctx, o.Key, o.Revision); err != nil {
			return fmt.Errorf("delete the token secret of a missing service account %s: %w", saName, err)
		}
		s.log.Info("deleted the token secret of a missing service account", "secret", ns+"/"+secret.Name, "serviceaccount", saName)
		return nil
	}
	if err != nil {
		return err
	}
	changed := false
	if secret.Annotations[corev1.ServiceAccountUIDKey] == "" {
		secret.Annotations[corev1.ServiceAccountUIDKey] = sa.Metadata.UID
		changed = true
	}
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	if len(secret.Data[corev1.ServiceAccountTokenKey]) == 0 {
		token, err := s.tokens.issueLegacy(ns, secret.Name, saName, sa.Metadata.UID)
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		secret.Data[corev1.ServiceAccountTokenKey] = []byte(token)
		changed = true
	}
	if !bytes.Equal(secret.Data[corev1.ServiceAccountRootCAKey], s.cluster.CAPEM) {
		secret.Data[corev1.ServiceAccountRootCAKey] = s.cluster.CAPEM
		changed = true
	}
	if string(secret.Data[corev1.ServiceAccountNamespaceKey]) != ns {
		secret.Data[corev1.ServiceAccountNamespaceKey] = []byte(ns)
		changed = true
	}
	if !changed {
		return nil
	}
	res, _ := s.reg.Lookup("", "v1", "secrets")
	value, err := encodeForStorage(res, &secret)
	if err != nil {
		return err
	}
	if _, err := s.store.Update(ctx, o.Key, value, o.Revision); err != nil {
		return err
	}
	return nil
}
