package cluster

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sqlkube/sqlkube/storage"
)

// Config configures Open. DataDir is required.
type Config struct {
	// DataDir holds the identity's local copies and, by default, the
	// SQLite database. Faces may keep their own files beside them.
	DataDir string
	// Datastore is the store URL; default sqlite://DATADIR/state.db.
	Datastore string
	// DatastorePassword, when set, is the PostgreSQL password, used over
	// one in Datastore; it is never logged.
	DatastorePassword string
	// Token, when set, is the cluster token: the admin's bearer token and
	// what the identity is sealed with (processes sharing a datastore
	// share it); otherwise one is created in DataDir.
	Token  string
	Logger *slog.Logger
}

// Cluster is an opened store and the cluster identity settled in it.
type Cluster struct {
	// Store is the cluster's store, secrets encrypted with EncryptionKey.
	Store *storage.Store
	// DataDir is the data directory, private to its owner.
	DataDir string
	// CA is the cluster's certificate authority: CAPEM is its certificate
	// as clients are given it, CAKey signs what it issues.
	CA    *x509.Certificate
	CAKey crypto.Signer
	CAPEM []byte
	// ServiceAccountKey signs service-account tokens (ES256).
	ServiceAccountKey *ecdsa.PrivateKey
	// EncryptionKey is the AES-256 key that encrypts secrets at rest.
	EncryptionKey []byte
	// AdminToken is the bearer token of the cluster's admin
	// (system:masters), the cluster token.
	AdminToken string
	// NodeJoinSecret is the secret of the node join token, the same in
	// every server of the cluster, and NodeToken the whole token
	// (K10<CA hash>::node:<secret>), also in DataDir/node-token.
	NodeJoinSecret string
	NodeToken      string

	datastore string
	log       *slog.Logger
}

// Open opens the cluster whose data directory and datastore cfg names:
// it makes the data directory private, settles the identity (see the
// package comment) and opens the store. It fails with a clear error when
// the datastore belongs to a cluster started with another token. The
// caller closes the Cluster.
func Open(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("cluster: a data directory is required")
	}
	if cfg.Datastore == "" {
		cfg.Datastore = "sqlite://" + filepath.Join(cfg.DataDir, "state.db")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dir := cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	if err := privateDataDir(dir, cfg.Logger); err != nil {
		return nil, err
	}
	// The identity: a local CA and token first, then the cluster's from
	// the datastore if another process already settled it.
	if _, _, _, err := loadOrCreateCA(dir); err != nil {
		return nil, err
	}
	token := cfg.Token
	if token == "" {
		var err error
		if token, err = loadOrCreateToken(filepath.Join(dir, adminTokenFile)); err != nil {
			return nil, err
		}
	}
	if err := settleIdentity(ctx, cfg, token); err != nil {
		return nil, err
	}
	c := &Cluster{DataDir: dir, AdminToken: token, datastore: cfg.Datastore, log: cfg.Logger}
	id, err := readLocalIdentity(dir)
	if err != nil {
		return nil, err
	}
	if c.CA, c.CAKey, c.CAPEM, err = loadOrCreateCA(dir); err != nil {
		return nil, err
	}
	if c.ServiceAccountKey, err = parseServiceAccountKey(id.ServiceAccountKey); err != nil {
		return nil, fmt.Errorf("the service-account signing key: %w", err)
	}
	c.EncryptionKey = id.EncryptionKey
	c.NodeJoinSecret = id.NodeJoinSecret
	c.NodeToken = FormatNodeToken(c.CA.Raw, c.NodeJoinSecret)
	aes, err := storage.NewAESGCM(c.EncryptionKey)
	if err != nil {
		return nil, err
	}
	c.Store, err = storage.Open(ctx, storage.Config{Datastore: cfg.Datastore, Password: cfg.DatastorePassword, Transformer: aes, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// settleIdentity makes the data directory's identity the cluster's, over
// a store of its own opened without a transformer and closed at once.
//
// The Store that Open returns is opened only after, with the cluster's
// encryption key: a store's transformer is fixed at open, so that every
// value its watch feed and caches ever hold went through the one
// transformer. The identity record is no secret (it is sealed by itself),
// so no transformer applies to it, and this store writes nothing else.
// The price is a second connection to the datastore at start.
func settleIdentity(ctx context.Context, cfg Config, token string) error {
	st, err := storage.Open(ctx, storage.Config{Datastore: cfg.Datastore, Password: cfg.DatastorePassword, Logger: cfg.Logger, NoListCache: true})
	if err != nil {
		return err
	}
	defer st.Close()
	return shareIdentity(ctx, st, cfg.DataDir, token, cfg.Logger)
}

// Close closes the store. Call it once every face using it has stopped.
func (c *Cluster) Close() error { return c.Store.Close() }

// Datastore returns where the store is, any password redacted, for logs.
func (c *Cluster) Datastore() string { return storage.RedactDatastore(c.datastore) }

// Defaults of RunCompaction.
const (
	DefaultHistoryRetention   = 30 * 24 * time.Hour
	DefaultMinRevisions       = 1000
	DefaultCompactionInterval = 5 * time.Minute
)

// RunCompaction compacts history outside keep every interval until ctx
// ends. A zero MinAge keeps DefaultHistoryRetention, a zero MinRevisions
// DefaultMinRevisions, and an interval of 0 is DefaultCompactionInterval.
// With several processes on one database each compacts; compaction is
// idempotent. Failures are logged and retried at the next interval.
func (c *Cluster) RunCompaction(ctx context.Context, keep storage.Retention, interval time.Duration) {
	if keep.MinAge <= 0 {
		keep.MinAge = DefaultHistoryRetention
	}
	if keep.MinRevisions <= 0 {
		keep.MinRevisions = DefaultMinRevisions
	}
	if interval <= 0 {
		interval = DefaultCompactionInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rev, n, err := c.Store.Compact(ctx, keep)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("compaction failed", "err", err)
			}
			continue
		}
		if n > 0 {
			c.log.Info("compacted history", "revision", rev, "rows", n)
		}
	}
}
