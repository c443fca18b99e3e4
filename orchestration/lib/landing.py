"""The landing zone: which files are there, which feed each belongs to, and how to read its bytes."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
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
    parts = path.relative_to(root).parts
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
    """Every complete file under the landing root (or under the given sources' folders), sorted.

    The whole-root scan also yields files of unknown sources and misplaced files, so that they are
    quarantined with a reason rather than silently ignored.
    """
    if not root.exists():
        return
    tops = [root / s for s in sources] if sources else [root]
    found: list[LandingFile] = []
    for top in tops:
        if not top.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if is_in_flight(name):
                    continue
                path = Path(dirpath) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:  # renamed away between listing and stat
                    continue
                found.append(describe(root, path, stat))
    yield from sorted(found, key=lambda f: f.relative)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def open_text_bytes(item: LandingFile):
    """A binary stream of the file's decompressed bytes."""
    if item.compressed:
        return gzip.open(item.path, "rb")
    return open(item.path, "rb")
