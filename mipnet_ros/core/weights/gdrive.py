"""Google Drive's "download anyway" step: from a file id's download URL to the response that carries the file.

Files above Drive's virus-scan size are answered with an HTML page instead of the bytes. The page is a form
(drive.usercontent.google.com/download with hidden id, export, confirm and uuid fields) or, in Drive's older
pages, a link with a `confirm=` token next to a `download_warning` cookie. `open_file` follows either, keeping
the cookies, and stops with DrivePageError when a page offers neither (quota exceeded, no access, removed file).
"""
import html
import http.cookiejar
import re
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from typing import Dict, List, Optional, Tuple

PAGE_LIMIT = 1 << 20            # a confirmation page is a few kB; more is not a page worth parsing
MAX_PAGES = 3


class DrivePageError(RuntimeError):
    """Drive answered with a page that leads to no file; the message is what the page says."""


class _PageParser(HTMLParser):
    """Forms (action, hidden fields), confirm links and the visible text of a Drive page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: List[Tuple[str, str, Dict[str, str]]] = []     # (id, action, fields)
        self.links: List[str] = []
        self.title = ''
        self.text: List[str] = []
        self._form: Optional[Tuple[str, str, Dict[str, str]]] = None
        self._in: List[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        a = {k: v or '' for k, v in attrs}
        if tag == 'form':
            self._form = (a.get('id', ''), a.get('action', ''), {})
            self.forms.append(self._form)
        elif tag == 'input' and self._form is not None and a.get('name') and a.get('type', 'text') == 'hidden':
            self._form[2][a['name']] = a.get('value', '')
        elif tag == 'a' and 'confirm=' in a.get('href', ''):
            self.links.append(a['href'])
        if tag not in ('input', 'meta', 'br', 'img', 'link'):
            self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == 'form':
            self._form = None
        if tag in self._in:
            del self._in[len(self._in) - 1 - self._in[::-1].index(tag):]

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] in ('script', 'style'):
            return
        if self._in and self._in[-1] == 'title':
            self.title += data
        elif data.strip():
            self.text.append(' '.join(data.split()))


def _with_query(url: str, fields: Dict[str, str]) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    query.update(fields)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def confirmation_url(page: str, page_url: str, cookies: Dict[str, str]) -> Optional[str]:
    """The URL a browser's "Download anyway" would fetch, or None when the page offers no file."""
    parser = _PageParser()
    parser.feed(page)
    forms = [f for f in parser.forms if f[0] == 'download-form'] or \
            [f for f in parser.forms if 'confirm' in f[2] or 'download' in f[1]]
    if forms:
        _, action, fields = forms[0]
        return _with_query(urllib.parse.urljoin(page_url, html.unescape(action)), fields)
    if parser.links:
        return urllib.parse.urljoin(page_url, html.unescape(parser.links[0]))
    token = next((v for k, v in cookies.items() if k.startswith('download_warning')), None)
    if token:
        return _with_query(page_url, {'confirm': token})
    return None


def describe(page: str) -> str:
    """What a page without a download says, in one line (its title and first sentences)."""
    parser = _PageParser()
    parser.feed(page)
    words = ' '.join(parser.text)
    title = ' '.join(parser.title.split())
    summary = f'{title}: {words}' if title and not words.startswith(title) else (words or title)
    summary = re.sub(r'\s+', ' ', summary).strip()
    return (summary[:240] + '...') if len(summary) > 240 else (summary or 'an empty page')


def _is_page(response) -> bool:
    return response.headers.get('Content-Type', '').lower().startswith('text/html')


def open_file(url: str, start: int, timeout: float, user_agent: str):
    """The open HTTP response whose body is the file (206 from `start` when the server resumes)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    headers = {'User-Agent': user_agent}
    if start:
        headers['Range'] = f'bytes={start}-'
    for _ in range(MAX_PAGES + 1):
        response = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
        if not _is_page(response):
            return response
        with response:
            page = response.read(PAGE_LIMIT).decode('utf-8', 'replace')
            page_url = response.geturl()
        next_url = confirmation_url(page, page_url, {c.name: c.value or '' for c in jar})
        if next_url is None:
            raise DrivePageError(f'Google Drive answered with a page instead of the file ({describe(page)})')
        url = next_url
    raise DrivePageError(f'Google Drive answered with {MAX_PAGES + 1} confirmation pages in a row')
