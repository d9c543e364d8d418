"""What the user documentation asks a reader to type, read back so that a test can hold it to the code.

From README.md and docs/*.md: the commands of the shell blocks (and of inline code that starts like one),
split into simple commands; the repository paths named anywhere; and the links with their anchors.
`ros2 launch mipnet_ros FILE name:=value` is checked against the arguments FILE declares,
`python -m mipnet_ros JOB --flag` against the job's --help (sub-actions too), a `python -m mipnet_ros.MODULE --flag`
against the module's `--help`.
"""
import ast
import glob
import importlib.util
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

REPO = Path(__file__).resolve().parents[2]
SHELL_LANGS = ('bash', 'sh', 'shell', 'console')
SEPARATORS = {';', '&&', '||', '|', '(', ')', '&', '$(', '`'}
TOP_FILES = ('README.md', 'LICENSE', 'Makefile', 'package.xml', 'CMakeLists.txt', 'setup.py',
             'requirements.txt', 'requirements-dev.txt')
TOP_DIRS = ('bench', 'config', 'docs', 'launch', 'models', 'msg', 'rviz', 'scripts', 'test', 'mipnet_ros')
PATH_RE = re.compile(r'^(?:src/mipnet_ros/)?((?:%s)(?:/[^\s`\'"]*)?|%s)$' % (
    '|'.join(TOP_DIRS), '|'.join(re.escape(f) for f in TOP_FILES)))


@dataclass(frozen=True)
class Command:
    where: str              # file:line
    words: Tuple[str, ...]

    def __str__(self) -> str:
        return f'{self.where}: {" ".join(self.words)}'


def doc_files() -> List[Path]:
    return [REPO / 'README.md'] + sorted((REPO / 'docs').glob('*.md'))


def _line_of(text: str, offset: int) -> int:
    return text.count('\n', 0, offset) + 1


def shell_blocks(text: str) -> Iterator[Tuple[int, str]]:
    """(first line, body) of every fenced block marked bash, sh, shell or console."""
    for m in re.finditer(r'^```(\w*)[^\n]*\n(.*?)^```', text, re.S | re.M):
        if m.group(1) in SHELL_LANGS:
            yield _line_of(text, m.start(2)), m.group(2)


def inline_code(text: str) -> Iterator[Tuple[int, str]]:
    """Inline `code` spans outside fenced blocks."""
    fenced = [(m.start(), m.end()) for m in re.finditer(r'^```.*?^```', text, re.S | re.M)]
    for m in re.finditer(r'(?<!`)`([^`\n]+)`(?!`)', text):
        if not any(a <= m.start() < b for a, b in fenced):
            yield _line_of(text, m.start()), m.group(1)


def _words(line: str) -> List[str]:
    lexer = shlex.shlex(line.replace('$(', ' ( '), posix=True, punctuation_chars=';&|()`')
    lexer.whitespace_split = True
    lexer.commenters = '#'
    return list(lexer)


def split_commands(body: str, where: str) -> List[Command]:
    """Simple commands of a shell text: continuations joined, comments and placeholders dropped."""
    out = []
    joined = re.sub(r'\\\n', ' ', body)
    for n, line in enumerate(joined.split('\n')):
        line = re.sub(r'<[^<>\n]*>', '', line.strip())            # <placeholder>
        if line.startswith('$ '):
            line = line[2:]
        try:
            words = _words(line)
        except ValueError:                                           # an unbalanced quote in prose-like text
            continue
        current: List[str] = []
        for w in words + [';']:
            if w in SEPARATORS or set(w) <= set(';&|()'):
                if current:
                    out.append(Command(f'{where}+{n}', tuple(current)))
                current = []
                continue
            w = w.strip('[]')                                        # [--optional] notation
            if w and w not in ('...', '…') and not (not current and re.match(r'^[A-Z_][A-Z0-9_]*=', w)):
                current.append(w)
    return out


def doc_commands() -> List[Command]:
    commands = []
    for path in doc_files():
        text = path.read_text()
        rel = path.relative_to(REPO)
        for line, body in shell_blocks(text):
            commands += split_commands(body, f'{rel}:{line}')
        for line, span in inline_code(text):
            if re.match(r'^(ros2 (launch|run) mipnet_ros|python3? -m mipnet_ros)\b', span):
                commands += split_commands(span, f'{rel}:{line}')
    return commands


