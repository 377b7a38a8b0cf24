"""Moving a finished temporary file (or folder) into place: never replacing what is there
without ``force``, and able to take a publish back until it is finalized."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Callable
from typing import Any

from ..errors import OutputError


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it; set back at once
    os.umask(mask)
    return mask


def reason(exc: BaseException) -> str:
    """The OS's words for a failed write (``No space left on device``), pyarrow's otherwise."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code:
        return os.strerror(code)
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- moving a finished temporary into place without replacing what is there --------------------

_AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
_renameat2_fn: Any = None
_renameat2_looked = False


def renameat2_func() -> Any:
    global _renameat2_fn, _renameat2_looked
    if not _renameat2_looked:
        _renameat2_looked = True
        if sys.platform.startswith("linux"):
            import ctypes

            try:
                fn = ctypes.CDLL(None, use_errno=True).renameat2
            except (AttributeError, OSError):  # glibc < 2.28, or another libc
                fn = None
            if fn is not None:
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                               ctypes.c_uint]
                fn.restype = ctypes.c_int
            _renameat2_fn = fn
    return _renameat2_fn


_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}


def renameat2(src: str, dst: str, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False where the system or filesystem lacks it, an
    ``OSError`` (``FileExistsError`` for an existing ``dst`` with NOREPLACE) if it fails."""
    fn = renameat2_func()
    if fn is None:
        return False
    import ctypes

    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), dst)


def move_noreplace(src: str, dst: str) -> None:
    """Move ``src`` (a file or a folder) to ``dst`` atomically, never replacing an existing
    ``dst``: raises ``FileExistsError`` if there is one (``src`` is then left where it is)."""
    if renameat2(src, dst, RENAME_NOREPLACE):
        return
    if os.path.isdir(src) and not os.path.islink(src):
        os.mkdir(dst)  # reserve the name (EEXIST if taken); a rename replaces an empty folder
        try:
            os.rename(src, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                os.rmdir(dst)
            raise
        return
    try:
        os.link(src, dst, follow_symlinks=False)  # EEXIST if taken: a link never replaces
    except FileExistsError:
        raise
    except OSError as exc:  # no hard links here (some network / FUSE / FAT filesystems)
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV,
                             errno.EMLINK, errno.ENOSYS):
            raise
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # reserve the name
        os.close(fd)
        try:
            os.replace(src, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(dst)
            raise
        return
    os.unlink(src)


def appeared(path: str) -> OutputError:
    return OutputError(
        "the output was created by someone else while cecli ran; it was left as it is",
        file=path,
        fix="pass --force to replace it, or write to another file",
    )


class AtomicFile:
    """A temporary file beside ``path``, moved into place in two steps so that several outputs
    of one run appear together or not at all: :meth:`publish` moves it to ``path`` (replacing
    an existing file only with ``force``, and keeping the replaced one aside), :meth:`finalize`
    drops what was kept; :meth:`abort` before :meth:`finalize` undoes a publish. :meth:`commit`
    is both steps at once."""

    revocable = True  # a publish can be taken back until finalize

    def __init__(self, path: str, force: bool = False) -> None:
        self.path = path
        self.force = force
        folder = os.path.dirname(os.path.abspath(path)) or "."
        base = os.path.basename(path)
        try:
            import tempfile  # only when writing (~2 ms of a run's start-up)

            fd, self.tmp = tempfile.mkstemp(prefix=f".{base}.cecli-", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise OutputError(f"cannot write there ({exc.strerror})", file=path) from None
        try:  # mkstemp makes the file private (0600); the output gets the usual umask'd mode
            os.fchmod(fd, 0o666 & ~_umask())
        finally:
            os.close(fd)
        self.done = False
        self.published = False
        self._placed: tuple[int, ...] | None = None  # the published file's identity
        self._kept: str | None = None  # the replaced output, until finalize
        self._swapped = False  # _kept holds it by a RENAME_EXCHANGE (else a hard link)

    def publish(self) -> None:
        """Move the temporary file to ``path``; an :class:`OutputError` (the temporary removed)
        if ``path`` appeared meanwhile without ``force``, or the move fails."""
        try:
            if not self.force:
                move_noreplace(self.tmp, self.path)
            elif _is_file_or_link(self.path) and renameat2(
                self.tmp, self.path, RENAME_EXCHANGE
            ):  # never a folder: it would be swapped out, then have to be deleted
                self._kept, self._swapped = self.tmp, True
            else:
                if os.path.lexists(self.path):
                    keep = self.tmp[: -len(".tmp")] + ".old"
                    try:
                        os.link(self.path, keep, follow_symlinks=False)
                        self._kept = keep
                    except OSError:  # no hard links here: replaced without a way back
                        self._kept = None
                try:
                    os.replace(self.tmp, self.path)
                except BaseException:
                    self._drop_kept()
                    raise
        except OSError as exc:
            self.abort()
            if isinstance(exc, FileExistsError) and not self.force:
                raise appeared(self.path) from None
            raise OutputError(f"cannot write the output ({reason(exc)})", file=self.path) from None
        self.published = True
        self._placed = _identity_nofollow(self.path)

    def finalize(self) -> None:
        """Forget the replaced output: the publish stands."""
        self._drop_kept()
        self.done = True

    def commit(self) -> None:
        self.publish()
        self.finalize()

    def abort(self) -> None:
        """Remove the temporary file; after :meth:`publish` (and before :meth:`finalize`), take
        the published file back and put a replaced output back in place."""
        if self.done:
            return
        self.done = True
        if not self.published:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            return
        with contextlib.suppress(OSError):
            if self._kept is not None and self._swapped:
                renameat2(self._kept, self.path, RENAME_EXCHANGE)
                os.unlink(self._kept)
            elif self._kept is not None:
                os.replace(self._kept, self.path)
            elif _identity_nofollow(self.path) == self._placed:  # still ours: take it back
                os.unlink(self.path)
        self._kept = None

    def _drop_kept(self) -> None:
        if self._kept is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._kept)
            self._kept = None

    def failed(self, exc: BaseException) -> OutputError:
        """A write to the temporary failed (disk full, file too large): remove it, and the error
        to raise, naming the output and the OS's reason."""
        self.abort()
        return OutputError(f"cannot write the output ({reason(exc)})", file=self.path)


class SpooledStdout:
    """``-o -``: the rows go to a private temporary file, copied to stdout by :meth:`publish`
    once the run succeeded, so a run that fails midway prints no partial table (the price: the
    first row appears when the last is computed). Published last among a run's outputs, as
    what was printed cannot be taken back (:attr:`revocable`)."""

    revocable = False

    def __init__(self, path: str = "-", force: bool = False) -> None:
        self.path = path
        try:
            import tempfile

            fd, self.tmp = tempfile.mkstemp(prefix=".cecli-stdout-", suffix=".tmp")
        except OSError as exc:
            raise OutputError(f"cannot spool the rows ({exc.strerror})", file="-") from None
        os.close(fd)
        self.done = False

    def publish(self) -> None:
        """Copy the rows to stdout (a closed pipe raises BrokenPipeError, which the command
        line ends quietly on; the temporary is removed either way)."""
        import shutil

        try:
            sys.stdout.flush()
            with open(self.tmp, "rb") as src:
                shutil.copyfileobj(src, sys.stdout.buffer, 1 << 20)
            sys.stdout.flush()
        finally:
            self.abort()

    def finalize(self) -> None:
        self.abort()

    def commit(self) -> None:
        self.publish()

    def abort(self) -> None:
        if not self.done:
            self.done = True
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)

    def failed(self, exc: BaseException) -> OutputError:
        self.abort()
        return OutputError(f"cannot spool the rows ({reason(exc)})", file="-")


def _is_file_or_link(path: str) -> bool:
    try:
        return not stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _identity_nofollow(path: str) -> tuple[int, ...] | None:
    """What tells the published file from one put there since (an inode number can be reused
    at once, so its size and times too)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def write_atomic(path: str, write: Callable[[str], None], force: bool, what: str) -> None:
    """``write(tmp)`` a temporary file beside ``path``, then move it into place; a failure
    (an :class:`OutputError` naming ``what`` for an OS error) leaves nothing behind."""
    out = AtomicFile(path, force)
    try:
        write(out.tmp)
    except OSError as exc:
        out.abort()
        raise OutputError(f"cannot write {what} ({reason(exc)})", file=path) from None
    except BaseException:
        out.abort()
        raise
    out.commit()


def write_text(path: str, text: str, force: bool = False, what: str = "the output") -> None:
    """``text`` to ``path`` (UTF-8) through a temporary file moved into place: a failed write
    leaves nothing; an existing file is replaced only with ``force``. Check the path first
    (:func:`~._paths.check_output`), before the run that computes ``text``."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    write_atomic(path, write, force, what)
