package server_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/cluster"
	"github.com/sqlkube/sqlkube/internal/testenv"
	"github.com/sqlkube/sqlkube/server"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDatastorePasswordNeverLogged: a server on a PostgreSQL URL with a
// password, and one given apart, logs where its datastore is with the
// password redacted, and never the password.
func TestDatastorePasswordNeverLogged(t *testing.T) {
	if pg == nil {
		testenv.Missing(t, "PostgreSQL")
	}
	for _, tt := range []struct {
		name     string
		inURL    bool
		password string
	}{
		{"in the URL", true, ""},
		{"given apart", false, "apart-s3cret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := pg.CreateDatabase(context.Background(), fmt.Sprint("password_logs_", dbSeq.Add(1)))
			if err != nil {
				t.Fatal(err)
			}
			if tt.inURL {
				// The private PostgreSQL trusts every local connection,
				// so it accepts any password.
				u, err := url.Parse(ds)
				if err != nil {
					t.Fatal(err)
				}
				u.User = url.UserPassword(u.User.Username(), "url-s3cret")
				ds = u.String()
			}
			logs := &syncBuffer{}
			log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			startCluster(t, cluster.Config{Datastore: ds, DatastorePassword: tt.password, Logger: log}, func(c *server.Config) { c.Logger = log })
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(logs.String(), "serving the Kubernetes API") {
				if time.Now().After(deadline) {
					t.Fatalf("no serving line in the logs: %s", logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			out := logs.String()
			if strings.Contains(out, "s3cret") {
				t.Fatalf("the logs show the datastore password:\n%s", out)
			}
			if tt.password == "" && !strings.Contains(out, "xxxxx@") {
				t.Errorf("the logs do not show the redacted datastore:\n%s", out)
			}
		})
	}
}
