package storage_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sqlkube/sqlkube/storage"
)

// passwordCatcher is a PostgreSQL server that asks every client for its
// password in clear text, records it and refuses the connection.
func passwordCatcher(t *testing.T) (addr string, passwords <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				be := pgproto3.NewBackend(conn, conn)
				if _, err := be.ReceiveStartupMessage(); err != nil {
					return
				}
				be.Send(&pgproto3.AuthenticationCleartextPassword{})
				if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeCleartextPassword) != nil {
					return
				}
				msg, err := be.Receive()
				if err != nil {
					return
				}
				if pw, ok := msg.(*pgproto3.PasswordMessage); ok {
					got <- pw.Password
				}
				be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01", Message: "password authentication failed"})
				_ = be.Flush()
			}()
		}
	}()
	return ln.Addr().String(), got
}

// TestPostgresPassword: the password of Config.Password reaches the
// database (over one in the URL), one in the URL or PGPASSWORD does when
// there is none, and no password shows in the error or the logs.
func TestPostgresPassword(t *testing.T) {
	addr, passwords := passwordCatcher(t)
	for _, tt := range []struct {
		name, userinfo, password, env, want string
	}{
		{name: "config", userinfo: "kube", password: "pw-config", want: "pw-config"},
		{name: "config over URL", userinfo: "kube:pw-url", password: "pw-config", want: "pw-config"},
		{name: "URL", userinfo: "kube:pw-url", want: "pw-url"},
		{name: "PGPASSWORD", userinfo: "kube", env: "pw-env", want: "pw-env"},
		{name: "config over PGPASSWORD", userinfo: "kube", password: "pw-config", env: "pw-env", want: "pw-config"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PGPASSWORD", tt.env)
			t.Setenv("PGPASSFILE", "/nonexistent")
			var logs bytes.Buffer
			_, err := storage.Open(context.Background(), storage.Config{
				Datastore:       "postgres://" + tt.userinfo + "@" + addr + "/kube?sslmode=disable",
				Password:        tt.password,
				Logger:          slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				ConnectAttempts: 1,
			})
			if err == nil {
				t.Fatal("open succeeded against a server that refuses every password")
			}
			select {
			case got := <-passwords:
				if got != tt.want {
					t.Fatalf("the server got password %q, want %q", got, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the server was never sent a password")
			}
			for _, out := range []string{err.Error(), logs.String()} {
				if strings.Contains(out, "pw-") {
					t.Errorf("a password shows in %q", out)
				}
			}
		})
	}
}
