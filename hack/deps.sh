#!/usr/bin/env bash
# deps.sh installs the system packages sqlkube's tests need, and only those
# that are missing. It is idempotent: when everything is present it changes
# nothing and does not touch the network.
#
# As root it installs missing packages with apt-get (running "apt-get update"
# once, and only if something must be installed). As any other user it lists
# what is missing and exits 1.
set -euo pipefail

missing=() # apt packages to install

# any_file GLOB...: true if any of the globs matches an executable file.
any_file() {
	local pattern f
	for pattern in "$@"; do
		for f in $pattern; do
			[[ -x $f && -f $f ]] && return 0
		done
	done
	return 1
}

# need_cmd COMMAND PACKAGE: PACKAGE is needed unless COMMAND is on PATH.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}

# need_file PACKAGE GLOB...: PACKAGE is needed unless one of the globs
# matches an executable file.
need_file() {
	local pkg=$1
	shift
	any_file "$@" || missing+=("$pkg")
}

# need_ok PACKAGE COMMAND...: PACKAGE is needed unless COMMAND succeeds.
need_ok() {
	local pkg=$1
	shift
	"$@" >/dev/null 2>&1 || missing+=("$pkg")
}

check() {
	missing=()

	# PostgreSQL server, used by internal/testenv (storage tests, benchmarks).
	need_file postgresql /usr/lib/postgresql/*/bin/initdb
	# psql, used by internal/testenv to wait for and create databases.
	need_file postgresql-client /usr/bin/psql /usr/lib/postgresql/*/bin/psql
	# chattr, used by the storage tests to make a file read-only even for root.
	need_cmd chattr e2fsprogs
	# The official Python client, driven by e2e/python_test.go. Debian's
	# package installs it for Debian's /usr/bin/python3, which need not be
	# the first python3 on PATH (pyenv, virtualenvs): always ask that one.
	need_ok python3-kubernetes /usr/bin/python3 -c 'import kubernetes'

	# The node agent's runtime and its tests: containerd and runc run the
	# containers, the CNI plugins wire pod networks, docker-registry serves
	# the images the tests build, skopeo pushes them, busybox-static is what
	# those images hold.
	need_cmd containerd containerd
	need_cmd runc runc
	need_file containernetworking-plugins /usr/lib/cni/bridge /opt/cni/bin/bridge
	need_cmd docker-registry docker-registry
	need_cmd skopeo skopeo
	need_file busybox-static /bin/busybox /usr/bin/busybox
	# unshare (util-linux) and ip (iproute2) put the node tests in a network
	# namespace of their own.
	need_cmd unshare util-linux
	need_cmd ip iproute2

	# ---- Later dependencies go here (proxy). ----
	# nft lists the proxy's table in its tests and the acceptance script.
	need_cmd nft nftables
	# ---- End of later dependencies. ----
}

# report_only: tools the tests use if present but deps.sh never installs.
report_only() {
	if command -v kubectl >/dev/null 2>&1; then
		echo "deps: kubectl found at $(command -v kubectl)"
	else
		echo "deps: kubectl not found (not installed by this script; tests that need it skip, or fail under CI)"
	fi
}

check
report_only

if ((${#missing[@]} == 0)); then
	echo "deps: all required packages are installed"
	exit 0
fi

if ((EUID != 0)); then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root (sudo make deps) or install them with: apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

check
if ((${#missing[@]} != 0)); then
	echo "deps: still missing after apt-get install: ${missing[*]}" >&2
	exit 1
fi
echo "deps: all required packages are installed"
