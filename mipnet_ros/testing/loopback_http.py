"""A file server on 127.0.0.1 (port chosen by the OS) that misbehaves on request, for download tests.

Per path: the bytes to serve and a list of behaviours used one request at a time (the last one
repeats): 'ok' (honours Range with 206), 'cut' (promises every byte, sends half, closes),
'stall' (sends the headers, then nothing for `stall_s`), 'norange' (always 200 with everything).
Unknown paths get 404. Every request's path and Range header is recorded.
"""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple


class _Handler(BaseHTTPRequestHandler):
    server: 'LoopbackServer'

    def log_message(self, *args):       # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server
        with srv.lock:
            srv.requests.append((self.path, self.headers.get('Range')))
            entry = srv.files.get(self.path)
            if entry is None:
                behaviour = None
            else:
                queue = srv.behaviour[self.path]
                behaviour = queue.pop(0) if len(queue) > 1 else queue[0]
        if entry is None:
            self.send_error(404, 'Not Found')
            return
        start = 0
        ranged = self.headers.get('Range', '')
        if behaviour != 'norange' and ranged.startswith('bytes=') and ranged.endswith('-'):
            start = int(ranged[len('bytes='):-1])
        if start >= len(entry) and start:
            self.send_response(416)
            self.send_header('Content-Range', f'bytes */{len(entry)}')
            self.end_headers()
            return
        body = entry[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header('Content-Range', f'bytes {start}-{len(entry) - 1}/{len(entry)}')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        try:
            if behaviour == 'stall':
                time.sleep(srv.stall_s)
            if behaviour == 'cut':
                self.wfile.write(body[:len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass                             # the client gave up first (the timeout test)


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stall_s: float = 2.0):
        super().__init__(('127.0.0.1', 0), _Handler)
        self.files: Dict[str, bytes] = {}
        self.behaviour: Dict[str, List[str]] = {}
        self.requests: List[Tuple[str, Optional[str]]] = []
        self.lock = threading.Lock()
        self.stall_s = stall_s
        self._thread = threading.Thread(target=self.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)

    def add(self, path: str, data: bytes, *behaviour: str) -> str:
        """Serves `data` at `path`; returns its URL."""
        self.files[path] = data
        self.behaviour[path] = list(behaviour) or ['ok']
        return self.url(path)

    def url(self, path: str) -> str:
        return f'http://127.0.0.1:{self.server_address[1]}{path}'

    def __enter__(self) -> 'LoopbackServer':
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
