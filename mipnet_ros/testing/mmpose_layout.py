"""A state dict of ours renamed into mmpose's checkpoint layout (0.x or 1.x), as the model zoo serves them."""
import numpy as np


def to_mmpose(state, version: str) -> dict:
    """mmpose checkpoint payload: backbone under `backbone.`, the head as `keypoint_head.` (0.x) or `head.` (1.x),
    1.x preprocessor buffers, and numpy scores in `meta` as mmpose's evaluation hook leaves them."""
    import torch
    head = {'0.x': 'keypoint_head.', '1.x': 'head.'}[version]
    out = {(head if k.startswith('final_layer.') else 'backbone.') + k: v for k, v in state.items()}
    if version == '1.x':
        out['data_preprocessor.mean'] = torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
        out['data_preprocessor.std'] = torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)
    return {'meta': {'mmpose_version': version, 'hook_msgs': {'best_score': np.float64(0.746)}},
            'state_dict': out}
