// Package pgtest runs a real PostgreSQL server for tests: Debian's server binaries (package
// postgresql), a cluster in a temporary directory owned by an unprivileged user, listening on a
// free loopback port, stopped and removed in the test's cleanup even when the test fails. The
// benchmark harness (bench/cmd/antombench) runs it too, through the T interface.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// T is the part of testing.TB that the server needs; a program other than a test supplies its own.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Server is a running PostgreSQL cluster.
type Server struct {
	bin, dir, data string
	port           int
	settings       []string
	owner          *user.User // nil: the test's own user runs the server
	t              T
}

// Start initialises and starts a cluster; t's cleanup stops it and removes its files. It fails
// the test (never skips) when the server binaries are missing. Settings ("name=value") override
// the defaults, which favour test speed over durability (fsync=off).
func Start(t T, settings ...string) *Server {
	t.Helper()
	initdbs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(initdbs) == 0 {
		t.Fatal("PostgreSQL server binaries are missing (/usr/lib/postgresql/*/bin/initdb): apt-get install -y postgresql")
	}
	sort.Strings(initdbs)
	s := &Server{bin: filepath.Dir(initdbs[len(initdbs)-1]), settings: settings, t: t}
	dir, err := os.MkdirTemp("", "antom-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir, s.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
		if s.owner, err = user.Lookup("postgres"); err != nil {
			t.Fatalf("running as root needs the postgres user that the postgresql package creates: %v", err)
		}
		uid, _ := strconv.Atoi(s.owner.Uid)
		gid, _ := strconv.Atoi(s.owner.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	s.run("initdb", "-D", s.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	s.port = freePort(t)
	s.Start()
	t.Cleanup(func() { s.ctl("stop", "-m", "immediate") })
	return s
}

// Start starts the (stopped) server again on the same port and waits until it accepts
// connections.
func (s *Server) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", s.port, s.dir)
	for _, kv := range s.settings { // the last -c of a name wins
		opts += " -c " + kv
	}
	s.run("pg_ctl", "-D", s.data, "-l", filepath.Join(s.dir, "log"), "-o", opts, "-w", "-t", "60", "start")
}

// PID is the server's main process (the postmaster); the backends are its children.
func (s *Server) PID() int {
	b, err := os.ReadFile(filepath.Join(s.data, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(line)
	return pid
}

// Stop stops the server at once (as a crash would); connections are cut.
func (s *Server) Stop() {
	s.t.Helper()
	s.run("pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop")
}

// DSN returns the URL of a new, empty database on the server.
func (s *Server) DSN() string {
	s.t.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		s.t.Fatal(err)
	}
	return s.url(name)
}

var dbSeq atomic.Int64

func (s *Server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

func (s *Server) ctl(args ...string) {
	cmd := s.command("pg_ctl", append([]string{"-D", s.data, "-w"}, args...)...)
	_ = cmd.Run()
}

func (s *Server) run(tool string, args ...string) {
	s.t.Helper()
	if out, err := s.command(tool, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		s.t.Fatalf("%s %v: %v\n%s\n%s", tool, args, err, out, log)
	}
}

func (s *Server) command(tool string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, tool)
	if s.owner != nil {
		return exec.Command("runuser", append([]string{"-u", s.owner.Username, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func freePort(t T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
