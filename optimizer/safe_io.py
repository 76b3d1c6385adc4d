"""Writing outputs without destroying anything: guarded paths, atomic files, safe file names.

Every file the package writes goes through :func:`write_atomic` (a temporary file
in the same folder, then a rename), which refuses to replace anything but a
regular file. The command line also calls :func:`refuse_unsafe_output` on each
``-o``/``--out``/``--report`` path before any work, so a path that is one of the
command's inputs, or a directory, FIFO, device or symbolic link, is bad input
(exit 2) rather than something overwritten at the end of a long solve.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from optimizer.instance import InstanceError

_SAFE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def _special_kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return kind
    return None


def refuse_unsafe_output(
    option: str, path: str | Path, inputs: Iterable[str | Path] = (), *, directory: bool = False
) -> None:
    """Refuse an output path that would destroy something, before any work is done.

    ``path`` is refused when it is a symbolic link, a FIFO, a device or a socket,
    a directory where a file is meant (``directory=False``) or a file where a
    folder is meant (``directory=True``), or the same file as one of ``inputs``.
    A path that does not exist yet is fine.

    Raises:
        InstanceError: ``(option, reason)`` naming the path, source "command line".
    """
    path = Path(path)

    def refuse(reason: str) -> None:
        raise InstanceError([(option, f"'{path}' {reason}")], "command line")

    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        refuse(f"cannot be inspected: {error.strerror or error}")
    kind = _special_kind(mode)
    if kind == "a symbolic link":
        refuse("is a symbolic link; give the path of the file itself")
    if directory:
        if kind != "a directory":
            refuse(f"is {kind or 'a file'}, not a folder")
        return
    if kind is not None:
        refuse(f"is {kind}, not a regular file")
    for source in inputs:
        try:
            same = os.path.samefile(path, source)
        except OSError:
            same = False
        if same:
            refuse(f"is an input of this command ('{source}'); write the output elsewhere")


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    Creates missing parent folders. Only a regular file is ever replaced.

    Raises:
        InstanceError: ``path`` is a directory, FIFO, device, socket or symbolic
            link, or the system refused the write (permission, no space), with the
            path and the reason.
    """
    path = Path(path)
    try:
        kind = _special_kind(path.lstat().st_mode)
    except OSError:
        kind = None
    if kind is not None:
        raise InstanceError([(str(path), f"is {kind}, not a regular file; nothing written")], "output")
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file open()'s usual mode
        os.replace(tmp, path)
    except OSError as error:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise InstanceError([(str(path), f"cannot write: {error.strerror or error}")], "output") from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_stem(name: str) -> str:
    """A file name stem for ``name`` (an id from an input file) that stays in its folder.

    A name of up to 80 letters, digits, ``_``, ``.`` and ``-`` that starts with a
    letter or digit is kept as it is; any other becomes a slug of its safe
    characters plus the first 8 hex digits of its SHA-256, so distinct names give
    distinct stems.
    """
    if _SAFE_STEM.fullmatch(name) and ".." not in name:
        return name
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:60] or "x"
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def path_inside(folder: str | Path, file_name: str) -> Path:
    """``folder / file_name``, checked to resolve to a file directly inside ``folder``.

    Raises:
        InstanceError: the resolved path leaves ``folder``.
    """
    folder = Path(folder)
    path = folder / file_name
    if path.resolve().parent != folder.resolve():
        raise InstanceError([(str(path), f"resolves outside the output folder '{folder}'")], "output")
    return path


def refuse_unsafe_folder(option: str, folder: str | Path) -> None:
    """Refuse an output folder :func:`write_folder_atomic` would refuse, before any work is done:
    a link, a file, or a folder that already holds files.

    Raises:
        InstanceError: ``(option, reason)`` naming the path.
    """
    folder = Path(folder)
    refuse_unsafe_output(option, folder, directory=True)
    if folder.exists() and any(folder.iterdir()):
        raise InstanceError([(option, f"'{folder}' already holds files; give a new or empty folder")], "command line")


def write_folder_atomic(folder: str | Path, files: dict[str, str]) -> list[Path]:
    """Write ``files`` (path relative to ``folder`` -> text) as a new folder, all or nothing.

    The files are written into a hidden folder beside ``folder``, which is then renamed onto it,
    so a crash or a bad path leaves no half-written folder. ``folder`` must not exist or be empty:
    files left there from an earlier run would be read as part of this one. Relative paths may
    have subfolders but no ``..``, absolute parts or links out. Returns the paths written.

    Raises:
        InstanceError: ``folder`` is not an empty folder or a new path, a path leaves it, or the
            system refused the write, naming the path and the reason.
    """
    folder = Path(folder)
    refuse_unsafe_folder(str(folder), folder)
    for name in files:
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or ".." in parts:
            raise InstanceError([(name, f"is not a path inside '{folder}'")], "output")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    except OSError as error:
        raise InstanceError([(str(folder), f"cannot write: {error.strerror or error}")], "output") from None
    try:
        for name, text in files.items():
            path = staging / name
            write_atomic(path_inside(path.parent, path.name), text)
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700; give the folder mkdir()'s usual mode
        if folder.exists():
            folder.rmdir()
        os.replace(staging, folder)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise InstanceError([(str(folder), f"cannot write: {error.strerror or error}")], "output") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [folder / name for name in files]
