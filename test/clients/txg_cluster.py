"""A throwaway PostgreSQL cluster of a test's own, for settings the suite's cluster cannot have
(max_prepared_transactions = 0, an order of shared_preload_libraries), and the server log of a
cluster, read from a position.

run.sh exports TXG_PG_BIN (the bin directory of the PostgreSQL that has txguard installed),
TXG_SCRATCH (a postgres-owned directory removed after the run) and TXG_SPARE_PORT (a free
port; the tests run one after another, so one cluster at a time uses it).  As root, initdb,
pg_ctl and the server run as the postgres OS user.
"""
import os
import subprocess
import tempfile
import time

BIN = os.environ.get("TXG_PG_BIN", "/usr/lib/postgresql/15/bin")
SPARE_PORT = int(os.environ.get("TXG_SPARE_PORT", "55444"))


def _as_pg(argv, **kw):
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd="/", **kw)


class Cluster:
    """initdb + postgresql.conf settings (a dict; values written as they are given) + start."""

    def __init__(self, name, settings, port=SPARE_PORT, env=None):
        base = os.environ.get("TXG_SCRATCH")
        if not base:
            base = tempfile.mkdtemp(prefix="txguard-cluster.")
            os.chmod(base, 0o755)
            if os.geteuid() == 0:
                subprocess.run(["chown", "postgres:postgres", base], check=True)
        self.dir = os.path.join(base, name)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.logfile = os.path.join(self.dir, "server.log")
        self.port = port
        self.settings = dict(settings)
        self.env = env            # extra environment of the postmaster (e.g. MALLOC_PERTURB_)
        r = _as_pg(["mkdir", "-p", self.sock])
        if r.returncode:
            raise RuntimeError("mkdir %s: %s" % (self.sock, r.stdout))
        r = _as_pg([BIN + "/initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--locale=C", "--no-sync"])
        if r.returncode:
            raise RuntimeError("initdb failed:\n" + r.stdout)
        self.running = False

    def _write_conf(self):
        lines = ["listen_addresses = '127.0.0.1'", "port = %d" % self.port,
                 "unix_socket_directories = '%s'" % self.sock, "fsync = off",
                 "log_line_prefix = '%m [%p] %q%u@%d/%a '"]
        lines += ["%s = %s" % kv for kv in self.settings.items()]
        text = "\n".join(lines) + "\n"
        # postgresql.auto.conf is read last: it overrides what initdb wrote
        path = os.path.join(self.data, "postgresql.auto.conf")
        r = _as_pg(["tee", path], input=text)
        if r.returncode:
            raise RuntimeError("writing %s: %s" % (path, r.stdout))

    def start(self):
        self._write_conf()
        env = dict(os.environ, **self.env) if self.env else None
        r = _as_pg([BIN + "/pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "60",
                    "start"], env=env)
        if r.returncode:
            raise RuntimeError("pg_ctl start failed:\n%s\n%s" % (r.stdout, self.log_tail()))
        self.running = True

    def restart(self, **settings):
        """Stop, change settings (None removes one), start."""
        self.stop()
        for k, v in settings.items():
            if v is None:
                self.settings.pop(k, None)
            else:
                self.settings[k] = v
        self.start()

    def stop(self):
        if self.running:
            r = _as_pg([BIN + "/pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop"])
            if r.returncode:
                _as_pg([BIN + "/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"])
            self.running = False

    def params(self, **over):
        p = dict(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                 application_name="txguard-client-test", connect_timeout=10)
        p.update(over)
        return p

    def log(self):
        return ServerLog(self.logfile)

    def log_tail(self, n=30):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class ServerLog:
    """The server log from the moment this object was made: wait_for(text) polls until the log
    has `text` (a marker the test itself made the server write), new() returns all written
    since."""

    def __init__(self, path):
        self.path = path
        self.start = os.path.getsize(path) if os.path.exists(path) else 0

    def new(self):
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read().decode("utf-8", "replace")

    def wait_for(self, text, limit=10.0):
        deadline = time.monotonic() + limit
        while True:
            s = self.new()
            if text in s or time.monotonic() > deadline:
                return s
            time.sleep(0.02)
