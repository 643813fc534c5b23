package storage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/storage"
)

// Benchmarks of the store alone, on both drivers. Writers run as 16
// goroutines (b.SetParallelism(8) on this 2-core machine; see
// docs/benchmarks.md), values are 1 KiB JSON objects. Besides ns/op they
// report throughput and latency percentiles as custom metrics.

var pad = `"},"data":{"pad":"` + strings.Repeat("x", 960) + `"}}`

// kib returns a 1 KiB JSON object; name must need no JSON escaping.
func kib(name string, i int) []byte {
	v := make([]byte, 0, 1024)
	v = append(v, `{"metadata":{"name":"`...)
	v = append(v, name...)
	v = append(v, `","generation":"`...)
	v = strconv.AppendInt(v, int64(i), 10)
	return append(v, pad...)
}

func eachBenchDriver(b *testing.B, fn func(b *testing.B, d driver)) {
	for _, d := range drivers {
		b.Run(d.name, func(b *testing.B) { fn(b, d) })
	}
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) pct(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return l.d[min(len(l.d)-1, int(float64(len(l.d))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func BenchmarkCreate(b *testing.B) {
	eachBenchDriver(b, func(b *testing.B, d driver) {
		ctx := context.Background()
		s := open(b, d.datastore(b))
		var (
			lat latencies
			seq atomic.Int64
		)
		b.SetParallelism(8)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				name := fmt.Sprint("obj-", seq.Add(1))
				t0 := time.Now()
				if _, err := s.Create(ctx, key("configmaps", "bench", name), kib(name, 0)); err != nil {
					b.Error(err)
					return
				}
				lat.add(time.Since(t0))
			}
		})
		el := time.Since(start)
		b.ReportMetric(float64(b.N)/el.Seconds(), "creates/s")
		b.ReportMetric(ms(lat.pct(0.99)), "p99-ms")
		b.ReportMetric(ms(lat.pct(0.50)), "p50-ms")
	})
}

// BenchmarkUpdate: compare-and-swap updates, each writer on its own object.
func BenchmarkUpdate(b *testing.B) {
	eachBenchDriver(b, func(b *testing.B, d driver) {
		ctx := context.Background()
		s := open(b, d.datastore(b))
		var (
			lat latencies
			id  atomic.Int64
		)
		b.SetParallelism(8)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			name := fmt.Sprint("obj-", id.Add(1))
			k := key("configmaps", "bench", name)
			o, err := s.Create(ctx, k, kib(name, 0))
			if err != nil {
				b.Error(err)
				return
			}
			for i := 1; pb.Next(); i++ {
				t0 := time.Now()
				if o, err = s.Update(ctx, k, kib(name, i), o.Revision); err != nil {
					b.Error(err)
					return
				}
				lat.add(time.Since(t0))
			}
		})
		el := time.Since(start)
		b.ReportMetric(float64(b.N)/el.Seconds(), "updates/s")
		b.ReportMetric(ms(lat.pct(0.99)), "p99-ms")
	})
}

