package cluster

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/crypto/scrypt"

	"github.com/sqlkube/sqlkube/storage"
)

// A cluster's identity is its CA, its secrets encryption key and its
// service-account token signing key. Servers that share a datastore must
// share all three: a client's kubeconfig from one server must verify
// another's certificate, every server must read the secrets the others
// wrote, and accept the tokens the others issued. So the first server to start stores them in
// the datastore, sealed with a key derived from the admin token by a
// salted, slow KDF (like k3s's bootstrap data), and the others take them
// from there: they must be started with the same --token.

const (
	identityResource = "sqlkube.io.bootstrap"
	identityName     = "cluster"
)

// identity is what the datastore holds, before sealing.
type identity struct {
	CACert        []byte `json:"caCert"`
	CAKey         []byte `json:"caKey"`
	EncryptionKey []byte `json:"encryptionKey"`
	// ServiceAccountKey is the PEM private key that signs service-account
	// tokens. Records written before December 2026 have none:
	// shareIdentity adds one and reseals them.
	ServiceAccountKey []byte `json:"serviceAccountKey,omitempty"`
	// NodeJoinSecret is the secret of the node join token (see
	// nodetoken.go). Records written before issue 14 have none:
	// shareIdentity adds one and reseals them.
	NodeJoinSecret string `json:"nodeJoinSecret,omitempty"`
}

// sealedIdentity is the stored form: the identity sealed with AES-256-GCM
// under a key derived from the admin token.
//
// Version 1 (no "version" field, written before December 2026) derived the
// key with one unsalted SHA-256 of the token, so whoever read the database
// or a backup could try tokens offline at the speed of SHA-256. It is only
// read, to migrate: shareIdentity reseals it with the current version.
//
// Version 2 derives the key with scrypt, a salted and deliberately slow
// (memory-hard) KDF, whose salt and parameters are stored beside the
// ciphertext, so that they can change later without a new version.
type sealedIdentity struct {
	Version int        `json:"version,omitempty"`
	KDF     *kdfParams `json:"kdf,omitempty"`
	// Sealed is the nonce followed by the ciphertext.
	Sealed []byte `json:"sealed"`
}

const (
	sealVersionSHA256 = 1
	sealVersionKDF    = 2
)

// kdfParams are the key derivation's: a random salt per sealing, and
// scrypt's cost parameters.
type kdfParams struct {
	Name string `json:"name"`
	Salt []byte `json:"salt"`
	N    int    `json:"n"`
	R    int    `json:"r"`
	P    int    `json:"p"`
}

// identityKDF is what new sealings use: scrypt with N=2^15, r=8, p=1 takes
// 32 MiB and some 50-100 ms, once per server start.
var identityKDF = kdfParams{Name: "scrypt", N: 1 << 15, R: 8, P: 1}

const identitySaltSize = 32

// check bounds the parameters read from the datastore, so that a damaged
// (or hostile) record cannot make a server allocate without limit.
func (p *kdfParams) check() error {
	switch {
	case p.Name != "scrypt":
		return fmt.Errorf("unknown key derivation %q", p.Name)
	case len(p.Salt) < 16 || len(p.Salt) > 64:
		return fmt.Errorf("salt of %d bytes", len(p.Salt))
	case p.N < 2 || p.N > 1<<20 || p.N&(p.N-1) != 0:
		return fmt.Errorf("scrypt N=%d: want a power of two up to 2^20", p.N)
	case p.R < 1 || p.R > 32 || p.P < 1 || p.P > 16:
		return fmt.Errorf("scrypt r=%d p=%d out of range", p.R, p.P)
	case 128*p.N*p.R > 256<<20:
		return fmt.Errorf("scrypt N=%d r=%d needs more than 256 MiB", p.N, p.R)
	}
	return nil
}

// errWrongToken is what a server started with another token than the
// cluster's gets.
var errWrongToken = errors.New("this datastore belongs to a cluster started with another token: start this server with that cluster's --token")

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// legacyIdentityAEAD is version 1's key: unsalted SHA-256, fast to brute
// force; only read, to migrate.
func legacyIdentityAEAD(token string) (cipher.AEAD, error) {
	k := sha256.Sum256([]byte("sqlkube cluster identity\x00" + token))
	return newGCM(k[:])
}

func (p *kdfParams) aead(token string) (cipher.AEAD, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	k, err := scrypt.Key([]byte(token), p.Salt, p.N, p.R, p.P, 32)
	if err != nil {
		return nil, err
	}
	return newGCM(k)
}

// sealAAD binds the ciphertext to the record's version and KDF.
func sealAAD(version int, p *kdfParams) []byte {
	if version == sealVersionSHA256 {
		return []byte(identityName)
	}
	return fmt.Appendf(nil, "%s\x00v%d\x00%s\x00%d\x00%d\x00%d\x00%x", identityName, version, p.Name, p.N, p.R, p.P, p.Salt)
}

// sealIdentity seals id with a fresh salt and the current parameters.
func sealIdentity(token string, id identity) ([]byte, error) {
	p := identityKDF
	p.Salt = make([]byte, identitySaltSize)
	if _, err := rand.Read(p.Salt); err != nil {
		return nil, err
	}
	aead, err := p.aead(token)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	plain, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sealedIdentity{
		Version: sealVersionKDF,
		KDF:     &p,
		Sealed:  aead.Seal(nonce, nonce, plain, sealAAD(sealVersionKDF, &p)),
	})
}

