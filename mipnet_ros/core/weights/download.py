"""Resumable, verified download of one file: nothing reaches its final name unless its sha256 fits.

Bytes go to `<partial_dir>/<name>.part`; an interrupted transfer keeps them and the next call asks
the server for the rest (HTTP Range). Only a complete file whose digest matches is moved into
place (os.replace on the same file system), so the weights directory never holds half a file.
A checksum mismatch deletes the partial file: resuming a corrupt prefix cannot fix it. A file without a
checksum to compare with (the first download of a Google Drive file) must pass the caller's `check` instead.
"""
import fcntl
import http.client
import os
import socket
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from mipnet_ros.core.errors import UsageError
from mipnet_ros.core.fileio import file_sha256
from mipnet_ros.core.weights.cache import partial_dir
from mipnet_ros.core.weights.gdrive import DrivePageError
from mipnet_ros.core.weights.gdrive import open_file as open_drive_file

CHUNK = 1 << 20
USER_AGENT = 'mipnet_ros-weights/1'


class DownloadError(UsageError, RuntimeError):
    """One line a user can act on: what failed, the URL, and how to place the file by hand."""


def digest_matches(digest: str, expected: str) -> bool:
    """`expected` may be the full digest or a published prefix of it (mmpose names carry 8 digits)."""
    return bool(expected) and digest.lower().startswith(expected.lower())


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Two processes (two nodes on one robot) fetching the same file take turns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'a+b') as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _open(url: str, start: int, timeout: float):
    headers = {'User-Agent': USER_AGENT}
    if start:
        headers['Range'] = f'bytes={start}-'
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _progress(total: Optional[int], initial: int, label: str, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, unit='B', unit_scale=True, unit_divisor=1024, desc=label,
                disable=not enabled, leave=False)


def _transfer(url: str, part: Path, timeout: float, progress: bool, host: str = 'direct') -> None:
    """Appends the missing bytes of `url` to `part` (starting over when the server ignores Range)."""
    start = part.stat().st_size if part.exists() else 0
    try:
        if host == 'gdrive':
            response = open_drive_file(url, start, timeout, USER_AGENT)
        else:
            response = _open(url, start, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:      # nothing left to send: the partial file is already whole
            return
        raise
    with response:
        resumed = start > 0 and response.status == 206
        if start and not resumed:
            start = 0                      # a plain 200: the server sends everything again
        length = response.headers.get('Content-Length')
        total = start + int(length) if length and length.isdigit() else None
        received = start
        with open(part, 'ab' if resumed else 'wb') as out, \
                _progress(total, start, part.name[:-len('.part')], progress) as bar:
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                out.write(block)
                received += len(block)
                bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
    if total is not None and received < total:
        raise ConnectionError(f'the connection closed after {received} of {total} bytes')


def _failure(url: str, dest: Path, reason: str, partial_kept: bool, by_hand: str = '') -> DownloadError:
    again = ' Run the same command again to resume.' if partial_kept else ''
    how = f'from {by_hand} in a browser' if by_hand else '(browser, curl -L -o FILE URL)'
    return DownloadError(f'could not download {url}: {reason}.{again} Or download it by hand {how} '
                         f'and put it at {dest}; it is checked before it is used.')


def download(url: str, dest: Path, sha256: str, timeout: float = 30.0, progress: bool = True,
             partial: Optional[Path] = None, host: str = 'direct', check: Optional[Callable[[Path], None]] = None,
             sha256_from: str = 'the published', by_hand: str = '') -> Path:
    """Fetches `url` to `dest` and returns `dest`; raises DownloadError (see the module docstring).

    timeout: seconds without any data (connecting or reading) before giving up.
    partial: where the unfinished bytes live; default <cache>/partial/<dest name>.part.
    host: 'direct' (a plain file URL) or 'gdrive' (a Drive download URL: its confirmation page is followed).
    check: called with the complete file before it is moved into place; raises when the file is not what was
    asked for. Required when `sha256` is empty.
    sha256_from: where `sha256` came from, for the mismatch message; by_hand: the page a person downloads from.
    """
    dest = Path(dest)
    if not sha256 and check is None:
        raise ValueError(f'refusing to download {url} without a checksum or a check to verify it against')
    part = Path(partial) if partial is not None else partial_dir() / (dest.name + '.part')
    part.parent.mkdir(parents=True, exist_ok=True)
    with _locked(part.with_name(part.name + '.lock')):
        if dest.is_file() and digest_matches(file_sha256(dest), sha256):
            return dest                    # another process finished it while we waited
        try:
            _transfer(url, part, timeout, progress, host)
        except urllib.error.HTTPError as exc:
            raise _failure(url, dest, f'HTTP {exc.code} {exc.reason}', part.exists(), by_hand) from None
        except DrivePageError as exc:
            raise _failure(url, dest, str(exc), part.exists(), by_hand) from None
        except (socket.timeout, TimeoutError) as exc:
            raise _failure(url, dest, f'no data for {timeout:g} s ({exc or "timed out"})', part.exists(),
                           by_hand) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                reason = f'no answer within {timeout:g} s'
            raise _failure(url, dest, f'no connection ({reason})', part.exists(), by_hand) from None
        except (ConnectionError, OSError, http.client.HTTPException) as exc:
            raise _failure(url, dest, f'transfer interrupted ({exc})', part.exists(), by_hand) from None
        digest = file_sha256(part)
        if sha256 and not digest_matches(digest, sha256):
            part.unlink()
            raise DownloadError(f'{url}: checksum mismatch: sha256 {digest} does not match {sha256_from} '
                                f'{sha256}; the file was discarded (a changed or damaged download). Check the '
                                f'URL, or download it by hand and put it at {dest} if you trust it elsewhere.')
        if check is not None:
            try:
                check(part)
            except (ValueError, OSError) as exc:
                part.unlink()
                raise DownloadError(f'{url}: the downloaded file was discarded: {exc}') from None
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(part, 0o644)
        os.replace(part, dest)
    return dest
