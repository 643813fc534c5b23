// Package e2e holds end-to-end suites: they build the sqlkube binary, start
// it as users do (with the real PostgreSQL, containerd or nftables where a
// suite needs them) and drive it with the installed kubectl, or with the
// official Python client under Debian's /usr/bin/python3 (python_test.go).
// Every process a test starts, it stops.
package e2e
