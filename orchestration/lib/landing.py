"""The landing zone: which files are there, which feed each belongs to, and how to read its bytes.

Only regular files are read (contract section 5). The scan looks at every entry without
following it (lstat): a symlink (to a file or a folder), FIFO, socket or device is listed as
unsupported, by its path and kind only, and never opened. Every open (open_regular) then uses
O_NOFOLLOW | O_NONBLOCK and checks the opened descriptor is a regular file, so an entry swapped
for a symlink or a FIFO after the scan is refused too, and a FIFO can never block a run.

File names are bytes to the operating system; one that is not UTF-8 is shown (and recorded in
the ledger) with its undecodable bytes backslash-escaped (`v_\\xe9.csv`), and read by its real name.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import stat as stat_kind
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.feeds import FEEDS_BY_ID, Feed

FORMATS = {".csv": "csv", ".csv.gz": "csv", ".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".parquet": "parquet"}
CHUNK = 1 << 20


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative: str  # path below the landing root, always with forward slashes
    size_bytes: int
    mtime_ns: int
    ctime_ns: int
    source: str | None
    feed: Feed | None
    channel_id: str | None
    file_format: str | None
    compressed: bool
    problem: str | None  # why the file cannot be attributed to a feed (it will be quarantined)

    @property
    def feed_id(self) -> str | None:
        return self.feed.feed_id if self.feed else None


class UnsupportedFile(OSError):
    """The path is not a regular file (any more): it is never read."""


@dataclass(frozen=True)
class UnsupportedEntry:
    """An entry of the landing zone that is not a regular file."""

    relative: str  # as LandingFile.relative
    kind: str  # symlink, fifo, socket, block device, character device, other
    source: str | None
    feed_id: str | None


@dataclass
class LandingScan:
    """What a scan found: the regular files (sorted) and the entries that are not."""

    files: list[LandingFile] = field(default_factory=list)
    unsupported: list[UnsupportedEntry] = field(default_factory=list)
    # The folders scanned below the root ('' = the whole root), for the unsupported entries' upkeep.
    tops: list[str] = field(default_factory=list)


class LandingDirMissing(FileNotFoundError):
    """The landing zone's root does not exist: a mistyped OMNI_LANDING_DIR must not look empty."""

    def __init__(self, root: Path) -> None:
        super().__init__(
            f"landing zone {display_path(str(root))} does not exist: create it or set OMNI_LANDING_DIR"
            " to the folder the feeds are delivered to"
        )


