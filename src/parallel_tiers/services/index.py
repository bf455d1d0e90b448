"""The index folder: written all or nothing, checked before use.

Layout of an index folder `DIR` (format `INDEX_FORMAT`)::

    DIR/CURRENT              name of the live build, e.g. "v-20260509T071234Z-3fa2c1d0"
    DIR/v-<time>-<random>/   one complete build, never modified once published:
        manifest.json        format, build, passages, sections, size + sha256 of each file
        records.jsonl, bm25/, bm25_title/
    DIR/.tmp-<random>/       a build being written (or left by a killed ingest)
    DIR/.lock                held (flock) by a running ingest

**Writing (`publish`)**: a build is written into `DIR/.tmp-<random>/`, every file is hashed and
fsynced, `manifest.json` is written last and fsynced, the folder is renamed to its version name
and `CURRENT` is replaced by `os.replace` of a fsynced temporary file: one atomic rename on the
same file system decides which build is live. A kill at any moment leaves `CURRENT` naming the
old build (and an unnamed temporary folder) or naming the new one, never a mix. Once `CURRENT`
is replaced, every other version, temporary folder and flat index of an older layout is
removed. A build that fails removes its temporary folder; a killed one's is removed by the
next ingest into `DIR` (which holds `DIR/.lock`, so two ingests never clean each other's
work).

Why a pointer file rather than renaming a folder onto `DIR` or a symlink `DIR -> version`: a
folder cannot replace an existing one in one rename, and a symlink cannot replace a plain
folder (an index of an older layout, a copy) nor a mount point (a Docker volume mounted at
`DIR`); it also breaks `cp -r` and `COPY` of the index. The pointer keeps `DIR` a plain folder
that is copied like any other, on any file system with an atomic rename.

**Reading (`read_index`)**: `CURRENT` is read once and the version folder it names is checked
against its manifest (format, then every file's size, then every file's sha256) before any of
it is parsed; the reader then checks the passage counts. Anything wrong raises one
`IndexIntegrityError` naming `DIR` and the command that rebuilds it. A folder without
`CURRENT` but with a `manifest.json` is read as a version itself (a copied version folder, or
an index of an older layout, refused by its format). Should an ingest replace the version
while it is being read, the read starts again once on the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

INDEX_FORMAT = 3
"""Version of the index folder layout: 2 added the title index and passage sections; 3 the
version folders, `CURRENT` and the manifest's file sizes and checksums."""
POINTER = "CURRENT"
MANIFEST = "manifest.json"
REBUILD = "parallel-tiers ingest CORPUS --index {folder}"
_VERSION = re.compile(r"v-\d{8}T\d{6}Z-[0-9a-f]{8}")
_TEMPORARY = re.compile(r"\.(?:tmp|CURRENT\.tmp)-[0-9a-f]{16}")
_LEGACY = ("manifest.json", "records.jsonl", "bm25", "bm25_title")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_T = TypeVar("_T")


class IndexIntegrityError(ValueError):
    """An index folder that is damaged, incomplete, mixed or of another format.

    Attributes:
        folder: The index folder as given.
        detail: What is wrong with it.

    """

    def __init__(self, folder: str | Path, detail: str) -> None:
        self.folder = str(folder)
        self.detail = detail
        rebuild = REBUILD.format(folder=self.folder)
        super().__init__(f"index_path: {self.folder} {detail}; rebuild it with `{rebuild}`")


def not_an_index(folder: Path) -> FileNotFoundError:
    """The error for a path holding no index at all."""
    return FileNotFoundError(
        f"index_path: {folder} is not an index (no {MANIFEST}); "
        f"build one with `{REBUILD.format(folder=folder)}`"
    )


# ---------------------------------------------------------------------------------- writing


def check_target(index_dir: str | Path) -> Path:
    """`index_dir` as a path to publish to, refused early if it cannot hold an index.

    Raises:
        NotADirectoryError: It exists and is not a folder.

    """
    target = Path(index_dir)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(
            f"index: {target} exists and is not a folder; give a folder (new or an index)"
        )
    return target


