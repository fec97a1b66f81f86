package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// lifeline runs the command with its input from the file named first, and a watcher on the
// test's end of a pipe (fd 3). When that pipe closes (stop closes it; the kernel closes it when the
// test binary dies, even by a -timeout panic that runs no cleanup) the watcher kills the whole
// process group: the command and whatever it started (php -S workers, chromium under playwright,
// the shop suite's servers). When the command exits by itself, whatever it left running in the
// group gets SIGTERM and the shell exits with the command's status.
const lifeline = `in=$1; shift; exec 3<&0 0</dev/null
"$@" <"$in" 3<&- & child=$!
{ read -r _ <&3; kill -KILL -- -$$; } >/dev/null 2>&1 &
exec 3<&-
wait $child; rc=$?
trap '' TERM; kill -TERM -- -$$ 2>/dev/null; exit $rc`

// owned rewrites cmd (made with exec.Command, not yet started) to run under the lifeline in a
// process group of its own, with input as its stdin (nil: /dev/null). It returns stop, which
// kills the group; the test's cleanup calls it too, however the test ends. For a time limit,
// time.AfterFunc(d, stop).
func owned(t testing.TB, cmd *exec.Cmd, input []byte) (stop func()) {
	t.Helper()
	in := os.DevNull
	if input != nil {
		in = filepath.Join(t.TempDir(), "stdin")
		if err := os.WriteFile(in, input, 0o600); err != nil {
			t.Fatalf("owned: %v", err)
		}
	}
	path, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("owned: %v", err)
	}
	cmd.Args = append([]string{"bash", "-c", lifeline, "lifeline", in, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = path
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdin = nil
	pipe, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("owned: %v", err)
	}
	// Output pipes held by a killed group's children must not keep Wait waiting.
	cmd.WaitDelay = 10 * time.Second
	stop = func() {
		_ = pipe.Close()
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	t.Cleanup(stop)
	return stop
}

// startPHPShop serves the PHP shop (examples/php-shop) with php -S on addr, with env added to
// this process's environment, until the test ends (its workers too, also when the test binary
// dies); its log is shown if the test failed. exited closes when php exits.
func startPHPShop(t testing.TB, php, addr string, env ...string) (exited <-chan struct{}, log *syncBuffer) {
	t.Helper()
	cmd := exec.Command(php, "-S", addr, filepath.Join(repoRoot, "examples", "php-shop", "router.php"))
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	log = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	stop := owned(t, cmd, nil)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting php -S: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		stop()
		<-done
		if t.Failed() {
			t.Logf("---- php shop %s log ----\n%s---- end of php shop log ----", addr, log.String())
		}
	})
	return done, log
}
