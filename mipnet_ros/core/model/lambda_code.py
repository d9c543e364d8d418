"""Instance index -> the 2-vector lambda code that the official MIPNet gates were trained with.

The official gates take a float 2-vector, not an index, in two encodings: N=2 is one-hot ([1,0] = the box's
own person, [0,1] = the other one), N=3 and N=4 use the two bits of the index (0->[0,0], 1->[1,0], 2->[0,1],
3->[1,1]). A checkpoint only works with the code it was trained with, so both are reproduced."""
from typing import List

import torch
from torch import nn

MAX_INSTANCES = 4

_ONE_HOT = [[1.0, 0.0], [0.0, 1.0]]
_TWO_BIT = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]


def lambda_table(num_instances: int) -> List[List[float]]:
    """Rows are the codes for instance 0..N-1 (N=1 gets the N=2 'own person' row; it has no gates)."""
    if not 1 <= int(num_instances) <= MAX_INSTANCES:
        raise ValueError(f'instances must be in 1..{MAX_INSTANCES}, got {num_instances}')
    n = int(num_instances)
    if n <= 2:
        return [row[:] for row in _ONE_HOT[:n]]
    return [row[:] for row in _TWO_BIT[:n]]


class LambdaCode(nn.Module):
    """Index -> code lookup; the buffer is non-persistent so state_dict keys stay the official ones.

    A buffer and an index op, no Python control flow: the exported ONNX graph takes the int64 instance index
    and gathers the code itself.
    """

    def __init__(self, num_instances: int):
        super().__init__()
        self.num_instances = int(num_instances)
        self.register_buffer('table', torch.tensor(lambda_table(num_instances), dtype=torch.float32),
                             persistent=False)

    def forward(self, instance: torch.Tensor) -> torch.Tensor:
        return self.table[instance.long()]