# --- what the code declares -----------------------------------------------------------------------

def _ast_launch_arguments(path: Path) -> Set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', getattr(node.func, 'attr', '')) == \
                'DeclareLaunchArgument':
            first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == 'name'), None)
            if not isinstance(first, ast.Constant):
                raise ValueError(f'{path}: a DeclareLaunchArgument with a computed name; read it by importing')
            names.add(first.value)
    return names


@lru_cache(maxsize=None)
def launch_arguments(file_name: str) -> Tuple[str, ...]:
    """The arguments `launch/<file_name>` declares itself (not those its includes set)."""
    path = REPO / 'launch' / file_name
    try:
        spec = importlib.util.spec_from_file_location(f'_doc_launch_{path.stem.replace(".", "_")}', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        description = module.generate_launch_description()
        pairs = description.get_launch_arguments_with_include_launch_description_actions(True)
        return tuple(sorted({arg.name for arg, includes in pairs if not includes}))
    except Exception:  # noqa: BLE001 - the package is not built or launch is absent: read the source
        return tuple(sorted(_ast_launch_arguments(path)))


@lru_cache(maxsize=None)
def executables() -> Tuple[str, ...]:
    return tuple(re.findall(r'"(\w+)=mipnet_ros\.[\w.]+"', (REPO / 'CMakeLists.txt').read_text()))


@lru_cache(maxsize=None)
def _help(*argv: str) -> Optional[str]:
    out = subprocess.run([sys.executable, *argv, '--help'], cwd=REPO, capture_output=True, text=True, timeout=300)
    return out.stdout if out.returncode == 0 else None


def _options(text: str) -> Set[str]:
    return set(re.findall(r'(?<![\w-])(--?[A-Za-z][\w-]*)', text))


@lru_cache(maxsize=None)
def job_options(job: str, words: Tuple[str, ...] = ()) -> Optional[Tuple[str, ...]]:
    """Options of `python -m mipnet_ros JOB`, with those of a sub-action among `words` (`weights get`).

    Read from the job's --help, so that nothing here imports the command line; None: no such job.
    """
    text = _help('-m', 'mipnet_ros', job)
    if text is None:
        return None
    options = _options(text)
    choices = {c for group in re.findall(r'\{([\w,-]+)\}', text) for c in group.split(',')}
    action = next((w for w in words if w in choices), None)
    if action is not None:
        options |= _options(_help('-m', 'mipnet_ros', job, action) or '')
    return tuple(sorted(options))


@lru_cache(maxsize=None)
def module_options(module: str) -> Optional[Tuple[str, ...]]:
    """Options a `python -m MODULE --help` lists; None when the module does not exist."""
    if importlib.util.find_spec(module) is None:
        return None
    return tuple(sorted(_options(_help('-m', module) or '')))


# --- checks ------------------------------------------------------------------------------------------

def _flags(words) -> List[str]:
    return [w.split('=', 1)[0] for w in words if w.startswith('--')]


def command_problems(cmd: Command) -> List[str]:
    w = list(cmd.words)
    if w[:1] in (['sudo'], ['timeout'], ['nice']):
        w = w[1:] if w[0] != 'timeout' else w[2:]
    problems = []
    if w[:3] == ['ros2', 'launch', 'mipnet_ros'] and len(w) > 3:
        file_name = w[3]
        if not (REPO / 'launch' / file_name).is_file():
            return [f'{cmd}: no launch file launch/{file_name}']
        declared = set(launch_arguments(file_name))
        for arg in w[4:]:
            if ':=' in arg:
                name = arg.split(':=', 1)[0]
                if name not in declared:
                    problems.append(f'{cmd}: {file_name} declares no argument {name!r}')
            elif not arg.startswith('-'):
                problems.append(f'{cmd}: {arg!r} is not name:=value')
    elif w[:3] == ['ros2', 'run', 'mipnet_ros'] and len(w) > 3 and w[3] not in executables():
        problems.append(f'{cmd}: no executable {w[3]!r} (CMakeLists.txt installs {", ".join(executables())})')
    if len(w) >= 3 and re.match(r'^(python3?|torchrun)$', w[0]) and '-m' in w:
        module = w[w.index('-m') + 1] if w.index('-m') + 1 < len(w) else ''
        rest = w[w.index('-m') + 2:]
        if module == 'mipnet_ros':
            job = next((x for x in rest if not x.startswith('-')), None)
            if job is not None:
                options = job_options(job, tuple(x for x in rest[rest.index(job) + 1:] if not x.startswith('-')))
                if options is None:
                    problems.append(f'{cmd}: python -m mipnet_ros has no job {job!r}')
                else:
                    problems += [f'{cmd}: {job} has no option {f}' for f in _flags(rest) if f not in options]
        elif module.startswith('mipnet_ros.'):
            options = module_options(module)
            if options is None:
                problems.append(f'{cmd}: no module {module}')
            else:
                problems += [f'{cmd}: {module} has no option {f}' for f in _flags(rest) if f not in options]
    return problems


def _expand_braces(token: str) -> List[str]:
    m = re.search(r'\{([^{}]*,[^{}]*)\}', token)
    if not m:
        return [token]
    return [e for part in m.group(1).split(',') for e in _expand_braces(token[:m.start()] + part + token[m.end():])]


def path_candidates(token: str) -> List[str]:
    """Repository paths a word names (workspace form src/mipnet_ros/... included); [] when it names none."""
    token = token.strip('\'"()[],.;:')
    if any(c in token for c in '<>$') or '...' in token or '…' in token:
        return []
    m = PATH_RE.match(token)
    if not m:
        return []
    rel = m.group(1)
    last = rel.rstrip('/').rsplit('/', 1)[-1]
    if not (rel.endswith('/') or '.' in last or rel in TOP_FILES or '*' in last):
        return []                          # a message type (mipnet_ros/PersonKeypoints) or a bare word
    return _expand_braces(rel)


def path_exists(rel: str) -> bool:
    if any(c in rel for c in '*?['):
        return bool(glob.glob(str(REPO / rel)))
    return (REPO / rel).exists()


def mentioned_paths() -> List[Tuple[str, str]]:
    """(where, path) for every repository path in shell blocks and inline code."""
    found = []
    for path in doc_files():
        text = path.read_text()
        rel = path.relative_to(REPO)
        spans = list(shell_blocks(text)) + list(inline_code(text))
        for line, body in spans:
            for token in re.split(r'[\s=]+', re.sub(r'<[^<>\n]*>', '', body)):
                for candidate in path_candidates(token):
                    found.append((f'{rel}:{line}', candidate))
    return found


def _slug(heading: str) -> str:
    text = re.sub(r'[`*_]', '', heading.strip().lower())
    return re.sub(r'[^\w\- ]', '', text).replace(' ', '-')


@lru_cache(maxsize=None)
def anchors(path: Path) -> Tuple[str, ...]:
    text = re.sub(r'^```.*?^```', '', path.read_text(), flags=re.S | re.M)
    return tuple(_slug(h) for h in re.findall(r'^#{1,6} +(.+?) *$', text, re.M))


def link_problems() -> List[str]:
    problems = []
    for path in doc_files():
        text = re.sub(r'^```.*?^```', '', path.read_text(), flags=re.S | re.M)
        for m in re.finditer(r'!?\[[^\]]*\]\(([^)\s]+)\)', text):
            target = m.group(1)
            if re.match(r'^[a-z]+:', target):
                continue
            file_part, _, anchor = target.partition('#')
            resolved = (path.parent / file_part).resolve() if file_part else path
            where = f'{path.relative_to(REPO)}: ({target})'
            if not resolved.exists():
                problems.append(f'{where}: no such file')
            elif anchor and resolved.suffix == '.md' and anchor not in anchors(resolved):
                problems.append(f'{where}: no heading #{anchor} in {resolved.name}')
    return problems


def readme_launch_table() -> Dict[str, int]:
    """Argument names in the first column of README.md's launch-argument table -> line."""
    text = (REPO / 'README.md').read_text()
    section = re.search(r'^## Launch arguments\n(.*?)(?=^## )', text, re.S | re.M)
    if section is None:
        return {}
    names = {}
    for row in re.findall(r'^\| ([^|]+) \|', section.group(1), re.M):
        for name in re.findall(r'`([\w]+)`', row):
            names[name] = 1
    return names
