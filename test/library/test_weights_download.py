"""The downloader against a local HTTP server: good file, wrong checksum, cut transfer then resume,
a server that ignores Range, 404, a stalled server, no server at all. After every failure the
weights directory holds no file under the final name."""
import hashlib
import os

import pytest

from mipnet_ros.core.weights.cache import cache_root, partial_dir, weights_dir  # noqa: E402
from mipnet_ros.core.weights.download import DownloadError, download  # noqa: E402
from mipnet_ros.testing.loopback_http import LoopbackServer  # noqa: E402

DATA = os.urandom(3 * (1 << 20) + 12345)       # more than one read chunk, not a multiple of it
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('MIPNET_CACHE', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


@pytest.fixture
def server():
    with LoopbackServer(stall_s=2.0) as srv:
        yield srv


def _dest():
    return weights_dir() / 'model-0123abcd.pth'


def _nothing_in_place(dest):
    return not dest.exists() and not any(p.name == dest.name for p in dest.parent.glob('*'))


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    for var in ('MIPNET_CACHE', 'MIPNET_ROS_CACHE'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert cache_root() == tmp_path / 'xdg' / 'mipnet_ros'
    monkeypatch.setenv('MIPNET_CACHE', str(tmp_path / 'mine'))
    assert weights_dir() == tmp_path / 'mine' / 'weights'
    assert partial_dir().parent == weights_dir().parent


def test_good_file_with_full_hash_and_with_published_prefix(cache, server):
    url = server.add('/a.pth', DATA)
    dest = download(url, _dest(), SHA, progress=False)
    assert dest.read_bytes() == DATA
    other = download(url, weights_dir() / 'b.pth', SHA[:8], progress=False)
    assert other.read_bytes() == DATA
    assert not list(partial_dir().glob('*.part'))


def test_wrong_checksum_discards_everything(cache, server):
    url = server.add('/a.pth', DATA)
    with pytest.raises(DownloadError) as err:
        download(url, _dest(), '0' * 64, progress=False)
    text = str(err.value)
    assert 'checksum mismatch' in text and url in text and SHA in text and str(_dest()) in text
    assert _nothing_in_place(_dest())
    assert not list(partial_dir().glob('*.part')), 'a corrupt partial file would poison the next resume'


def test_interrupted_transfer_resumes_where_it_stopped(cache, server):
    url = server.add('/a.pth', DATA, 'cut', 'ok')
    with pytest.raises(DownloadError) as err:
        download(url, _dest(), SHA, progress=False)
    assert 'again to resume' in str(err.value) and url in str(err.value)
    assert _nothing_in_place(_dest())
    parts = list(partial_dir().glob('*.part'))
    assert len(parts) == 1 and parts[0].stat().st_size == len(DATA) // 2
    dest = download(url, _dest(), SHA, progress=False)
    assert dest.read_bytes() == DATA
    assert server.requests[-1] == ('/a.pth', f'bytes={len(DATA) // 2}-')


def test_server_ignoring_range_restarts_cleanly(cache, server):
    url = server.add('/a.pth', DATA, 'cut', 'norange')
    with pytest.raises(DownloadError):
        download(url, _dest(), SHA, progress=False)
    assert download(url, _dest(), SHA, progress=False).read_bytes() == DATA


def test_partial_that_is_already_whole_is_finished_without_bytes(cache, server):
    url = server.add('/a.pth', DATA)
    partial_dir().mkdir(parents=True)
    (partial_dir() / (_dest().name + '.part')).write_bytes(DATA)
    assert download(url, _dest(), SHA, progress=False).read_bytes() == DATA
    assert server.requests == [('/a.pth', f'bytes={len(DATA)}-')]       # answered 416, nothing sent


def test_404_names_the_url_and_where_to_put_the_file(cache, server):
    url = server.url('/missing.pth')
    with pytest.raises(DownloadError) as err:
        download(url, _dest(), SHA, progress=False)
    text = str(err.value)
    assert 'HTTP 404' in text and url in text and str(_dest()) in text
    assert _nothing_in_place(_dest())


def test_stalled_server_times_out(cache, server):
    url = server.add('/a.pth', DATA, 'stall')
    with pytest.raises(DownloadError) as err:
        download(url, _dest(), SHA, timeout=0.3, progress=False)
    assert 'no data for 0.3 s' in str(err.value) and url in str(err.value)
    assert _nothing_in_place(_dest())


def test_no_server_is_one_clear_error(cache):
    with LoopbackServer() as srv:       # a port that was just free and now has nobody listening
        url = srv.url('/a.pth')
    with pytest.raises(DownloadError) as err:
        download(url, _dest(), SHA, timeout=2, progress=False)
    assert 'no connection' in str(err.value) and url in str(err.value)
    assert _nothing_in_place(_dest())


def test_refuses_to_download_without_a_checksum(cache, server):
    with pytest.raises(ValueError):
        download(server.add('/a.pth', DATA), _dest(), '', progress=False)
