"""The embedded PostgreSQL: the `pgserver` wheel's binaries, run on loopback TCP under $OMNI_HOME/pg.

Every role logs in with a password (scram-sha-256, docs/contract.md section 5): the superuser's
is generated at initdb and kept in `<pg dir>/secrets/postgres.password` (mode 0600, folder 0700),
and the URLs this module returns carry it. A data directory initialised by an older version with
`trust` is given the password and the scram rules on its next start. The server's log and port
file are readable by their owner only.

We drive pg_ctl ourselves instead of `pgserver.get_server()` because that helper listens on a
Unix socket only (Great Expectations' PostgreSQL data source rejects socket URLs) and stops the
server when the starting process exits, while the platform wants one long-lived server shared by
the CLI, the Dagster daemon, the webserver and dbt.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import pwd
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

# The wheel's binaries, located without importing `pgserver` (its import has side effects:
# runtime-dir warnings and an inter-process lock file).
_SPEC = importlib.util.find_spec("pgserver")
if _SPEC is None or not _SPEC.submodule_search_locations:
    raise ImportError("the pgserver wheel is not installed: pip install pgserver")
POSTGRES_BIN_PATH = Path(next(iter(_SPEC.submodule_search_locations))) / "pginstall" / "bin"

DATABASE = "omni"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; pgserver's own convention is a system user of this name.
SYSTEM_USER = "pgserver"

# Sized for the 2-core / 24 GiB machines this runs on; bulk loads want a large WAL budget.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "200",
    "shared_buffers": "'1GB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'15min'",
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
}


class EmbeddedPostgresError(RuntimeError):
    pass


def _run_as() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _ensure_system_user() -> None:
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "-M", "-s", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
            text=True,
        )


def _make_traversable(path: Path, bits: int = 0o055) -> None:
    """Let the postgres system user reach `path` (and run the wheel's binaries) when we are root.

    `bits` is what group and others get on `path` and its parents: read and search for the
    wheel's binaries, search only (0o011) on the way to the data directory, so that no other user
    can list $OMNI_HOME.
    """
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & bits != bits:
            parent.chmod(mode | bits)


def _pg(binary: str, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(POSTGRES_BIN_PATH / binary), *args]
    result = subprocess.run(
        cmd,
        user=_run_as(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd="/",
    )
    if check and result.returncode != 0:
        raise EmbeddedPostgresError(
            f"{binary} failed ({result.returncode}): {result.stderr or result.stdout}"
        )
    return result


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    """Whether PostgreSQL could listen on `port`.

    SO_REUSEADDR like PostgreSQL's own listen socket: right after a stop, the old server's closed
    connections linger in TIME_WAIT on its port, and a plain bind would call the port taken. The
    server must come back on the same port, since running processes (the daemon, a run waiting to
    retry) hold its URL.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextmanager
def _lock(pg_dir: Path) -> Iterator[None]:
    pg_dir.mkdir(parents=True, exist_ok=True)
    with open(pg_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _data_dir(pg_dir: Path) -> Path:
    return pg_dir / "data"


def _port_file(pg_dir: Path) -> Path:
    return pg_dir / "port"


def _password_file(pg_dir: Path) -> Path:
    return pg_dir / "secrets" / f"{SUPERUSER}.password"


def superuser_password(pg_dir: Path) -> str:
    """The superuser's password, generated (0600, in a 0700 folder) the first time it is asked for."""
    path = _password_file(pg_dir)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    password = secrets.token_urlsafe(24)
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")
    os.replace(staged, path)
    return password


def url_for(port: int, database: str = DATABASE, password: str | None = None) -> str:
    credentials = f"{SUPERUSER}:{quote(password, safe='')}" if password else SUPERUSER
    return f"postgresql://{credentials}@127.0.0.1:{port}/{database}"


def _url(pg_dir: Path, port: int, database: str = DATABASE) -> str:
    return url_for(port, database, superuser_password(pg_dir))


def is_running(pg_dir: Path) -> bool:
    data = _data_dir(pg_dir)
    if not (data / "PG_VERSION").exists():
        return False
    return _pg("pg_ctl", "-D", str(data), "status", check=False).returncode == 0


def running_url(pg_dir: Path) -> str | None:
    if is_running(pg_dir) and _port_file(pg_dir).exists():
        return _url(pg_dir, int(_port_file(pg_dir).read_text().strip()))
    return None


def _give_to_server(path: Path) -> None:
    if _run_as():
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _init_cluster(pg_dir: Path, data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    if _run_as():
        _ensure_system_user()
        _make_traversable(data.parent, 0o011)
        _make_traversable(POSTGRES_BIN_PATH)
        _give_to_server(data)
    data.chmod(0o700)
    # initdb reads the password from a file: one only the server's user can read, removed once read.
    pwfile = pg_dir / ".initdb-password"
    descriptor = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(superuser_password(pg_dir) + "\n")
    _give_to_server(pwfile)
    try:
        _pg(
            "initdb", "-D", str(data), "--auth=scram-sha-256", f"--pwfile={pwfile}",
            "--encoding=UTF8", "--locale=C", "-U", SUPERUSER,
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)


# pg_hba.conf of the embedded server: loopback TCP only, a scram password for everyone.
HBA_RULES = (
    "# written by omni-inventory: every role logs in with a password (scram-sha-256)\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
    "host replication all 127.0.0.1/32 scram-sha-256\n"
)


def _uses_trust(data: Path) -> bool:
    hba = data / "pg_hba.conf"
    return any(
        line.split() and not line.lstrip().startswith("#") and line.split()[-1] == "trust"
        for line in hba.read_text().splitlines()
    )


def _require_passwords(pg_dir: Path, data: Path, port: int) -> None:
    """Upgrade a data directory an older version initialised with `trust`: set the superuser's
    password while trust still lets us in, then make every rule scram and reload."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url_for(port, "postgres"), autocommit=True) as conn:
        conn.execute("set password_encryption = 'scram-sha-256'")
        conn.execute(
            sql.SQL("alter role {} password {}").format(
                sql.Identifier(SUPERUSER), sql.Literal(superuser_password(pg_dir))
            )
        )
    _write_hba(data)
    _pg("pg_ctl", "-D", str(data), "reload")


def _write_hba(data: Path) -> None:
    hba = data / "pg_hba.conf"
    hba.write_text(HBA_RULES)
    hba.chmod(0o600)
    _give_to_server(hba)


def _write_settings(data: Path, port: int) -> None:
    settings = {**SERVER_SETTINGS, "port": str(port)}
    conf = "\n".join(f"{key} = {value}" for key, value in settings.items())
    path = data / "omni.conf"
    path.write_text("# written by omni-inventory; edit SERVER_SETTINGS instead\n" + conf + "\n")
    if _run_as():
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    main_conf = data / "postgresql.conf"
    text = main_conf.read_text()
    if "include_if_exists = 'omni.conf'" not in text:
        main_conf.write_text(text + "\ninclude_if_exists = 'omni.conf'\n")


def start(pg_dir: Path) -> str:
    """Start (or reuse) the embedded server and return its URL; creates the cluster on first use."""
    pg_dir = pg_dir.resolve()
    with _lock(pg_dir):
        data = _data_dir(pg_dir)
        if not (data / "PG_VERSION").exists():
            _init_cluster(pg_dir, data)
            _write_hba(data)
        if is_running(pg_dir):
            port = int(_port_file(pg_dir).read_text().strip())
            if _uses_trust(data):
                _require_passwords(pg_dir, data, port)
            for path in (_port_file(pg_dir), pg_dir / "postgres.log"):  # left open by older versions
                if path.exists():
                    path.chmod(0o600)
            return _url(pg_dir, port)
        port_file = _port_file(pg_dir)
        port = int(port_file.read_text().strip()) if port_file.exists() else 0
        if not port or not _port_is_free(port):
            port = _free_port()
        _write_settings(data, port)
        port_file.write_text(str(port))
        port_file.chmod(0o600)
        log = pg_dir / "postgres.log"
        log.touch()
        log.chmod(0o600)
        _give_to_server(log)
        result = _pg("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "120", "start", check=False)
        if result.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise EmbeddedPostgresError(f"could not start the embedded PostgreSQL in {data}:\n{tail}")
        _wait_ready(port)
        if _uses_trust(data):
            _require_passwords(pg_dir, data, port)
        _ensure_database(_url(pg_dir, port, "postgres"))
        return _url(pg_dir, port)


def _wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = _pg("pg_isready", "-h", "127.0.0.1", "-p", str(port), check=False)
        if result.returncode == 0:
            return
        time.sleep(0.2)
    raise EmbeddedPostgresError(f"embedded PostgreSQL on port {port} did not become ready in {timeout}s")


def _ensure_database(maintenance_url: str) -> None:
    import psycopg

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'create database "{DATABASE}"')


def stop(pg_dir: Path) -> bool:
    """Stop the embedded server; returns False when it was not running."""
    pg_dir = pg_dir.resolve()
    with _lock(pg_dir):
        if not is_running(pg_dir):
            return False
        _pg("pg_ctl", "-D", str(_data_dir(pg_dir)), "-m", "fast", "-w", "stop")
        return True
