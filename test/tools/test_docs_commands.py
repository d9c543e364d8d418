"""The commands, paths and links of README.md and docs/*.md hold: the documentation cannot rot.

Every `ros2 launch mipnet_ros FILE name:=value` names an argument FILE declares, every
`python -m mipnet_ros JOB --flag` a flag of that job (sub-actions included), every
`python -m mipnet_ros.MODULE --flag` one its --help lists, every repository path exists and every
relative link (with its #anchor) resolves. The README's launch-argument table is the launch file's.
"""
import pytest

from mipnet_ros.testing import doc_commands


def test_the_reader_finds_commands_to_check():
    commands = doc_commands.doc_commands()
    launches = [c for c in commands if c.words[:3] == ('ros2', 'launch', 'mipnet_ros')]
    jobs = [c for c in commands if c.words[:3] == ('python', '-m', 'mipnet_ros')]
    assert len(launches) >= 5 and len(jobs) >= 10
    assert any(c.where.startswith('README.md') for c in launches)
    assert len(doc_commands.mentioned_paths()) >= 20


def test_every_documented_command_fits_the_code():
    problems = [p for c in doc_commands.doc_commands() for p in doc_commands.command_problems(c)]
    assert not problems, '\n'.join(problems)


def test_every_mentioned_repository_path_exists():
    missing = [f'{where}: {path}' for where, path in doc_commands.mentioned_paths()
               if not doc_commands.path_exists(path)]
    assert not missing, '\n'.join(missing)


def test_every_relative_link_resolves():
    problems = doc_commands.link_problems()
    assert not problems, '\n'.join(problems)


def test_the_readme_launch_table_is_the_launch_file():
    declared = set(doc_commands.launch_arguments('mipnet.launch.py'))
    table = set(doc_commands.readme_launch_table())
    assert table == declared, f'only in README: {sorted(table - declared)}; undocumented: {sorted(declared - table)}'


@pytest.mark.parametrize('text,problem', [
    ('ros2 launch mipnet_ros mipnet.launch.py imag:=/camera/image_raw', "declares no argument 'imag'"),
    ('ros2 launch mipnet_ros nope.launch.py', 'no launch file'),
    ('python -m mipnet_ros weights get x --no-progres', 'weights has no option --no-progres'),
    ('python -m mipnet_ros export --checkpoint a.pth --calib-rosbag b.mcap', 'export has no option --calib-rosbag'),
    ('python -m mipnet_ros serve --x', "no job 'serve'"),
    ('ros2 run mipnet_ros mipnet_nod', "no executable 'mipnet_nod'"),
    ('python -m mipnet_ros.tools.parameters_doc --writ', 'has no option --writ'),
])
def test_a_wrong_command_is_caught(text, problem):
    problems = [p for c in doc_commands.split_commands(text, 'x.md:1') for p in doc_commands.command_problems(c)]
    assert any(problem in p for p in problems), problems


def test_the_reader_splits_shell_text_as_a_shell_would():
    body = ('cd ~/ws && ros2 launch mipnet_ros mipnet.launch.py \\\n    model:=x.onnx  # a comment tracker:=bad\n'
            'FOO=1 python -m mipnet_ros eval [--flip] --json out.json | tee log\n'
            'git clone <this repository> mipnet_ros\n')
    words = [c.words for c in doc_commands.split_commands(body, 'x')]
    assert ('ros2', 'launch', 'mipnet_ros', 'mipnet.launch.py', 'model:=x.onnx') in words
    assert ('python', '-m', 'mipnet_ros', 'eval', '--flip', '--json', 'out.json') in words
    assert ('git', 'clone', 'mipnet_ros') in words
    assert doc_commands.path_candidates('src/mipnet_ros/test/data/demo.mcap') == ['test/data/demo.mcap']
    assert doc_commands.path_candidates('mipnet_ros/PersonKeypointsArray') == []
    assert doc_commands.path_candidates('docs/results/occlusion.{md,png}') == ['docs/results/occlusion.md',
                                                                    'docs/results/occlusion.png']
    assert not doc_commands.path_exists('docs/no_such_file.md') and doc_commands.path_exists('docs/results/*.png')


def test_the_readme_keeps_its_outline_and_length():
    text = (doc_commands.REPO / 'README.md').read_text()
    assert len(text.splitlines()) <= 300, 'README.md is a five-minute read: move detail to docs/'
    sections = [h for h in text.splitlines() if h.startswith('## ')]
    assert sections == ['## Run it on your robot', '## Troubleshooting', '## Topics and the keypoints message',
                        '## Launch arguments', '## Parameters', '## Optional nodes', '## Python API',
                        '## Models and accuracy', '## Development', '## Licence']
