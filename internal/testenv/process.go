package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Process is a child process that cannot outlive the process that started
// it: tests and benchmarks start servers with it, so that a binary that
// dies (a test timeout's panic, a SIGKILL) takes them along.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProcess starts cmd with SIGKILL as its parent-death signal. That
// signal fires when the thread that started the child exits, not the
// process (golang/go#27505), so the starting thread stays locked for as
// long as the child runs.
func StartProcess(cmd *exec.Cmd) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	p := &Process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		started <- err
		if err != nil {
			return
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	return p, nil
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the child has exited; Err then says how.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the child's exit error; valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Stop sends sig and waits up to timeout for the child to exit, then kills
// it. It reports whether the child exited on sig.
func (p *Process) Stop(sig os.Signal, timeout time.Duration) bool {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
	}
	p.Kill()
	return false
}

// Kill sends SIGKILL and waits for the child to exit.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}
