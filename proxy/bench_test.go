package proxy

import (
	"os/exec"
	"strings"
	"testing"
)

// BenchmarkBuild1000x10 builds the desired table for 1,000 Services with
// 10 endpoints each (no kernel).
func BenchmarkBuild1000x10(b *testing.B) {
	svcs, sl := bigState(1000, 10)
	cfg := testBuildConfig(nil)
	b.ResetTimer()
	for b.Loop() {
		Build(cfg, svcs, sl)
	}
}

// BenchmarkFullSync1000x10 builds and applies (one netlink transaction)
// the table for 1,000 Services with 10 endpoints each: the target
// is under 1 s.
func BenchmarkFullSync1000x10(b *testing.B) {
	requireNft(b)
	svcs, sl := bigState(1000, 10)
	cfg := testBuildConfig(nil)
	conn := newConn(b)
	b.ResetTimer()
	for b.Loop() {
		if err := apply(conn, Build(cfg, svcs, sl)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstSync1000x10 is BenchmarkFullSync1000x10 onto an empty
// ruleset (as at the proxy's start): the cost of creating, without that of
// replacing.
func BenchmarkFirstSync1000x10(b *testing.B) {
	requireNft(b)
	svcs, sl := bigState(1000, 10)
	cfg := testBuildConfig(nil)
	conn := newConn(b)
	for b.Loop() {
		b.StopTimer()
		if out, err := exec.Command("nft", "delete", "table", "ip", TableName).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
			b.Fatalf("nft delete table: %v: %s", err, out)
		}
		b.StartTimer()
		if err := apply(conn, Build(cfg, svcs, sl)); err != nil {
			b.Fatal(err)
		}
	}
}