def display_name(name: str) -> str:
    """A name as shown and recorded: undecodable bytes (surrogate escapes) as `\\xNN`."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def display_path(path: str) -> str:
    return display_name(path)


def entry_kind(mode: int) -> str:
    if stat_kind.S_ISLNK(mode):
        return "symlink"
    if stat_kind.S_ISFIFO(mode):
        return "fifo"
    if stat_kind.S_ISSOCK(mode):
        return "socket"
    if stat_kind.S_ISBLK(mode):
        return "block device"
    if stat_kind.S_ISCHR(mode):
        return "character device"
    if stat_kind.S_ISDIR(mode):
        return "directory"
    return "other"


_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
)


def open_regular(path: Path) -> io.BufferedReader:
    """The file opened for reading, if it is a regular file; else UnsupportedFile.

    O_NOFOLLOW refuses a symlink, O_NONBLOCK keeps a FIFO from blocking the open, and fstat on
    the descriptor (not the path) says what was really opened.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENXIO):  # a symlink; a socket
            raise UnsupportedFile(f"{display_path(str(path))}: not a regular file") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat_kind.S_ISREG(mode):
            raise UnsupportedFile(f"{display_path(str(path))}: a {entry_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return open(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def is_in_flight(name: str) -> bool:
    """Writers write to `.name` or `name.tmp` and rename when done; those are not ours yet."""
    return name.startswith(".") or name.endswith(".tmp")


def file_format(name: str) -> tuple[str | None, bool]:
    lower = name.lower()
    for suffix, fmt in sorted(FORMATS.items(), key=lambda item: -len(item[0])):
        if lower.endswith(suffix):
            return fmt, suffix.endswith(".gz")
    return None, False


def _attribute(parts: tuple[str, ...]) -> tuple[str | None, Feed | None, str | None, str | None]:
    """(source, feed, channel_id, problem) for a path's parts below the landing root."""
    source = parts[0] if len(parts) > 1 else None
    if source == "channel":
        if len(parts) != 4:
            return (
                source,
                None,
                None,
                ("channel files belong in channel/<channel_id>/<feed>/<file>; got " + "/".join(parts)),
            )
        channel_id, name = parts[1], parts[2]
    else:
        if len(parts) != 3:
            return (
                source,
                None,
                None,
                (
                    "files belong in <source>/<feed>/<file> (channel/<channel_id>/<feed>/<file> for channels); got "
                    + "/".join(parts)
                ),
            )
        channel_id, name = None, parts[1]
    feed = FEEDS_BY_ID.get(f"{source}/{name}")
    if feed is None:
        known = ", ".join(sorted(FEEDS_BY_ID))
        return source, None, channel_id, f"unknown feed '{source}/{name}'; known feeds: {known}"
    return source, feed, channel_id, None


def describe(root: Path, path: Path, stat: os.stat_result | None = None) -> LandingFile:
    stat = stat or path.stat()
    parts = tuple(display_name(part) for part in path.relative_to(root).parts)
    source, feed, channel_id, problem = _attribute(parts)
    fmt, compressed = file_format(path.name)
    if problem is None and fmt is None:
        problem = f"unsupported file type '{path.name}': expected one of {', '.join(FORMATS)}"
    return LandingFile(
        path=path,
        relative="/".join(parts),
        size_bytes=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        ctime_ns=stat.st_ctime_ns,
        source=source,
        feed=feed,
        channel_id=channel_id,
        file_format=fmt,
        compressed=compressed,
        problem=problem,
    )


def scan(root: Path, sources: tuple[str, ...] | None = None) -> Iterator[LandingFile]:
    """Every complete regular file under the landing root (or under the given sources' folders), sorted.

    The whole-root scan also yields files of unknown sources and misplaced files, so that they are
    quarantined with a reason rather than silently ignored. A missing root yields nothing here
    (the sensor polls it); scan_landing, which the loader uses, refuses it.
    """
    if not root.exists():
        return
    yield from scan_landing(root, sources).files


def scan_landing(root: Path, sources: tuple[str, ...] | None = None) -> LandingScan:
    """The regular files and the unsupported entries under the root (or the sources' folders).

    Nothing is followed: folders are walked by their own entries (os.walk does not descend into
    a symlinked folder; it is listed here as a symlink), and every file is lstat'ed.
    """
    if not root.is_dir():
        raise LandingDirMissing(root)
    tops = [root / s for s in sources] if sources else [root]
    found = LandingScan(tops=[s for s in sources] if sources else [""])
    for top in tops:
        if top.is_symlink():
            found.unsupported.append(_unsupported(root, top, "symlink"))
            continue
        if not top.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            folder = Path(dirpath)
            kept = []
            for name in sorted(d for d in dirnames if not d.startswith(".")):
                if (folder / name).is_symlink():
                    found.unsupported.append(_unsupported(root, folder / name, "symlink"))
                else:
                    kept.append(name)
            dirnames[:] = kept
            for name in filenames:
                if is_in_flight(name):
                    continue
                path = folder / name
                try:
                    stat = path.lstat()
                except FileNotFoundError:  # renamed away between listing and stat
                    continue
                if stat_kind.S_ISREG(stat.st_mode):
                    found.files.append(describe(root, path, stat))
                else:
                    found.unsupported.append(_unsupported(root, path, entry_kind(stat.st_mode)))
    found.files.sort(key=lambda f: f.relative)
    found.unsupported.sort(key=lambda e: e.relative)
    return found


def _unsupported(root: Path, path: Path, kind: str) -> UnsupportedEntry:
    parts = tuple(display_name(part) for part in path.relative_to(root).parts)
    source, feed, _, _ = _attribute(parts)
    return UnsupportedEntry("/".join(parts), kind, source, feed.feed_id if feed else None)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def open_text_bytes(item: LandingFile):
    """A binary stream of the file's decompressed bytes."""
    handle = open_regular(item.path)
    if item.compressed:
        return _GzipReader(handle)
    return handle


class _GzipReader(gzip.GzipFile):
    """A gzip stream over an opened file that it closes too (GzipFile leaves a fileobj open)."""

    def __init__(self, handle: io.BufferedReader) -> None:
        super().__init__(fileobj=handle, mode="rb")
        self._handle = handle

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._handle.close()