// openIdentity opens a stored identity of any version. stale says that it
// was sealed otherwise than sealIdentity would now: an older version, or
// other KDF parameters than identityKDF.
func openIdentity(token string, value []byte) (id identity, stale bool, err error) {
	var sealed sealedIdentity
	if err := json.Unmarshal(value, &sealed); err != nil {
		return id, false, fmt.Errorf("the cluster identity in the datastore is damaged: %w", err)
	}
	version := sealed.Version
	if version == 0 {
		version = sealVersionSHA256
	}
	var aead cipher.AEAD
	switch version {
	case sealVersionSHA256:
		aead, err = legacyIdentityAEAD(token)
	case sealVersionKDF:
		if sealed.KDF == nil {
			return id, false, errors.New("the cluster identity in the datastore is damaged: no key derivation parameters")
		}
		aead, err = sealed.KDF.aead(token)
	default:
		return id, false, fmt.Errorf("the cluster identity in the datastore is sealed with version %d, newer than this server knows (%d): upgrade this server", version, sealVersionKDF)
	}
	if err != nil {
		return id, false, fmt.Errorf("the cluster identity in the datastore is damaged: %w", err)
	}
	n := aead.NonceSize()
	if len(sealed.Sealed) < n {
		return id, false, errors.New("the cluster identity in the datastore is damaged")
	}
	plain, err := aead.Open(nil, sealed.Sealed[:n], sealed.Sealed[n:], sealAAD(version, sealed.KDF))
	if err != nil {
		return id, false, errWrongToken
	}
	if err := json.Unmarshal(plain, &id); err != nil {
		return id, false, fmt.Errorf("the cluster identity in the datastore is damaged: %w", err)
	}
	k := sealed.KDF
	stale = version != sealVersionKDF || k.Name != identityKDF.Name || k.N != identityKDF.N || k.R != identityKDF.R || k.P != identityKDF.P
	return id, stale, nil
}

// shareIdentity makes the data directory's CA and encryption key the
// cluster's: it stores them in the datastore when the datastore has none,
// and otherwise replaces the local ones with the datastore's. An identity
// sealed the old way (version 1), or with other KDF parameters than the
// current ones, is resealed.
func shareIdentity(ctx context.Context, st *storage.Store, dir, token string, log *slog.Logger) error {
	key := storage.Key{Resource: identityResource, Name: identityName}
	ctx = storage.WithActor(ctx, "system:apiserver")
	o, err := st.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		local, err := readLocalIdentity(dir)
		if err != nil {
			return err
		}
		value, err := sealIdentity(token, local)
		if err != nil {
			return fmt.Errorf("seal the cluster identity: %w", err)
		}
		_, err = st.Create(ctx, key, value)
		if err == nil {
			// The local node token is written only now: its secret was
			// made by readLocalIdentity and must stay the one stored.
			return writeLocalIdentity(dir, local)
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
	for {
		id, stale, err := openIdentity(token, o.Value)
		if err != nil {
			return err
		}
		addServiceAccountKey := len(id.ServiceAccountKey) == 0
		if addServiceAccountKey {
			// Sealed before service-account tokens: this server's signing
			// key becomes the cluster's.
			if id.ServiceAccountKey, err = loadOrCreateServiceAccountKey(dir); err != nil {
				return err
			}
		}
		addJoinSecret := id.NodeJoinSecret == ""
		if addJoinSecret {
			// Sealed before node join tokens: this server's secret
			// becomes the cluster's.
			if id.NodeJoinSecret, err = loadOrCreateNodeJoinSecret(dir); err != nil {
				return err
			}
		}
		migrate := addServiceAccountKey || addJoinSecret
		if !stale && !migrate {
			return writeLocalIdentity(dir, id)
		}
		value, err := sealIdentity(token, id)
		if err != nil {
			return fmt.Errorf("reseal the cluster identity: %w", err)
		}
		switch _, err := st.Update(ctx, key, value, o.Revision); {
		case err == nil:
			log.Info("resealed the cluster identity", "version", sealVersionKDF, "kdf", identityKDF.Name, "N", identityKDF.N, "r", identityKDF.R, "p", identityKDF.P, "addedServiceAccountKey", addServiceAccountKey, "addedNodeJoinSecret", addJoinSecret)
			return writeLocalIdentity(dir, id)
		case errors.Is(err, storage.ErrConflict):
			// Another server resealed it meanwhile, perhaps with its own
			// signing key: read it again and take that one.
			if o, err = st.Get(ctx, key); err != nil {
				return fmt.Errorf("read the cluster identity: %w", err)
			}
		default:
			return fmt.Errorf("reseal the cluster identity: %w", err)
		}
	}
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
	if id.ServiceAccountKey, err = loadOrCreateServiceAccountKey(dir); err != nil {
		return id, err
	}
	if id.NodeJoinSecret, err = loadOrCreateNodeJoinSecret(dir); err != nil {
		return id, err
	}
	return id, nil
}

// writeLocalIdentity replaces the data directory's CA, encryption key,
// service-account signing key and node token when they differ from the
// cluster's. (A
// certificate that a face issued with the replaced CA no longer verifies
// against the new one: the API server re-issues its serving certificate
// then.)
func writeLocalIdentity(dir string, id identity) error {
	if err := writeLocalKeys(dir, id); err != nil {
		return err
	}
	return writeNodeToken(dir, id.CACert, id.NodeJoinSecret)
}

func writeLocalKeys(dir string, id identity) error {
	local, err := readLocalIdentity(dir)
	if err == nil && string(local.CACert) == string(id.CACert) && string(local.EncryptionKey) == string(id.EncryptionKey) {
		if string(local.ServiceAccountKey) == string(id.ServiceAccountKey) {
			return nil
		}
		return writeServiceAccountKey(dir, id.ServiceAccountKey)
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
	return writeServiceAccountKey(dir, id.ServiceAccountKey)
}
