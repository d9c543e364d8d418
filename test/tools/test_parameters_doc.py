"""docs/parameters.md is what the node's parameter specs say, and names every declared parameter."""
import re

from mipnet_ros.tools import parameters_doc


def test_the_parameters_doc_is_generated_from_the_specs():
    assert parameters_doc.DOC.read_text() == parameters_doc.render(), \
        'docs/parameters.md is stale: run python -m mipnet_ros.tools.parameters_doc --write'


def test_every_declared_parameter_has_a_row():
    from mipnet_ros.ros.pose_params import SPECS
    rows = set(re.findall(r'^\| `([^`]+)` \|', parameters_doc.DOC.read_text(), re.M))
    assert rows == {s.name for s in SPECS}