// fill creates n objects in one namespace, in parallel.
func fill(b *testing.B, s *storage.Store, n int) {
	b.Helper()
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 16 {
				name := fmt.Sprintf("obj-%05d", i)
				if _, err := s.Create(context.Background(), key("pods", "bench", name), kib(name, 0)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkGet(b *testing.B) {
	eachBenchDriver(b, func(b *testing.B, d driver) {
		s := open(b, d.datastore(b))
		fill(b, s, 10000)
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				name := fmt.Sprintf("obj-%05d", rand.IntN(10000))
				if _, err := s.Get(context.Background(), key("pods", "bench", name)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkList: 10,000 objects in one namespace; one page of 500 (the
// first, from the current state, and a later one, at the first page's
// revision), and the whole list.
func BenchmarkList(b *testing.B) {
	eachBenchDriver(b, func(b *testing.B, d driver) {
		ctx := context.Background()
		s := open(b, d.datastore(b))
		fill(b, s, 10000)
		first, err := s.List(ctx, storage.ListOptions{Resource: "pods", Namespace: "bench", Limit: 500})
		if err != nil || len(first.Items) != 500 {
			b.Fatalf("first page: %d items, %v", len(first.Items), err)
		}
		for _, bc := range []struct {
			name string
			opts storage.ListOptions
			want int
		}{
			{"page500", storage.ListOptions{Resource: "pods", Namespace: "bench", Limit: 500}, 500},
			{"page500-continue", storage.ListOptions{Resource: "pods", Namespace: "bench", Limit: 500, Continue: first.Continue}, 500},
			{"all10000", storage.ListOptions{Resource: "pods", Namespace: "bench"}, 10000},
		} {
			b.Run(bc.name, func(b *testing.B) {
				var lat latencies
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					l, err := s.List(ctx, bc.opts)
					lat.add(time.Since(t0))
					if err != nil || len(l.Items) != bc.want {
						b.Fatalf("%d items, %v", len(l.Items), err)
					}
				}
				b.ReportMetric(ms(lat.pct(0.5)), "p50-ms")
			})
		}
	})
}

// watchProbe measures delivery: a probe writes one object at a time and
// waits for a watcher to receive it, while 8 writers keep the store busy.
// It reports the p99 from the moment the probe's write was acknowledged
// (0 when the event came first) and from the moment the write was issued.
func watchProbe(b *testing.B, writeTo, watchOn *storage.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := watchOn.Watch(ctx, storage.WatchOptions{})
	if err != nil {
		b.Fatal(err)
	}
	probe := make(chan storage.Event, 1)
	go func() {
		for e := range w.Events() {
			if e.Object.Resource == "probes" {
				probe <- e
			}
		}
	}()
	var busy sync.WaitGroup
	for g := 0; g < 8; g++ {
		busy.Add(1)
		go func() {
			defer busy.Done()
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("busy-%d-%d", g, i)
				_, _ = writeTo.Create(ctx, key("configmaps", "busy", name), kib(name, i))
			}
		}()
	}
	var fromAck, fromIssue latencies
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprint("probe-", i)
		t0 := time.Now()
		o, err := writeTo.Create(ctx, key("probes", "", name), kib(name, i))
		acked := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		select {
		case e := <-probe:
			got := time.Now()
			if e.Object.Revision != o.Revision {
				b.Fatalf("probe event at %d, want %d", e.Object.Revision, o.Revision)
			}
			fromAck.add(max(0, got.Sub(acked)))
			fromIssue.add(got.Sub(t0))
		case <-time.After(10 * time.Second):
			b.Fatalf("probe %d not delivered in 10s", i)
		}
	}
	b.StopTimer()
	cancel()
	busy.Wait()
	b.ReportMetric(ms(fromAck.pct(0.99)), "p99-from-ack-ms")
	b.ReportMetric(ms(fromIssue.pct(0.99)), "p99-from-write-ms")
	b.ReportMetric(ms(fromAck.pct(0.5)), "p50-from-ack-ms")
}

func BenchmarkWatchDelivery(b *testing.B) {
	eachBenchDriver(b, func(b *testing.B, d driver) {
		b.Run("same-instance", func(b *testing.B) {
			s := open(b, d.datastore(b))
			watchProbe(b, s, s)
		})
		if d.name == "postgres" {
			b.Run("other-instance", func(b *testing.B) {
				url := d.datastore(b)
				watchProbe(b, open(b, url), open(b, url))
			})
		}
	})
}

// BenchmarkWatchLag: a burst of 20,000 writes from 16 writers; the lag is
// the time from the last acknowledgement to the watcher holding every
// change. It also counts acknowledged writes missing from the store.
func BenchmarkWatchLag(b *testing.B) {
	eachBenchDriver(b, func(b *testing.B, d driver) {
		const burst = 20000
		var lags latencies
		lost := 0
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			url := d.datastore(b)
			s := open(b, url)
			watchOn := s
			if d.name == "postgres" {
				watchOn = open(b, url) // and through another instance
			}
			ctx := context.Background()
			from, _ := s.CurrentRevision(ctx)
			w, err := watchOn.Watch(ctx, storage.WatchOptions{Revision: from})
			if err != nil {
				b.Fatal(err)
			}
			col := collect(w)
			b.StartTimer()
			acked := runWriters(ctx, s, "burst", 16, burst/16)
			lastAck := time.Now()
			final, _ := s.CurrentRevision(ctx)
			events := col.until(final, time.Minute)
			lag := time.Since(lastAck)
			b.StopTimer()
			if err := checkStream(events, from, final, acked); err != nil {
				b.Fatal(err)
			}
			for _, k := range acked {
				if _, err := s.Get(ctx, k); err != nil {
					lost++
				}
			}
			lost += burst - len(acked)
			lags.add(lag)
			w.Stop()
		}
		b.ReportMetric(ms(lags.pct(0.5)), "lag-ms")
		b.ReportMetric(float64(lost), "lost-writes")
	})
}
