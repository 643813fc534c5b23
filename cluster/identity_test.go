package cluster

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlkube/sqlkube/storage"
)

// identityFixture is a data directory with a local identity (CA and
// encryption key) and a SQLite store of its own.
type identityFixture struct {
	dir string
	st  *storage.Store
}

func newIdentityFixture(t *testing.T) identityFixture {
	t.Helper()
	dir := t.TempDir()
	if _, _, _, err := loadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.LoadOrCreateKey(filepath.Join(dir, encryptionKey)); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(context.Background(), storage.Config{Datastore: "sqlite://" + filepath.Join(dir, "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return identityFixture{dir: dir, st: st}
}

var identityKey = storage.Key{Resource: identityResource, Name: identityName}

func storedIdentity(t *testing.T, st *storage.Store) (sealedIdentity, storage.Object) {
	t.Helper()
	o, err := st.Get(context.Background(), identityKey)
	if err != nil {
		t.Fatal(err)
	}
	var s sealedIdentity
	if err := json.Unmarshal(o.Value, &s); err != nil {
		t.Fatal(err)
	}
	return s, o
}

func localIdentity(t *testing.T, dir string) identity {
	t.Helper()
	id, err := readLocalIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sameIdentity(a, b identity) bool {
	return bytes.Equal(a.CACert, b.CACert) && bytes.Equal(a.CAKey, b.CAKey) && bytes.Equal(a.EncryptionKey, b.EncryptionKey) &&
		bytes.Equal(a.ServiceAccountKey, b.ServiceAccountKey)
}

// TestIdentityGetsServiceAccountKey: a record sealed before
// service-account tokens (no signing key) gets the key of the first
// server that opens it, and is resealed; every later server takes that
// key, so that all of them accept each other's tokens.
func TestIdentityGetsServiceAccountKey(t *testing.T) {
	ctx := context.Background()
	const token = "pre-token-cluster"
	origin := newIdentityFixture(t)
	old := localIdentity(t, origin.dir)
	old.ServiceAccountKey = nil
	value, err := sealIdentity(token, old)
	if err != nil {
		t.Fatal(err)
	}
	o, err := origin.st.Create(ctx, identityKey, value)
	if err != nil {
		t.Fatal(err)
	}
	if id, _, err := openIdentity(token, o.Value); err != nil || len(id.ServiceAccountKey) != 0 {
		t.Fatalf("fixture: %v, key %d bytes", err, len(id.ServiceAccountKey))
	}

	first := t.TempDir()
	if _, _, _, err := loadOrCreateCA(first); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if err := shareIdentity(ctx, origin.st, first, token, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	_, after := storedIdentity(t, origin.st)
	if after.Revision == o.Revision {
		t.Fatal("the record without a signing key was not resealed")
	}
	id, stale, err := openIdentity(token, after.Value)
	if err != nil || stale {
		t.Fatalf("resealed record: %v, stale %v", err, stale)
	}
	if _, err := parseServiceAccountKey(id.ServiceAccountKey); err != nil {
		t.Fatalf("the record's signing key: %v", err)
	}
	local := localIdentity(t, first)
	if !sameIdentity(local, id) || !bytes.Equal(local.CACert, old.CACert) {
		t.Fatal("the migrating server's local identity is not the cluster's")
	}
	if !strings.Contains(logs.String(), "addedServiceAccountKey=true") {
		t.Errorf("logs = %q, want the added key reported", logs.String())
	}

	// A later server, with a signing key of its own, takes the cluster's.
	later := t.TempDir()
	if _, _, _, err := loadOrCreateCA(later); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateServiceAccountKey(later); err != nil {
		t.Fatal(err)
	}
	if err := shareIdentity(ctx, origin.st, later, token, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if !sameIdentity(localIdentity(t, later), id) {
		t.Fatal("a later server did not take the cluster's signing key")
	}
	if _, o2 := storedIdentity(t, origin.st); o2.Revision != after.Revision {
		t.Fatal("a later server resealed a current record")
	}
}

// TestIdentitySealedWithSaltedKDF: the stored identity is sealed under a
// key from a salted, slow KDF whose parameters are stored with it; two
// clusters with one token share neither salt nor ciphertext; a server with
// the cluster's token takes the cluster's identity, one with another token
// is refused and changes nothing.
func TestIdentitySealedWithSaltedKDF(t *testing.T) {
	ctx := context.Background()
	const token = "correct horse battery staple"
	a, b := newIdentityFixture(t), newIdentityFixture(t)
	for _, f := range []identityFixture{a, b} {
		if err := shareIdentity(ctx, f.st, f.dir, token, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
	}
	sa, oa := storedIdentity(t, a.st)
	sb, _ := storedIdentity(t, b.st)
	for _, s := range []sealedIdentity{sa, sb} {
		if s.Version != sealVersionKDF || s.KDF == nil || s.KDF.Name != "scrypt" || s.KDF.N < 1<<15 || s.KDF.R < 8 || s.KDF.P < 1 {
			t.Fatalf("stored identity: version %d, KDF %+v; want version %d, scrypt N>=2^15 r>=8 p>=1", s.Version, s.KDF, sealVersionKDF)
		}
		if len(s.KDF.Salt) < 16 || bytes.Count(s.KDF.Salt, []byte{0}) == len(s.KDF.Salt) {
			t.Fatalf("salt %x: want 16 or more random bytes", s.KDF.Salt)
		}
	}
	if bytes.Equal(sa.KDF.Salt, sb.KDF.Salt) {
		t.Fatal("two clusters with one token have the same salt")
	}
	if bytes.Equal(sa.Sealed, sb.Sealed) {
		t.Fatal("two clusters with one token have the same ciphertext")
	}
	if strings.Contains(string(oa.Value), "PRIVATE KEY") {
		t.Fatal("the stored identity holds the CA key in clear")
	}

	// A second server of cluster A, with A's token, takes A's identity.
	joiner := t.TempDir()
	if _, _, _, err := loadOrCreateCA(joiner); err != nil {
		t.Fatal(err)
	}
	if err := shareIdentity(ctx, a.st, joiner, token, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if !sameIdentity(localIdentity(t, joiner), localIdentity(t, a.dir)) {
		t.Fatal("a server with the cluster's token did not take the cluster's identity")
	}

	// Another token: a clear error, and neither the record nor the local
	// identity change.
	other := t.TempDir()
	if _, _, _, err := loadOrCreateCA(other); err != nil {
		t.Fatal(err)
	}
	before := localIdentity(t, other)
	err := shareIdentity(ctx, a.st, other, "wrong token", slog.New(slog.DiscardHandler))
	if !errors.Is(err, errWrongToken) || !strings.Contains(err.Error(), "another token") {
		t.Fatalf("another token: %v, want %q", err, errWrongToken)
	}
	if !sameIdentity(localIdentity(t, other), before) {
		t.Fatal("a refused server's local identity changed")
	}
	if _, o := storedIdentity(t, a.st); o.Revision != oa.Revision {
		t.Fatal("a refused server changed the stored identity")
	}

	// Parameters out of bounds are refused before any derivation.
	big := sa
	p := *sa.KDF
	p.N = 1 << 24
	big.KDF = &p
	value, _ := json.Marshal(big)
	if _, _, err := openIdentity(token, value); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("scrypt N=2^24: %v, want the record refused as damaged", err)
	}
}

// legacySeal seals id as servers did before the KDF (version 1): AES-GCM
// under the unsalted SHA-256 of the token.
func legacySeal(t *testing.T, token string, id identity) []byte {
	t.Helper()
	k := sha256.Sum256([]byte("sqlkube cluster identity\x00" + token))
	block, _ := aes.NewCipher(k[:])
	aead, _ := cipher.NewGCM(block)
	plain, _ := json.Marshal(id)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	value, _ := json.Marshal(map[string][]byte{"sealed": aead.Seal(nonce, nonce, plain, []byte(identityName))})
	return value
}

// TestIdentityLegacySealMigrates: a datastore whose identity was sealed
// the old way opens with the right token, is resealed with the KDF, and
// still opens afterwards; a wrong token is refused.
func TestIdentityLegacySealMigrates(t *testing.T) {
	ctx := context.Background()
	const token = "old-cluster-token"
	origin := newIdentityFixture(t)
	want := localIdentity(t, origin.dir)
	if _, err := origin.st.Create(ctx, identityKey, legacySeal(t, token, want)); err != nil {
		t.Fatal(err)
	}

	wrong := t.TempDir()
	if _, _, _, err := loadOrCreateCA(wrong); err != nil {
		t.Fatal(err)
	}
	if err := shareIdentity(ctx, origin.st, wrong, "not-the-token", slog.New(slog.DiscardHandler)); !errors.Is(err, errWrongToken) {
		t.Fatalf("old record, wrong token: %v, want %q", err, errWrongToken)
	}
	if s, _ := storedIdentity(t, origin.st); s.Version != 0 {
		t.Fatal("a refused server resealed the identity")
	}

	var logs bytes.Buffer
	dir := t.TempDir()
	if _, _, _, err := loadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if err := shareIdentity(ctx, origin.st, dir, token, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatalf("old record, right token: %v", err)
	}
	if !sameIdentity(localIdentity(t, dir), want) {
		t.Fatal("the old record's identity was not taken")
	}
	s, _ := storedIdentity(t, origin.st)
	if s.Version != sealVersionKDF || s.KDF == nil || len(s.KDF.Salt) < 16 {
		t.Fatalf("after migration: version %d, KDF %+v: want it resealed with version %d", s.Version, s.KDF, sealVersionKDF)
	}
	if !strings.Contains(logs.String(), "resealed the cluster identity") {
		t.Errorf("logs = %q, want the reseal reported", logs.String())
	}

	// The resealed record opens, for the migrated server and a new one.
	again := t.TempDir()
	if _, _, _, err := loadOrCreateCA(again); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, again} {
		if err := shareIdentity(ctx, origin.st, d, token, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		if !sameIdentity(localIdentity(t, d), want) {
			t.Fatal("the resealed identity differs from the old one")
		}
	}
	if err := shareIdentity(ctx, origin.st, t.TempDir(), "not-the-token", slog.New(slog.DiscardHandler)); !errors.Is(err, errWrongToken) {
		t.Fatalf("resealed record, wrong token: %v", err)
	}
}

// TestIdentityResealedWithNewParameters: an identity sealed with other
// KDF parameters than the current ones (say, before they were raised) opens
// and is resealed with the current ones.
func TestIdentityResealedWithNewParameters(t *testing.T) {
	ctx := context.Background()
	const token = "tok"
	f := newIdentityFixture(t)
	current := identityKDF
	identityKDF.N = 1 << 14
	err := shareIdentity(ctx, f.st, f.dir, token, slog.New(slog.DiscardHandler))
	identityKDF = current
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := storedIdentity(t, f.st); s.KDF.N != 1<<14 {
		t.Fatalf("sealed with N=%d, want 2^14", s.KDF.N)
	}
	dir := t.TempDir()
	if err := shareIdentity(ctx, f.st, dir, token, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if !sameIdentity(localIdentity(t, dir), localIdentity(t, f.dir)) {
		t.Fatal("the identity changed")
	}
	s, o := storedIdentity(t, f.st)
	if s.KDF.N != identityKDF.N || s.KDF.R != identityKDF.R || s.KDF.P != identityKDF.P {
		t.Fatalf("after a start: KDF %+v, want it resealed with %+v", s.KDF, identityKDF)
	}
	// Current parameters: a start does not write.
	if err := shareIdentity(ctx, f.st, dir, token, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, again := storedIdentity(t, f.st); again.Revision != o.Revision {
		t.Fatal("an identity sealed with the current parameters was resealed")
	}
}

// BenchmarkIdentityKDF is what every server start pays once.
func BenchmarkIdentityKDF(b *testing.B) {
	p := identityKDF
	p.Salt = make([]byte, identitySaltSize)
	for b.Loop() {
		if _, err := p.aead("token"); err != nil {
			b.Fatal(err)
		}
	}
}
