"""The occlusion report: the committed results keep their JSON contract, and the writer
compares every MIPNet row with the N=1 model of the same backbone."""
import json
from pathlib import Path

import pytest

from mipnet_ros.tools.report import METHOD_KEYS, baseline_of, write_report

REPO = Path(__file__).resolve().parents[2]


def test_committed_occlusion_results_follow_the_contract():
    data = json.loads((REPO / 'docs' / 'results' / 'occlusion.json').read_text())
    bench = data['benchmark']
    assert {'scenes', 'people', 'hidden_people', 'seed'} <= set(bench)
    assert 0 < bench['hidden_people'] < bench['people'] and bench['scenes'] > 0
    methods = data['methods']
    for m in methods:
        assert set(METHOD_KEYS) <= set(m), m['name']
        assert 0 <= m['AP'] <= 100 and 0 <= m['AR'] <= 100 and 0 <= m['hidden_recall'] <= 1
        assert m['device'] and m['trained_on'] and m['epochs'] > 0
    # the experiment: HRNet N=1/2/3 and SimpleBaseline N=1/2, each MIPNet with its baseline
    pairs = {(m['arch'].startswith('hrnet'), m['instances']) for m in methods}
    assert {(True, 1), (True, 2), (True, 3), (False, 1), (False, 2)} <= pairs
    for m in methods:
        base = baseline_of(m, methods)
        assert base is not None and base['arch'] == m['arch'] and base['epochs'] == pytest.approx(m['epochs'], rel=0.02)


def test_report_table_shows_gain_over_the_same_backbone(tmp_path):
    def method(name, arch, n, ap, hr):
        return {'name': name, 'arch': arch, 'instances': n, 'AP': ap, 'AP50': ap + 10, 'AR': ap + 2,
                'hidden_recall': hr, 'checkpoint': f'{name}.pth', 'trained_on': 't.json', 'device': 'cpu',
                'epochs': 5.0}
    methods = [method('hrnet_n1', 'hrnet_w16s', 1, 10.0, 0.2), method('hrnet_n2', 'hrnet_w16s', 2, 13.5, 0.35),
               method('rn_n1', 'resnet18', 1, 8.0, 0.1), method('rn_n2', 'resnet18', 2, 7.0, 0.15)]
    paths = write_report({'scenes': 3, 'people': 7, 'hidden_people': 2, 'seed': 0}, methods, str(tmp_path), 'note')
    md = paths['md'].read_text()
    assert '| hrnet_n2 | hrnet_w16s | 2 | 13.5 |' in md and '| +3.5 | +0.150 |' in md
    assert '| rn_n2 | resnet18 | 2 | 7.0 |' in md and '| -1.0 | +0.050 |' in md
    assert json.loads(paths['json'].read_text())['methods'][3]['AP'] == 7.0
    assert paths['png'].stat().st_size > 1000 and md.rstrip().endswith('note')


def test_seed_repeats_are_compared_with_the_same_seed():
    def method(name, n):
        return {'name': name, 'arch': 'hrnet_w16s', 'instances': n}
    methods = [method('hrnet_n1', 1), method('hrnet_n2', 2), method('hrnet_n1_s1', 1), method('hrnet_n2_s1', 2),
               method('hrnet_n3_s2', 3)]
    assert baseline_of(methods[1], methods)['name'] == 'hrnet_n1'
    assert baseline_of(methods[3], methods)['name'] == 'hrnet_n1_s1'
    assert baseline_of(methods[4], methods)['name'] == 'hrnet_n1'      # no N=1 with seed 2: the first one
    assert baseline_of({'name': 'x', 'arch': 'resnet18', 'instances': 2}, methods) is None


def test_committed_seed_repeats_pair_every_method_with_its_own_seed():
    """docs/results/occlusion_seeds: N=1/2/3 for three seeds, equal budgets, each gain against its own seed."""
    from mipnet_ros.tools.report import seed_tag
    methods = json.loads((REPO / 'docs' / 'results' / 'occlusion_seeds' / 'occlusion.json').read_text())['methods']
    runs = {(m['instances'], seed_tag(m['name'])) for m in methods}
    assert runs == {(n, s) for n in (1, 2, 3) for s in (None, '1', '2')}
    for m in methods:
        base = baseline_of(m, methods)
        assert seed_tag(base['name']) == seed_tag(m['name']) and base['instances'] == 1
        assert base['epochs'] == pytest.approx(m['epochs'], rel=0.02)
