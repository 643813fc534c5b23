package storage_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/sqlkube/sqlkube/storage"
)

// The test binary doubles as a helper process (a second server on the same
// PostgreSQL, or a SQLite writer to be killed): TestMain runs runHelper when
// helperEnv is set. Parameters come in environment variables; the helper
// talks over stdout (and reads stdin) line by line.
const (
	helperEnv       = "SQLKUBE_STORAGE_TEST_HELPER"
	helperDatastore = "SQLKUBE_STORAGE_TEST_DATASTORE"
	helperFrom      = "SQLKUBE_STORAGE_TEST_FROM"
	helperWrites    = "SQLKUBE_STORAGE_TEST_WRITES"
	helperPrefix    = "SQLKUBE_STORAGE_TEST_PREFIX"
)

func runHelper(mode string) int {
	// A helper outlives a test binary that dies (Pdeathsig is tied to
	// the thread that started it): it exits once its parent is gone.
	go func(parent int) {
		for range time.Tick(200 * time.Millisecond) {
			if os.Getppid() != parent {
				os.Exit(3)
			}
		}
	}(os.Getppid())
	var err error
	switch mode {
	case "writer-watcher":
		err = helperWriterWatcher()
	case "sqlite-writer":
		err = helperSQLiteWriter()
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// helperWriterWatcher opens its own store, watches from the given revision,
// runs 8 writers, then waits for "final REV" on stdin and checks that its
// watcher saw every revision up to REV exactly once, in order, including
// each of its own acknowledged writes. It prints "result ok N" or
// "result fail REASON".
func helperWriterWatcher() error {
	ctx := context.Background()
	from, _ := strconv.ParseInt(os.Getenv(helperFrom), 10, 64)
	writes, _ := strconv.Atoi(os.Getenv(helperWrites))
	s, err := storage.Open(ctx, storage.Config{Datastore: os.Getenv(helperDatastore), PollInterval: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	defer s.Close()
	w, err := s.Watch(ctx, storage.WatchOptions{Resource: "items", Revision: from})
	if err != nil {
		return err
	}
	col := collect(w)
	fmt.Println("ready")
	acked := runWriters(ctx, s, os.Getenv(helperPrefix), 8, writes)
	fmt.Printf("written %d\n", len(acked))

	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read final revision: %w", err)
	}
	var final int64
	if _, err := fmt.Sscanf(line, "final %d", &final); err != nil {
		return fmt.Errorf("parse %q: %w", line, err)
	}
	events := col.until(final, 60*time.Second)
	if err := checkStream(events, from, final, acked); err != nil {
		fmt.Printf("result fail %v\n", err)
		return nil
	}
	fmt.Printf("result ok %d\n", len(events))
	return nil
}

// helperSQLiteWriter creates objects from 8 goroutines forever, printing
// "ack NAME REV" once each create is acknowledged. The test kills it.
func helperSQLiteWriter() error {
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{Datastore: os.Getenv(helperDatastore)})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("w%d-%d", g, i)
				o, err := s.Create(ctx, key("items", "ns", name), val(`{"g":%d,"i":%d,"pad":"%0200d"}`, g, i, 0))
				if err != nil {
					fmt.Fprintln(os.Stderr, "create:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %s %d\n", name, o.Revision)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return nil
}

// runWriters creates writes objects from each of n goroutines and returns
// the acknowledged revision of each.
func runWriters(ctx context.Context, s *storage.Store, prefix string, n, writes int) map[int64]storage.Key {
	var (
		mu    sync.Mutex
		acked = map[int64]storage.Key{}
		wg    sync.WaitGroup
	)
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < writes; i++ {
				k := key("items", "ns", fmt.Sprintf("%s-%d-%d", prefix, g, i))
				o, err := s.Create(ctx, k, val(`{"i":%d}`, i))
				if err != nil {
					fmt.Fprintln(os.Stderr, "create:", err)
					continue
				}
				mu.Lock()
				acked[o.Revision] = k
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return acked
}

// collector gathers a watcher's events in the background.
type collector struct {
	mu     sync.Mutex
	events []storage.Event
	last   int64
	done   chan struct{}
	err    error
}

func collect(w *storage.Watcher) *collector {
	c := &collector{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for e := range w.Events() {
			c.mu.Lock()
			c.events = append(c.events, e)
			c.last = e.Object.Revision
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.err = w.Err()
		c.mu.Unlock()
	}()
	return c
}

// until waits until an event at or past rev arrived (or the timeout) and
// returns a copy of the events so far.
func (c *collector) until(rev int64, timeout time.Duration) []storage.Event {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		last := c.last
		c.mu.Unlock()
		if last >= rev {
			break
		}
		select {
		case <-c.done:
			deadline = time.Now()
		case <-time.After(5 * time.Millisecond):
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]storage.Event(nil), c.events...)
}

// checkStream checks that events are exactly the revisions from+1..final,
// in order, and that each acknowledged write appears with its key.
func checkStream(events []storage.Event, from, final int64, acked map[int64]storage.Key) error {
	if int64(len(events)) != final-from {
		return fmt.Errorf("got %d events, want %d (revisions %d-%d)", len(events), final-from, from+1, final)
	}
	for i, e := range events {
		if want := from + 1 + int64(i); e.Object.Revision != want {
			return fmt.Errorf("event %d has revision %d, want %d", i, e.Object.Revision, want)
		}
		if k, ok := acked[e.Object.Revision]; ok && k != e.Object.Key {
			return fmt.Errorf("revision %d is %s, but it was acknowledged for %s", e.Object.Revision, e.Object.Key, k)
		}
	}
	return nil
}
