package logs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWaitSettled: the wait ends once the file stops growing, not before
// the last write arrived, and never later than max.
func TestWaitSettled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lastWrite := make(chan time.Time, 1)
	go func() {
		for range 5 {
			f.WriteString("line\n")
			time.Sleep(50 * time.Millisecond)
		}
		lastWrite <- time.Now()
	}()
	WaitSettled(context.Background(), path, 200*time.Millisecond, 10*time.Second)
	select {
	case <-lastWrite:
	default:
		t.Fatal("WaitSettled returned while the file was still growing")
	}
	if fi, _ := os.Stat(path); fi.Size() != 5*int64(len("line\n")) {
		t.Fatalf("size %d when settled, want every line", fi.Size())
	}

	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	go func() { // a file that never settles
		for {
			select {
			case <-stop:
				return
			default:
				f.WriteString("x")
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	defer close(stop)
	done := make(chan struct{})
	go func() { WaitSettled(ctx, path, time.Second, time.Hour); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WaitSettled did not end with its context")
	}
}
