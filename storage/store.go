package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Config configures a Store. Only Datastore is required.
type Config struct {
	// Datastore is "sqlite://PATH" or a PostgreSQL URL
	// ("postgres://user@host:port/db?sslmode=disable").
	Datastore string
	// Password, when set, is the PostgreSQL password: it replaces any
	// password in Datastore and is only ever given to the database
	// connection, never logged. Without one (and none in Datastore), pgx
	// takes PGPASSWORD or PGPASSFILE from the environment.
	Password string
	// Transformer, if set, turns values into their stored form and back
	// (e.g. encryption of secrets).
	Transformer Transformer
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// ConnectAttempts bounds the attempts to reach the database at open
	// (default 10); ConnectBackoff is the first pause between attempts,
	// doubled after each up to 5 s (default 200 ms).
	ConnectAttempts int
	ConnectBackoff  time.Duration
	// PollInterval is how often the store looks for changes made by other
	// processes when no notification came (default 1 s).
	PollInterval time.Duration
	// WatchCacheSize is how many recent changes are kept in memory to
	// start watchers from (default 10,000).
	WatchCacheSize int
	// MaxBatch caps how many writes are committed in one transaction
	// (default 256).
	MaxBatch int
	// WatcherBuffer caps the changes queued for one watcher before it is
	// closed with ErrWatcherTooSlow (default 100,000).
	WatcherBuffer int
	// NoListCache reads every list from the database instead of serving
	// lists of the current state from memory.
	NoListCache bool
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ConnectAttempts <= 0 {
		c.ConnectAttempts = 10
	}
	if c.ConnectBackoff <= 0 {
		c.ConnectBackoff = 200 * time.Millisecond
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.WatchCacheSize <= 0 {
		c.WatchCacheSize = 10000
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.WatcherBuffer <= 0 {
		c.WatcherBuffer = 100000
	}
}

// Store is the versioned-row store. It is safe for concurrent use; open one
// per process and share it.
type Store struct {
	cfg Config
	d   *dialect
	log *slog.Logger
	// r serves reads; w serves compaction. wdb is the pool the write loop
	// pins its connection from (pinned, pinnedConn): on SQLite a pool of
	// two, on PostgreSQL the pool of r.
	r, w       *conn
	wdb        *sql.DB
	pinned     *conn
	pinnedConn *sql.Conn
	// closeDB releases the databases and driver resources.
	closeDB func()
	// instance tells this store's notifications from other stores'.
	instance string
	tf       Transformer

	stmts statements
	// writes feeds the group-commit loop.
	writes chan *writeReq
	// writerDone is closed when the write loop has ended.
	writerDone chan struct{}
	hub        *hub
	lists      *listCache // nil with Config.NoListCache
	// afterGetRead, set by tests only, runs in Get between the read and
	// the offer to the list cache.
	afterGetRead func(Key)
	// listen, when set, runs until its context ends, waking the feed loop
	// when another store commits (PostgreSQL LISTEN).
	listen func(ctx context.Context)
	// analyze refreshes planner statistics as the tables grow.
	analyze analyzer
	// wake asks the feed loop to read changes from the database now.
	wake chan struct{}

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// statements are the dialect's statements, rebound once at open.
type statements struct {
	revision, setRevision, setCompact, lock                     string
	get, getAt, history, maxRevisionAt                          string
	changesSince, changesSinceRes, changesSinceNS, changedAfter string
	list, listNS, listAt, listAtNS, compactRange                string
}

// Open connects to the datastore, applies pending migrations and starts the
// store's background loops (group commit, watch feed, and on PostgreSQL the
// LISTEN connection). It retries an unreachable database with back-off
// (Config.ConnectAttempts) and refuses a schema newer than it knows.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg.setDefaults()
	var (
		s   *Store
		err error
	)
	switch {
	case strings.HasPrefix(cfg.Datastore, "sqlite://"):
		s, err = openSQLite(ctx, cfg, strings.TrimPrefix(cfg.Datastore, "sqlite://"))
	case strings.HasPrefix(cfg.Datastore, "postgres://"), strings.HasPrefix(cfg.Datastore, "postgresql://"):
		s, err = openPostgres(ctx, cfg)
	default:
		return nil, fmt.Errorf("datastore %q: want sqlite://PATH or postgres://USER@HOST:PORT/DB: %w", RedactDatastore(cfg.Datastore), ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		s.closeDB()
		return nil, err
	}
	return s, nil
}

// newStore fills in what both dialects share; the caller has opened the
// databases and applied the schema.
func newStore(cfg Config, d *dialect, rdb, wdb *sql.DB, closeDB func()) *Store {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	s := &Store{
		cfg:        cfg,
		d:          d,
		log:        cfg.Logger,
		r:          newConn(rdb, d.prepare),
		w:          newConn(wdb, d.prepare),
		wdb:        wdb,
		instance:   hex.EncodeToString(id),
		tf:         cfg.Transformer,
		writes:     make(chan *writeReq, cfg.MaxBatch),
		writerDone: make(chan struct{}),
		wake:       make(chan struct{}, 1),
	}
	if s.tf == nil {
		s.tf = identity{}
	}
	s.closeDB = func() {
		s.r.close()
		s.w.close()
		closeDB()
	}
	r := d.rebind
	s.stmts = statements{
		revision: r(revisionSQL), setRevision: r(setRevisionSQL), setCompact: r(setCompactSQL), lock: r(d.lockSQL),
		get: r(getSQL), getAt: r(getAtSQL), history: r(historySQL), maxRevisionAt: r(maxRevisionAtSQL),
		changesSince: r(changesSinceSQL), changesSinceRes: r(changesSinceResSQL), changesSinceNS: r(changesSinceNSSQL), changedAfter: r(changedAfterSQL),
		list: r(listSQL), listNS: r(listNSSQL), listAt: r(listAtSQL), listAtNS: r(listAtNSSQL), compactRange: r(compactRangeSQL),
	}
	return s
}

// start reads the current revision and starts the background loops.
func (s *Store) start(ctx context.Context) error {
	rev, _, err := s.revisions(ctx)
	if err != nil {
		return err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hub = newHub(rev, s.cfg.WatchCacheSize, s.cfg.WatcherBuffer)
	if !s.cfg.NoListCache {
		s.lists = newListCache(rev)
		s.hub.lists = s.lists
	}
	s.wg.Add(2)
	go s.writeLoop()
	go s.feedLoop()
	s.analyze.wake = make(chan struct{}, 1)
	s.analyze.last.Store(rev)
	if s.d.analyzeSQL != "" {
		s.wg.Add(1)
		go s.analyzeLoop()
		s.analyze.grew(rev + analyzeMinGrowth) // a first round at start
	}
	if s.listen != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.listen(s.ctx) }()
	}
	return nil
}

// Close stops the background loops, fails pending writes with ErrClosed,
// ends every watcher and closes the database connections.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.hub.closeAll(ErrClosed)
		s.closeDB()
	})
	return nil
}

