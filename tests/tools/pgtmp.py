#!/usr/bin/env python3
"""pgtmp: a throw-away PostgreSQL server for the tests.

Debian's postgresql package, started the way the tests need it: initdb and
pg_ctl in a fresh temporary directory, listening on 127.0.0.1 only, on a port
the kernel chose, with password (SCRAM) authentication and the password in a
0600 pgpass file, never in a URL. PostgreSQL refuses to run as root, so when
we are root the cluster belongs to the 'postgres' system user (or 'nobody').

As a module:   with PgTmp() as pg: pg.url("dbname") ... pg.stop(); pg.start()
As a command:  pgtmp.py run CMD ARGS...   start a server, run CMD with
               BASTION_TEST_PG (a URL without database name) and PGPASSFILE
               set, stop the server, exit with CMD's status.
"""
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROLE = "bastion"


def bindir():
    """The newest installed PostgreSQL's bin directory, or None."""
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(cands[-1]) if cands else None


def available():
    return bindir() is not None


def free_port():
    """A port the kernel picks; PostgreSQL binds it a moment later (retried
    on the rare collision)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgTmp:
    def __init__(self):
        self.bin = bindir()
        if not self.bin:
            raise RuntimeError("PostgreSQL is not installed (scripts/deps.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="bastion-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "server.log")
        self.pgpass = os.path.join(self.dir, "pgpass")
        self.password = secrets.token_hex(16)
        self.port = None
        self.owner = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    self.owner = pwd.getpwnam(name)
                    break
                except KeyError:
                    pass
            if not self.owner:
                raise RuntimeError("running as root and no 'postgres' or 'nobody' user")
            os.chown(self.dir, self.owner.pw_uid, self.owner.pw_gid)
        os.mkdir(self.sock)
        if self.owner:
            os.chown(self.sock, self.owner.pw_uid, self.owner.pw_gid)
        self._initdb()

    # -- helpers ---------------------------------------------------------------
    def _as_owner(self, argv):
        if not self.owner:
            return argv
        return ["setpriv", "--reuid=%d" % self.owner.pw_uid, "--regid=%d" % self.owner.pw_gid,
                "--clear-groups", "--"] + argv

    def _run(self, argv, **kw):
        return subprocess.run(self._as_owner(argv), check=True, cwd=self.dir,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
                              **kw)

    def _initdb(self):
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if self.owner:
            os.chown(pwfile, self.owner.pw_uid, self.owner.pw_gid)
        os.chmod(pwfile, 0o600)
        self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", ROLE,
                   "--pwfile", pwfile, "--auth=scram-sha-256", "--encoding=UTF8",
                   "--locale=C", "--no-sync"])
        os.unlink(pwfile)
        self._tls()
        # our pgpass: the tests and Bastion run as this process's user
        with open(self.pgpass, "w") as f:
            f.write("*:*:*:%s:%s\n" % (ROLE, self.password))
        os.chmod(self.pgpass, 0o600)

    def _tls(self):
        """A self-signed certificate for 127.0.0.1, so that clients may ask
        for TLS (sslmode=require) and verify it (verify-full with
        sslrootcert=self.ca). Plain connections stay allowed."""
        self.ca = os.path.join(self.dir, "server.crt")
        key = os.path.join(self.data, "server.key")
        crt = os.path.join(self.data, "server.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", crt],
                       check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        shutil.copy(crt, self.ca)
        os.chmod(key, 0o600)
        if self.owner:
            for f in (key, crt):
                os.chown(f, self.owner.pw_uid, self.owner.pw_gid)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")

    # -- life cycle --------------------------------------------------------------
    def start(self, deadline_s=120):
        """Start (again) on a fresh kernel-chosen port, or the same port when
        restarting (clients reconnect to it)."""
        end = time.monotonic() + deadline_s
        for attempt in range(10):
            port = self.port or free_port()
            opts = ("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off "
                    "-c max_connections=60 -c shared_buffers=16MB" % (port, self.sock))
            r = subprocess.run(self._as_owner([os.path.join(self.bin, "pg_ctl"), "-D", self.data,
                                               "-l", self.log, "-w", "-t",
                                               str(max(5, int(end - time.monotonic()))),
                                               "-o", opts, "start"]),
                               cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=deadline_s + 30)
            if r.returncode == 0:
                self.port = port
                return
            if time.monotonic() > end or attempt == 9:
                break
        raise RuntimeError("PostgreSQL did not start: %s\n%s" % (r.stdout.decode(errors="replace"),
                                                                self.server_log()))

    def ctl_command(self):
        """A shell command prefix that runs pg_ctl on this cluster; append
        'stop -m fast' or 'start'. For tests written in C."""
        import shlex
        opts = ("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off "
                "-c max_connections=60 -c shared_buffers=16MB" % (self.port, self.sock))
        argv = self._as_owner([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.log,
                               "-w", "-t", "120", "-o", opts])
        return "cd %s && %s" % (shlex.quote(self.dir), " ".join(shlex.quote(a) for a in argv))

    def stop(self, mode="fast"):
        subprocess.run(self._as_owner([os.path.join(self.bin, "pg_ctl"), "-D", self.data,
                                       "-m", mode, "-w", "-t", "120", "stop"]),
                       cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=180)

    def cleanup(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def server_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    # -- addresses ---------------------------------------------------------------
    def base_url(self):
        return "postgresql://%s@127.0.0.1:%d/" % (ROLE, self.port)

    def url(self, dbname):
        return self.base_url() + dbname

    def env(self):
        e = dict(os.environ)
        e["PGPASSFILE"] = self.pgpass
        return e

    def psql(self, dbname, sql):
        """Run SQL through psql (as the bastion role); returns stdout."""
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-d", self.url(dbname), "-c", sql],
                           env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError("psql: %s" % r.stderr.decode(errors="replace"))
        return r.stdout.decode().strip()

    def createdb(self, dbname):
        self.psql("postgres", 'CREATE DATABASE "%s"' % dbname)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.cleanup()


def main(argv):
    if len(argv) < 3 or argv[1] != "run":
        sys.stderr.write("usage: pgtmp.py run CMD [ARGS...]\n")
        return 2
    if not available():
        sys.stderr.write("pgtmp: PostgreSQL is not installed; run scripts/deps.sh\n")
        return 1
    with PgTmp() as pg:
        env = pg.env()
        env["BASTION_TEST_PG"] = pg.base_url()
        env["BASTION_TEST_PG_CTL"] = pg.ctl_command()
        try:
            return subprocess.run(argv[2:], env=env, timeout=1800).returncode
        except subprocess.TimeoutExpired:
            sys.stderr.write("pgtmp: the command ran past 30 minutes\n")
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
