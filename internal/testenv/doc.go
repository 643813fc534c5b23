// Package testenv starts real dependencies for tests: a private PostgreSQL
// server, a private containerd, an image registry and a busybox image to
// push into it, and a network namespace of the tests' own.
//
// A test package that needs PostgreSQL usually starts one server in TestMain
// and creates a database per test:
//
//	pg, err := testenv.StartPostgres(ctx)
//	if errors.Is(err, testenv.ErrNotInstalled) { ... }
//	defer pg.Stop()
//	url, err := pg.CreateDatabase(ctx, "t1")
//
// Servers run as direct child processes of the test binary, listen only on
// 127.0.0.1 with trust authentication, keep their data in a fresh temporary
// directory and die with the test binary. When the tests run as root, the
// server runs as the "postgres" system user, because PostgreSQL refuses to run
// as root.
//
// Tests that run containers or create interfaces call IsolateNetwork from
// TestMain: the test binary runs again in a network namespace that holds
// only loopback, so no packet can reach the host's networks. Containerd,
// Registry and PushBusybox start what those tests need, for one test (or
// one TestMain) each, and stop it when it ends.
//
// A dependency that is not installed is reported with Missing: under CI
// (CI=true) that fails the test, elsewhere it skips it. "make deps" installs
// everything the tests need.
//
// testenv owns nothing a production binary uses; only tests import it.
// A *Postgres is safe for concurrent use once StartPostgres has returned.
package testenv
