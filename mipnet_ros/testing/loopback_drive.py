"""A loopback HTTP server that answers as Google Drive does for one shared file, for download tests.

`/uc?export=download&id=ID` is what a MODEL_ZOO link turns into. Per file id, `mode` says how the server
answers it: 'confirm' (Drive today: a redirect to `/download`, whose first answer is the "can't scan this
file for viruses" page with a form carrying id, export, confirm=t and a uuid; the form's URL gives the
file), 'legacy' (Drive before 2024: a `download_warning` cookie and a page whose link carries
`confirm=<token>`), 'direct' (a small file: the bytes at once) and 'quota' (a "too many users" page with
no way to the file). The file honours Range (206). Every request's path and Range header is recorded.
"""
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple

SCAN_PAGE = '''<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<div class="uc-main"><p class="uc-warning-caption">Google Drive can't scan this file for viruses.</p>
<p class="uc-warning-subcaption"><span class="uc-name-size"><a href="/open?id={id}">{name}</a> ({size})</span>
is too large for Google to scan for viruses. Would you still like to download this file?</p>
<form id="download-form" action="{base}/download" method="get">
<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button jfk-button-action"
 value="Download anyway"/><input type="hidden" name="id" value="{id}"><input type="hidden" name="export"
 value="download"><input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="{uuid}">
</form></div><script>var x = "<form id='not-this'>";</script></body></html>'''
LEGACY_PAGE = '''<html><head><title>Google Drive - Virus scan warning</title></head><body>
<p>Google Drive can't scan this file for viruses.</p><a id="uc-download-link"
href="/uc?export=download&amp;confirm={token}&amp;id={id}">Download anyway</a></body></html>'''
QUOTA_PAGE = '''<html><head><title>Google Drive - Quota exceeded</title></head><body><div class="uc-main">
<p class="uc-error-caption">Sorry, you can't view or download this file at this time.</p>
<p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please try accessing
the file again later.</p></div></body></html>'''


class _Handler(BaseHTTPRequestHandler):
    server: 'DriveServer'

    def log_message(self, *args):
        pass

    def _page(self, text: str, cookie: str = '') -> None:
        body = text.encode()
        self.send_response(200)
        self.send_header('Content-Type', 'text/html; charset=utf-8')
        if cookie:
            self.send_header('Set-Cookie', cookie)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self, file_id: str) -> None:
        data = self.server.files[file_id]
        ranged = self.headers.get('Range', '')
        start = int(ranged[len('bytes='):-1]) if ranged.startswith('bytes=') and ranged.endswith('-') else 0
        if start >= len(data) and start:
            self.send_response(416)
            self.send_header('Content-Range', f'bytes */{len(data)}')
            self.end_headers()
            return
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Disposition', f'attachment; filename="{file_id}.pth"')
        if start:
            self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        srv = self.server
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        file_id = query.get('id', '')
        with srv.lock:
            srv.requests.append((self.path, self.headers.get('Range')))
        if file_id not in srv.files:
            self.send_error(404, 'Not Found')
            return
        mode, base = srv.modes[file_id], srv.url('')
        if parts.path == '/uc':
            if mode == 'direct':
                return self._file(file_id)
            if mode == 'quota':
                return self._page(QUOTA_PAGE)
            if mode == 'legacy':
                token = srv.tokens[file_id]
                cookie = self.headers.get('Cookie', '')
                if query.get('confirm') == token and f'download_warning_{file_id[:6]}={token}' in cookie:
                    return self._file(file_id)
                return self._page(LEGACY_PAGE.format(token=token, id=file_id),
                                  cookie=f'download_warning_{file_id[:6]}={token}; Path=/')
            self.send_response(303)
            self.send_header('Location', f'{base}/download?id={file_id}&export=download')
            self.end_headers()
            return
        if parts.path == '/download' and mode == 'confirm':
            if query.get('confirm') == 't' and query.get('uuid') == srv.tokens[file_id]:
                return self._file(file_id)
            size = f'{len(srv.files[file_id]) / 1e6:.0f}M'
            return self._page(SCAN_PAGE.format(base=base, id=file_id, name=srv.names[file_id], size=size,
                                               uuid=srv.tokens[file_id]))
        self.send_error(404, 'Not Found')


class DriveServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(('127.0.0.1', 0), _Handler)
        self.files: Dict[str, bytes] = {}
        self.modes: Dict[str, str] = {}
        self.names: Dict[str, str] = {}
        self.tokens: Dict[str, str] = {}
        self.requests: List[Tuple[str, Optional[str]]] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)

    def add(self, file_id: str, data: bytes, mode: str = 'confirm', name: str = 'model.pth') -> str:
        """Shares `data` under `file_id`; returns its download URL (as in a MODEL_ZOO link's uc form)."""
        if mode not in ('confirm', 'legacy', 'direct', 'quota'):
            raise ValueError(f'unknown mode {mode!r}')
        self.files[file_id], self.modes[file_id], self.names[file_id] = data, mode, name
        self.tokens[file_id] = secrets.token_hex(8)
        return self.url(f'/uc?export=download&id={file_id}')

    def url(self, path: str) -> str:
        return f'http://127.0.0.1:{self.server_address[1]}{path}'

    def __enter__(self) -> 'DriveServer':
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
