"""Output folders written safely: checked before any work, locked, swapped in by rename.

A folder is recognised as a siting output only by the marker file :data:`MARKER`
(``.siting-output.json``) that siting writes into it, listing the files it wrote. With
``overwrite`` such a folder is replaced, and only the files listed in its marker are
deleted; a folder without the marker, or one holding files siting did not write, is
never replaced. ``--out`` may not be ``.``, ``..``, the filesystem root, the current
folder or one of its parents, the home folder (or a parent of it), or a mount point.

While a job runs, ``.<name>.siting-lock`` beside the output folder is held with
:func:`fcntl.flock`, so a second run on the same folder is refused. The new output is
written into ``.<name>.siting-tmp-<pid>-<hex>`` beside it, then swapped in: atomically with
``renameat2(RENAME_EXCHANGE)`` where Linux offers it, else by two renames (old folder to
``.<name>.siting-old-<pid>-<hex>``, new folder to ``<name>``). Only in that fallback is there
a window of two system calls where ``<name>`` is missing; it never holds a mix of old and
new files. While writing, SIGINT and SIGTERM raise (``KeyboardInterrupt``,
``SystemExit(143)``), so the temporary folder is removed; during the swap and the removal of
the old files they are deferred until the new output is in place. Temporary folders
left by a killed run are removed by the next run on the same folder (under the lock, so no
living run owns them).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import secrets
import shutil
import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from siting.errors import SitingError

MARKER = ".siting-output.json"
KINDS = ("run", "comparison")
_HELD: dict[str, int] = {}  # locked output folders of this process → nesting depth


def check_output_folder(out: str | Path, overwrite: bool = False, kind: str = "run") -> Path:
    """Check that ``out`` may be written as a siting output of ``kind``, before any work.

    Parameters
    ----------
    out
        Output folder as given by the user.
    overwrite
        Whether an earlier siting output of the same kind may be replaced.
    kind
        ``"run"`` or ``"comparison"``.

    Returns
    -------
    Path
        The absolute output folder (symbolic links resolved).

    Raises
    ------
    SitingError
        When ``out`` is a refused path (``.``, ``..``, root, the current folder or a
        parent of it, the home folder or a parent of it, a mount point), is or lies under
        a file, cannot be created or written, or exists and is not an earlier siting
        output of ``kind`` that ``overwrite`` allows to replace (files siting did not
        write are listed).
    """
    text = str(out)
    if text.strip() in ("", ".", ".."):
        what = "the parent of the current folder" if text.strip() == ".." else "the current folder"
        raise SitingError(f"--out {text!r} is {what}; siting will not write there, give a new "
                          "folder name such as --out results")
    try:
        target = Path(text).resolve()
        cwd, home = Path.cwd().resolve(), Path(os.path.expanduser("~")).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # link loop, NUL byte, cwd gone
        raise SitingError(f"--out {text!r} is not a usable path: {exc}") from exc
    if target.parent == target:
        _refuse(out, target, "is the filesystem root")
    if target == cwd or target in cwd.parents:
        _refuse(out, target, "is the current folder or one of its parents")
    if target == home or target in home.parents:
        _refuse(out, target, "is your home folder or one of its parents")
    if os.path.ismount(target):
        _refuse(out, target, "is a mount point")
    existing = target
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        under = "" if existing == target else f" (cannot create {target} under it)"
        raise SitingError(f"output path {existing} is a file, not a folder{under}; give a folder")
    base = target.parent if existing == target else existing
    if os.statvfs(base).f_flag & os.ST_RDONLY:
        raise SitingError(f"cannot write output folder {target}: {base} is on a read-only "
                          "filesystem; choose another --out")
    if not os.access(base, os.W_OK | os.X_OK):
        raise SitingError(f"cannot write output folder {target}: no permission to write in "
                          f"{base}; choose another --out")
    if existing == target:
        _check_existing(target, overwrite, kind)
    return target


@contextmanager
def output_lock(out: str | Path, overwrite: bool = False, kind: str = "run") -> Iterator[Path]:
    """Check ``out`` (:func:`check_output_folder`) and hold its lock for the whole job.

    Takes ``.<name>.siting-lock`` beside ``out`` with a non-blocking :func:`fcntl.flock`,
    removes temporary folders left there by killed runs, and makes SIGTERM raise
    ``SystemExit(143)`` until the block ends (so temporary folders are cleaned up). Nested
    use on a folder this process already holds just checks again.

    Parameters
    ----------
    out
        Output folder as given by the user.
    overwrite
        Whether an earlier siting output of the same kind may be replaced.
    kind
        ``"run"`` or ``"comparison"``.

    Yields
    ------
    Path
        The absolute output folder.

    Raises
    ------
    SitingError
        When the check fails or another run holds the lock.
    """
    target = check_output_folder(out, overwrite, kind)
    key = str(target)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield target
        finally:
            _HELD[key] -= 1
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SitingError(f"cannot create {target.parent}: {exc.strerror}") from exc
    lock = target.parent / f".{target.name}.siting-lock"
    fd = _acquire(lock, target)
    _HELD[key] = 1
    main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _terminate) if main else None
    try:
        _clean_stale(target)
        yield target
    finally:
        if main:
            signal.signal(signal.SIGTERM, old_term)
        del _HELD[key]
        try:
            os.unlink(lock)  # while still holding it: see _acquire
        except OSError:
            pass
        os.close(fd)


@contextmanager
def atomic_folder(out: str | Path, overwrite: bool = False, kind: str = "run") -> Iterator[Path]:
    """Yield a new temporary folder beside ``out`` that replaces ``out`` only on success.

    Runs under :func:`output_lock`. On success the marker listing every file written is
    added and the folder is swapped in; the old output's listed files are then deleted.
    On any failure or signal the temporary folder is removed and ``out`` is untouched;
    an :class:`OSError` while writing (disk full, …) becomes a :class:`SitingError`
    naming the file.

    Parameters
    ----------
    out
        Output folder as given by the user.
    overwrite
        Whether an earlier siting output of the same kind may be replaced.
    kind
        ``"run"`` or ``"comparison"``; recorded in the marker.

    Yields
    ------
    Path
        The temporary folder to write into.
    """
    with output_lock(out, overwrite, kind) as target:
        tmp = _new_sibling(target, "tmp")
        swapped = False
        try:
            yield tmp
            _write_marker(tmp, kind)
            check_output_folder(target, overwrite, kind)  # files may have appeared meanwhile
            with _signals_deferred():
                old = _swap(tmp, target)
                swapped = True
                if old is not None:
                    _remove_listed(old)
        except OSError as exc:
            if swapped:
                warnings.warn(f"new output is in {target}, but the old one was not fully "
                              f"removed: {exc}", stacklevel=3)
                return
            _remove_tree(tmp)
            error = _write_error(exc, tmp, target)
            if error is exc:
                raise
            raise error from exc
        except BaseException:
            if not swapped:
                _remove_tree(tmp)
            raise


def read_marker(folder: str | Path) -> dict | None:
    """The marker of a siting output folder, or None when absent or unreadable.

    Parameters
    ----------
    folder
        The folder that may hold :data:`MARKER`.

    Returns
    -------
    dict or None
        The marker (``tool``, ``kind``, ``files`` written, …); ``None`` when it is
        missing, unreadable or not a valid siting marker.
    """
    try:
        data = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = (isinstance(data, dict) and data.get("tool") == "siting" and data.get("kind") in KINDS
          and isinstance(data.get("files"), list)
          and all(isinstance(f, str) for f in data["files"]))
    return data if ok else None


def _refuse(out, target: Path, why: str) -> None:
    shown = f"{out}" if str(out) == str(target) else f"{out} ({target})"
    raise SitingError(f"--out {shown} {why}; siting will not write there, give a new folder "
                      "such as --out results")


def _check_existing(target: Path, overwrite: bool, kind: str) -> None:
    if not target.is_dir():
        raise SitingError(f"output path {target} is a file, not a folder; give a folder")
    try:
        entries = os.listdir(target)
    except OSError as exc:
        raise SitingError(f"cannot read output folder {target}: {exc.strerror}") from exc
    if not entries:
        return
    if not os.access(target, os.W_OK | os.X_OK):
        raise SitingError(f"output folder {target} is not writable; choose another --out")
    marker = read_marker(target)
    if marker is None:
        old = (" (summary.json without the marker: an output of an older siting version "
               "or another tool)" if "summary.json" in entries else "")
        raise SitingError(
            f"output folder {target} holds other files and no {MARKER}, so it is not a siting "
            f"output{old}; choose another folder, or delete it yourself")
    if marker["kind"] != kind:
        raise SitingError(f"output folder {target} holds a siting {marker['kind']}, not a "
                          f"{kind}; choose another folder")
    if not overwrite:
        raise SitingError(f"output folder {target} holds an earlier siting {kind}; pass "
                          "--overwrite to replace it, or choose another folder")
    foreign = _foreign(target, marker)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5
                                          else "")
        raise SitingError(f"output folder {target} holds files siting did not write ({shown}); "
                          "--overwrite replaces only siting's own files: move them out first, "
                          "or choose another folder")


def _foreign(folder: Path, marker: dict) -> list[str]:
    """Relative paths under ``folder`` that its marker does not list (sorted)."""
    listed = set(marker["files"]) | {MARKER}
    parents = {str(p) for f in listed for p in Path(f).parents}
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for d in list(dirs):
            r = (rel / d).as_posix()
            if os.path.islink(os.path.join(root, d)) or r not in parents:
                out.append(r + "/")
                dirs.remove(d)
        out += [r for r in ((rel / f).as_posix() for f in files) if r not in listed]
    return sorted(out)


def _acquire(lock: Path, target: Path) -> int:
    """Open and flock ``lock``; refuse when held. Holders unlink it before releasing, so
    a lock taken on a file that was unlinked meanwhile is retried on the new file."""
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise SitingError(f"cannot create lock file {lock}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SitingError(f"output folder {target} is in use by another siting run (lock "
                              f"{lock} is held); wait for it to finish or choose another --out")
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise SitingError(f"could not lock {lock}: it keeps being replaced; try again")


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM received in the block take effect after it (main thread only;
    Python-level handlers, since another thread of the process may receive the signal)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = {s: signal.signal(s, lambda signum, frame: got.append(signum))
           for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if got:
            handler = old[got[0]]
            if callable(handler):
                handler(got[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(got[0])


def _new_sibling(target: Path, tag: str) -> Path:
    """Create ``.<name>.siting-<tag>-<pid>-<hex>`` beside ``target`` (mode from the umask)."""
    path = target.parent / f".{target.name}.siting-{tag}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.mkdir(path)
    except OSError as exc:
        raise SitingError(f"cannot create a folder in {target.parent}: {exc.strerror}") from exc
    return path


def _clean_stale(target: Path) -> None:
    """Remove temporary folders of killed runs on ``target`` (called under its lock)."""
    for path in target.parent.glob(f".{target.name}.siting-tmp-*"):
        if path.is_dir() and not path.is_symlink():
            _remove_tree(path)
    for path in target.parent.glob(f".{target.name}.siting-old-*"):
        if path.is_dir() and not path.is_symlink():
            try:
                _remove_listed(path)
            except OSError:  # best effort: a leftover must not stop this run
                pass


def _write_marker(folder: Path, kind: str) -> None:
    from siting._version import __version__

    files = sorted(Path(root, f).relative_to(folder).as_posix()
                   for root, _, names in os.walk(folder) for f in names)
    data = {"tool": "siting", "kind": kind, "version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": [f for f in files if f != MARKER]}
    (folder / MARKER).write_text(json.dumps(data, indent=2), encoding="utf-8")


def _swap(new: Path, target: Path) -> Path | None:
    """Put ``new`` at ``target``; return where the old output went (None if there was none)."""
    if not os.path.lexists(target) or not os.listdir(target):
        os.rename(new, target)  # an empty folder is replaced by the rename
        return None
    if _exchange(new, target):
        return new
    old = target.parent / f".{target.name}.siting-old-{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(target, old)  # target is missing from here ...
    try:
        os.rename(new, target)  # ... to here
    except OSError:
        os.rename(old, target)
        raise
    return old


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux renameat2(RENAME_EXCHANGE); False if unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _remove_listed(folder: Path) -> None:
    """Delete the files ``folder``'s marker lists, then the folder if nothing else is left."""
    marker = read_marker(folder)
    if marker is None:
        return
    real = os.path.realpath(folder)
    dirs = set()
    for rel in marker["files"]:
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            continue
        full = os.path.join(real, *p.parts)
        if os.path.realpath(os.path.dirname(full)) != os.path.join(real, *p.parts[:-1]):
            continue  # a folder on the way was replaced by a link: not ours
        dirs.update(os.path.join(real, *p.parts[:i]) for i in range(1, len(p.parts)))
        if os.path.lexists(full) and not os.path.isdir(full) or os.path.islink(full):
            os.unlink(full)
    for d in sorted(dirs, key=len, reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass
    if os.listdir(real) == [MARKER]:
        os.unlink(os.path.join(real, MARKER))
        os.rmdir(real)
    else:
        warnings.warn(f"kept {folder}: it holds files siting did not write", stacklevel=2)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _write_error(exc: OSError, tmp: Path, target: Path) -> Exception:
    """A SitingError naming the output file for ``exc``, or ``exc`` if not about writing."""
    name = Path(exc.filename) if exc.filename else None
    if name is not None and name.is_relative_to(tmp):
        name = target / name.relative_to(tmp)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return SitingError(f"disk full while writing {name or target}; free some space and "
                           f"run again (the old output, if any, is untouched)")
    if name is None or name == target or name.is_relative_to(target) or tmp.parent == name.parent:
        return SitingError(f"cannot write {name or target}: {exc.strerror or exc}")
    return exc
