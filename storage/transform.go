package storage

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Transformer turns a value into the form it is stored in and back. The
// stored form must still be JSON (PostgreSQL keeps values as JSONB). It is
// applied to every value the store writes and reads, including history and
// watch events read back from the database.
type Transformer interface {
	ToStorage(key Key, value []byte) ([]byte, error)
	FromStorage(key Key, value []byte) ([]byte, error)
}

type identity struct{}

func (identity) ToStorage(_ Key, v []byte) ([]byte, error)   { return v, nil }
func (identity) FromStorage(_ Key, v []byte) ([]byte, error) { return v, nil }

// encPrefix marks an encrypted value; the stored form is the JSON string
// "k8s:enc:aesgcm:v1:sqlkube:" followed by base64(nonce || ciphertext).
const encPrefix = "k8s:enc:aesgcm:v1:sqlkube:"

// AESGCM encrypts the values of a set of resources (by default "secrets")
// with AES-256-GCM. The object's key is authenticated with it, so a
// ciphertext copied to another row does not decrypt. Values of other
// resources, and values stored before encryption was turned on, pass
// through unchanged.
type AESGCM struct {
	aead      cipher.AEAD
	resources map[string]bool
}

// NewAESGCM returns a transformer encrypting the given resources with a
// 32-byte key; with no resources it encrypts "secrets".
func NewAESGCM(key []byte, resources ...string) (*AESGCM, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("encryption key: want 32 bytes, got %d: %w", len(key), ErrInvalid)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	if len(resources) == 0 {
		resources = []string{"secrets"}
	}
	t := &AESGCM{aead: aead, resources: map[string]bool{}}
	for _, r := range resources {
		t.resources[r] = true
	}
	return t, nil
}

// LoadOrCreateKey reads a 32-byte key from path, or creates the file with a
// random key (mode 0600) when it does not exist.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate encryption key: %w", err)
		}
		if err := os.WriteFile(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("write encryption key %s: %w", path, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read encryption key %s: %w", path, err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("encryption key %s: want 32 bytes, got %d: %w", path, len(key), ErrInvalid)
	}
	return key, nil
}

// ToStorage encrypts the value when its resource is one to encrypt.
func (t *AESGCM) ToStorage(key Key, value []byte) ([]byte, error) {
	if !t.resources[key.Resource] {
		return value, nil
	}
	nonce := make([]byte, t.aead.NonceSize(), t.aead.NonceSize()+len(value)+t.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypt %s: %w", key, err)
	}
	sealed := t.aead.Seal(nonce, nonce, value, []byte(key.String()))
	out, err := json.Marshal(encPrefix + base64.StdEncoding.EncodeToString(sealed))
	if err != nil {
		return nil, fmt.Errorf("encrypt %s: %w", key, err)
	}
	return out, nil
}

// FromStorage decrypts a value that was stored encrypted.
func (t *AESGCM) FromStorage(key Key, value []byte) ([]byte, error) {
	if !bytes.HasPrefix(value, []byte(`"`+encPrefix)) {
		return value, nil
	}
	var s string
	if err := json.Unmarshal(value, &s); err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", key, err)
	}
	sealed, err := base64.StdEncoding.DecodeString(s[len(encPrefix):])
	if err != nil || len(sealed) < t.aead.NonceSize() {
		return nil, fmt.Errorf("decrypt %s: malformed ciphertext", key)
	}
	n := t.aead.NonceSize()
	plain, err := t.aead.Open(nil, sealed[:n], sealed[n:], []byte(key.String()))
	if err != nil {
		return nil, fmt.Errorf("decrypt %s (wrong key?): %w", key, err)
	}
	return plain, nil
}

// fromStorage turns a value read from the database into the object's
// JSON: in the form the writer gave it, decrypted.
func (s *Store) fromStorage(key Key, stored []byte) ([]byte, error) {
	if s.d.readValue != nil {
		stored = s.d.readValue(stored)
	}
	return s.tf.FromStorage(key, stored)
}

// compactJSON removes the whitespace outside strings from a JSON
// document. PostgreSQL renders jsonb as {"a": 1, "b": [2, 3]}; clients,
// and scripts that grep what they read, expect the compact form every
// Kubernetes API server writes. Strings, escapes included, are kept as
// they are. b is returned as is when it has no such whitespace.
func compactJSON(b []byte) []byte {
	var out []byte
	inString, escaped := false, false
	for i, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			if out == nil {
				out = append(make([]byte, 0, len(b)), b[:i]...)
			}
			continue
		}
		if out != nil {
			out = append(out, c)
		}
	}
	if out == nil {
		return b
	}
	return out
}
