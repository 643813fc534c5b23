# sqlkube build and test entry points. CI runs .ci/run, which runs "make test".

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/sqlkube/sqlkube/cli.Version=$(VERSION)

.PHONY: all deps build test bench clean

all: build

# Install the system packages tests need (as root; otherwise list what is missing).
deps:
	bash hack/deps.sh

build:
	go build -ldflags '$(LDFLAGS)' -o bin/sqlkube ./cmd/sqlkube

test: deps
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt: these files are not formatted (run gofmt -w):"; \
		echo "$$unformatted"; \
		exit 1; \
	fi
	go vet ./...
	go test -count=1 -timeout 40m ./...

# Benchmarks only; figures are recorded in docs/benchmarks.md.
bench: deps
	go test -run '^$$' -bench . -count 1 ./...

clean:
	rm -rf bin
