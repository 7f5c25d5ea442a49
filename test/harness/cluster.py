"""A throwaway PostgreSQL cluster run as the `postgres` OS user.

PostgreSQL refuses to run as root, so every server-side command goes
through `runuser -u postgres` when the harness itself runs as root.  The
cluster listens on a Unix socket only, inside its own temporary directory,
so several runs on one machine never collide and nothing is reachable from
outside.  Clients (psql) run as the caller and connect over that socket
with trust authentication.
"""

import os
import shutil
import subprocess
import tempfile
import time

PG_BIN = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                        check=True).stdout.strip()
FIELD_SEP = "\x1f"


class QueryError(Exception):
    """psql reported an error; .stderr holds its message."""

    def __init__(self, sql, stderr):
        super().__init__(f"{stderr.strip()}\n-- while running:\n{sql}")
        self.stderr = stderr


def as_postgres(argv):
    """Prefix a command so that it runs as the postgres OS user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + argv
    return argv


class Cluster:
    """One initdb'd data directory and the server running on it."""

    # The socket lives in the cluster's own directory, so a fixed port never
    # collides with another server on the machine.
    port = 54329

    def __init__(self, settings, databases=(), root=None, bindir=None):
        # bindir: another build's server (a benchmark comparing two builds
        # runs a cluster of each side by side); the pg_config on PATH's by default.
        self.bin = bindir or PG_BIN
        if root is None:
            root = tempfile.mkdtemp(prefix="syncopt-test-")
        else:
            os.makedirs(root)
        os.chmod(root, 0o755)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        self._set_paths(root)
        self.settings = settings
        self._initdb(databases)

    @classmethod
    def existing(cls, root):
        """Attach to a cluster an earlier process created at root."""
        self = cls.__new__(cls)
        self.bin = PG_BIN
        self._set_paths(root)
        return self

    def _set_paths(self, root):
        self.root = root
        self.data = os.path.join(root, "data")
        self.socket_dir = root
        self.log = os.path.join(root, "server.log")

    def _run(self, argv, **kw):
        return subprocess.run(as_postgres(argv), check=True, capture_output=True, text=True, **kw)

    def _initdb(self, databases):
        self._run([f"{self.bin}/initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                   "--no-sync", "-E", "UTF8", "--locale=C"])
        # Databases the workers connect to must exist before they start, so
        # they are made in single-user mode before the settings preload them.
        for db in databases:
            self._run([f"{self.bin}/postgres", "--single", "-D", self.data, "template1"],
                      input=f"CREATE DATABASE {db};\n")
        conf = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "port": str(self.port),
            "fsync": "off",
            "logging_collector": "off",
            "log_min_messages": "log",
            "log_line_prefix": "'%m [%p] %b: '",
            "lc_messages": "'C'",
            "timezone": "'UTC'",
        }
        conf.update(self.settings)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# syncopt test harness\n")
            for key, value in conf.items():
                f.write(f"{key} = {value}\n")

    def start(self):
        self._run([f"{self.bin}/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start"])

    def stop(self, mode="fast"):
        subprocess.run(as_postgres([f"{self.bin}/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"]),
                       capture_output=True, text=True)

    def restart(self):
        self.stop()
        self.start()

    def reload(self):
        self._run([f"{self.bin}/pg_ctl", "-D", self.data, "reload"])

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines=60):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def conninfo(self, db="postgres"):
        return ["-h", self.socket_dir, "-p", str(self.port), "-U", "postgres", "-d", db]

    def psql(self, sql, db="postgres", check=True):
        """Run SQL with psql; return (returncode, stdout, stderr)."""
        proc = subprocess.run(
            [f"{self.bin}/psql", "-X", "-q", "-A", "-t", "-F", FIELD_SEP,
             "-v", "ON_ERROR_STOP=1"] + self.conninfo(db),
            input=sql, capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise QueryError(sql, proc.stderr)
        return proc.returncode, proc.stdout, proc.stderr

    def rows(self, sql, db="postgres"):
        """Rows of the last statement, each a tuple of strings ('' for NULL)."""
        out = self.psql(sql, db)[1]
        return [tuple(line.split(FIELD_SEP)) for line in out.splitlines() if line != ""]

    def value(self, sql, db="postgres"):
        """The single value a query returns."""
        result = self.rows(sql, db)
        if len(result) != 1 or len(result[0]) != 1:
            raise AssertionError(f"expected one value, got {result!r} from {sql}")
        return result[0][0]

    def error_of(self, sql, db="postgres"):
        """The error psql printed for SQL that must fail."""
        code, _, err = self.psql(sql, db, check=False)
        if code == 0:
            raise AssertionError(f"expected an error from: {sql}")
        return err

    def wait_for(self, sql, db="postgres", timeout=60.0, interval=0.2):
        """Poll until the query returns 't'; False if it never did in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.value(sql, db) == "t":
                    return True
            except QueryError:
                pass
            time.sleep(interval)
        return False
