package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/sqlkube/sqlkube/storage"
)

// A cluster's identity is its CA and its secrets encryption key. Servers
// that share a datastore must share both: a client's kubeconfig from one
// server must verify another's certificate, and every server must read the
// secrets the others wrote. So the first server to start stores them in
// the datastore, sealed with a key derived from the admin token (like
// k3s's bootstrap data), and the others take them from there: they must
// be started with the same --token.

const (
	identityResource = "sqlkube.io.bootstrap"
	identityName     = "cluster"
	encryptionKey    = "encryption.key"
)

// identity is what the datastore holds, before sealing.
type identity struct {
	CACert        []byte `json:"caCert"`
	CAKey         []byte `json:"caKey"`
	EncryptionKey []byte `json:"encryptionKey"`
}

// sealedIdentity is the stored form: AES-GCM with a key derived from the
// admin token.
type sealedIdentity struct {
	Sealed []byte `json:"sealed"`
}

func identityAEAD(token string) (cipher.AEAD, error) {
	k := sha256.Sum256([]byte("sqlkube cluster identity\x00" + token))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// shareIdentity makes the data directory's CA and encryption key the
// cluster's: it stores them in the datastore when the datastore has none,
// and otherwise replaces the local ones with the datastore's.
func shareIdentity(ctx context.Context, st *storage.Store, dir, token string) error {
	aead, err := identityAEAD(token)
	if err != nil {
		return fmt.Errorf("cluster identity: %w", err)
	}
	key := storage.Key{Resource: identityResource, Name: identityName}
	o, err := st.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		local, err := readLocalIdentity(dir)
		if err != nil {
			return err
		}
		plain, _ := json.Marshal(local)
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return fmt.Errorf("cluster identity: %w", err)
		}
		value, _ := json.Marshal(sealedIdentity{Sealed: aead.Seal(nonce, nonce, plain, []byte(identityName))})
		_, err = st.Create(storage.WithActor(ctx, "system:apiserver"), key, value)
		if err == nil {
			return nil
		}
		if !errors.Is(err, storage.ErrExists) {
			return fmt.Errorf("store the cluster identity: %w", err)
		}
		// Another server stored its identity first: take that one.
		if o, err = st.Get(ctx, key); err != nil {
			return fmt.Errorf("read the cluster identity: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read the cluster identity: %w", err)
	}
	var sealed sealedIdentity
	if err := json.Unmarshal(o.Value, &sealed); err != nil || len(sealed.Sealed) < aead.NonceSize() {
		return fmt.Errorf("the cluster identity in the datastore is damaged")
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed.Sealed[:n], sealed.Sealed[n:], []byte(identityName))
	if err != nil {
		return fmt.Errorf("this datastore belongs to a cluster started with another token: start this server with that cluster's --token")
	}
	var id identity
	if err := json.Unmarshal(plain, &id); err != nil {
		return fmt.Errorf("the cluster identity in the datastore is damaged: %w", err)
	}
	return writeLocalIdentity(dir, id)
}

func readLocalIdentity(dir string) (identity, error) {
	var id identity
	var err error
	if id.CACert, err = os.ReadFile(filepath.Join(dir, caCertFile)); err != nil {
		return id, fmt.Errorf("read the CA: %w", err)
	}
	if id.CAKey, err = os.ReadFile(filepath.Join(dir, caKeyFile)); err != nil {
		return id, fmt.Errorf("read the CA key: %w", err)
	}
	if id.EncryptionKey, err = storage.LoadOrCreateKey(filepath.Join(dir, encryptionKey)); err != nil {
		return id, err
	}
	return id, nil
}

// writeLocalIdentity replaces the data directory's CA and encryption key
// when they differ from the cluster's; the serving certificate is then
// re-issued by the cluster's CA.
func writeLocalIdentity(dir string, id identity) error {
	local, err := readLocalIdentity(dir)
	if err == nil && string(local.CACert) == string(id.CACert) && string(local.EncryptionKey) == string(id.EncryptionKey) {
		return nil
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{caKeyFile, id.CAKey, 0o600}, {caCertFile, id.CACert, 0o644}, {encryptionKey, id.EncryptionKey, 0o600},
	} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	_ = os.Remove(filepath.Join(dir, servingCert))
	return nil
}

// lateTransformer encrypts with a key known only once the cluster
// identity is settled, after the store has opened.
type lateTransformer struct {
	t atomic.Pointer[storage.AESGCM]
}

var errNoKey = errors.New("the encryption key is not loaded yet")

func (l *lateTransformer) ToStorage(k storage.Key, v []byte) ([]byte, error) {
	if t := l.t.Load(); t != nil {
		return t.ToStorage(k, v)
	}
	if k.Resource == "secrets" {
		return nil, errNoKey
	}
	return v, nil
}

func (l *lateTransformer) FromStorage(k storage.Key, v []byte) ([]byte, error) {
	if t := l.t.Load(); t != nil {
		return t.FromStorage(k, v)
	}
	if k.Resource == "secrets" {
		return nil, errNoKey
	}
	return v, nil
}