def publish(
    index_dir: str | Path, write: Callable[[Path], None], meta: dict[str, Any]
) -> dict[str, Any]:
    """Write a new build of the index in `index_dir` and make it the live one atomically.

    Args:
        index_dir: The index folder (created if missing).
        write: Writes the build's files into the folder it is given.
        meta: Manifest entries (`passages` required), stored with the format, the build name
            and every file's size and sha256.

    Returns:
        The manifest of the new build.

    """
    target = check_target(index_dir)
    target.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        _remove_stale(target, keep=None)
        temporary = target / f".tmp-{secrets.token_hex(8)}"
        temporary.mkdir()
        try:
            manifest = _build(temporary, write, meta)
        except BaseException:
            _remove(temporary)  # a build that failed (or was interrupted) cleans up after itself
            raise
        build = manifest["build"]
        temporary.rename(target / build)
        _fsync_dir(target)
        pointer = target / f".CURRENT.tmp-{secrets.token_hex(8)}"
        _write_durably(pointer, build + "\n")
        os.replace(pointer, target / POINTER)  # the one step that makes the new build live
        _fsync_dir(target)
        _remove_stale(target, keep=build)
    return manifest


def _build(folder: Path, write: Callable[[Path], None], meta: dict[str, Any]) -> dict[str, Any]:
    """Write a build into `folder`, hash and fsync its files, then write its manifest."""
    write(folder)
    build = f"v-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(4)}"
    manifest = {
        "format": INDEX_FORMAT,
        "build": build,
        **meta,
        "built_at": time.time(),
        "files": _seal(folder),
    }
    _write_durably(folder / MANIFEST, json.dumps(manifest, indent=2))
    _fsync_dir(folder)
    return manifest


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Hold `target/.lock` (POSIX `flock`; released by the kernel if the process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: one ingest at a time is up to you
        yield
        return
    with (target / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _seal(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every file under `folder`, each fsynced, as manifest entries."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open("rb") as data:
            digest = hashlib.file_digest(data, "sha256").hexdigest()
            os.fsync(data.fileno())
        rel = path.relative_to(folder).as_posix()
        files[rel] = {"size": path.stat().st_size, "sha256": digest}
    for sub in (p for p in folder.rglob("*") if p.is_dir()):
        _fsync_dir(sub)
    return files


def _write_durably(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a folder's entries durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


def _remove_stale(target: Path, keep: str | None) -> None:
    """Remove temporary folders and, once `keep` is live, every other version and old layout."""
    for entry in target.iterdir():
        name = entry.name
        if _TEMPORARY.fullmatch(name) or (
            keep is not None and _VERSION.fullmatch(name) and name != keep
        ):
            _remove(entry)
    if keep is not None and _is_legacy(target):
        for name in _LEGACY:
            _remove(target / name)


def _is_legacy(target: Path) -> bool:
    """Whether `target` holds a flat index of an older layout (its manifest is ours)."""
    try:
        manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and {"format", "passages"} <= manifest.keys()


def _remove(path: Path) -> None:
    """Delete a file or folder; what cannot be deleted now is left for the next ingest."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError:
        pass


# ---------------------------------------------------------------------------------- reading


def read_index(index_dir: str | Path, read: Callable[[Path, dict[str, Any]], _T]) -> _T:
    """Check the live build of `index_dir`, then `read(version folder, manifest)` it.

    Errors of `read` (a file it cannot parse, counts that disagree) become one
    `IndexIntegrityError`.

    Raises:
        FileNotFoundError: `index_dir` holds no index.
        IndexIntegrityError: The index is damaged, incomplete, mixed or of another format.

    """
    target = Path(index_dir)
    for attempt in (1, 2):
        live = live_version(target)
        try:
            folder, manifest = verified_version(target)
            try:
                return read(folder, manifest)
            except IndexIntegrityError:
                raise
            except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
                raise IndexIntegrityError(target, f"cannot be read ({e})") from e
        except IndexIntegrityError:
            # An ingest replaced (and removed) the version while it was being read: once more.
            if attempt == 2 or live_version(target) == live:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def live_version(target: Path) -> str | None:
    """What `target/CURRENT` says (None if there is none or it cannot be read)."""
    try:
        return (target / POINTER).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def verified_version(target: Path) -> tuple[Path, dict[str, Any]]:
    """The live version folder of `target` and its manifest, every file checked.

    Raises:
        FileNotFoundError: `target` holds no index.
        IndexIntegrityError: The manifest or a file does not check.

    """
    folder = _version_folder(target)
    manifest = _manifest(target, folder)
    files = _file_entries(target, manifest)
    for rel, (size, _) in files.items():
        path = folder / rel
        if not path.is_file():
            raise IndexIntegrityError(target, f"is incomplete: {rel} is missing")
        actual = path.stat().st_size
        if actual != size:
            raise IndexIntegrityError(
                target, f"is damaged: {rel} has {actual:,} bytes, its manifest says {size:,}"
            )
    _refuse_unlisted(target, folder, files)
    for rel, (_, sha256) in files.items():
        with (folder / rel).open("rb") as data:
            if hashlib.file_digest(data, "sha256").hexdigest() != sha256:
                raise IndexIntegrityError(
                    target,
                    f"is damaged: {rel} does not match its checksum "
                    "(changed since it was built, or from another build)",
                )
    return folder, manifest


def _refuse_unlisted(target: Path, folder: Path, files: dict[str, Any]) -> None:
    """Refuse a file the manifest does not list in a subfolder where it lists some.

    Such a file comes from another build; bm25s would read some of them (for example a
    `nonoccurrence_array` of another BM25 variant).
    """
    for sub in sorted({PurePosixPath(rel).parent for rel in files} - {PurePosixPath(".")}):
        for path in (folder / sub).iterdir():
            rel = (sub / path.name).as_posix()
            if rel not in files:
                raise IndexIntegrityError(
                    target, f"is damaged: {rel} is not part of this build (a mixed folder)"
                )


def _version_folder(target: Path) -> Path:
    """The folder `CURRENT` names, or `target` itself when it has no `CURRENT`."""
    if not target.is_dir():
        raise not_an_index(target)
    if not (target / POINTER).exists():
        if not (target / MANIFEST).is_file():
            raise not_an_index(target)
        return target
    name = live_version(target)
    if name is None or not _VERSION.fullmatch(name):
        raise IndexIntegrityError(target, f"is damaged: {POINTER} names no version folder")
    folder = target / name
    if not folder.is_dir():
        raise IndexIntegrityError(target, f"is incomplete: {POINTER} names {name}, missing")
    return folder


def _manifest(target: Path, folder: Path) -> dict[str, Any]:
    """The version's manifest, its format and passage count checked."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexIntegrityError(target, f"is incomplete: {MANIFEST} is missing") from None
    except (OSError, ValueError) as e:
        raise IndexIntegrityError(target, f"is damaged: {MANIFEST} is not valid JSON") from e
    if not isinstance(manifest, dict):
        raise IndexIntegrityError(target, f"is damaged: {MANIFEST} is not a JSON object")
    version = manifest.get("format")
    if version != INDEX_FORMAT:
        age = "an older" if isinstance(version, int) and version < INDEX_FORMAT else "another"
        raise IndexIntegrityError(
            target,
            f"was built by {age} version (index format {version}; this version reads "
            f"format {INDEX_FORMAT})",
        )
    passages = manifest.get("passages")
    if isinstance(passages, bool) or not isinstance(passages, int) or passages < 1:
        raise IndexIntegrityError(target, f"is damaged: {MANIFEST} has no passage count")
    return manifest


def _file_entries(target: Path, manifest: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """`{relative path: (size, sha256)}` of the manifest's files, each entry checked."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise IndexIntegrityError(target, f"is damaged: {MANIFEST} lists no files")
    out = {}
    for rel, entry in files.items():
        path = PurePosixPath(rel)
        size = entry.get("size") if isinstance(entry, dict) else None
        sha256 = entry.get("sha256") if isinstance(entry, dict) else None
        if (
            path.is_absolute()
            or ".." in path.parts
            or not isinstance(size, int)
            or not isinstance(sha256, str)
            or not _SHA256.fullmatch(sha256)
        ):
            raise IndexIntegrityError(target, f"is damaged: {MANIFEST} entry {rel!r} is invalid")
        out[rel] = (size, sha256)
    return out