// CurrentRevision returns the revision of the newest committed change.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	rev, _, err := s.revisions(ctx)
	return rev, err
}

// CompactRevision returns the revision below which history is gone.
func (s *Store) CompactRevision(ctx context.Context) (int64, error) {
	_, c, err := s.revisions(ctx)
	return c, err
}

func (s *Store) revisions(ctx context.Context) (rev, compact int64, err error) {
	if err := s.r.queryRow(ctx, s.stmts.revision).Scan(&rev, &compact); err != nil {
		return 0, 0, fmt.Errorf("read current revision: %w", s.d.translateErr(err))
	}
	return rev, compact, nil
}

// retry runs fn until it succeeds, ctx ends or attempts are used up, with
// doubling pauses; it returns the last error and how many attempts ran.
func retry(ctx context.Context, attempts int, pause time.Duration, fn func() error) (int, error) {
	var err error
	for i := 1; ; i++ {
		if err = fn(); err == nil || i >= attempts {
			return i, err
		}
		select {
		case <-ctx.Done():
			return i, errors.Join(err, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// ValuesAsWritten reports whether values read back are byte for byte
// what was written: true on SQLite; false on PostgreSQL, whose jsonb
// reorders keys.
func (s *Store) ValuesAsWritten() bool { return s.d.readValue == nil }
