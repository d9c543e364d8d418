"""Published peak arithmetic rates of the GPUs we report against.

A measured throughput only means something next to what the chip could do, so the benchmark
states achieved TFLOP/s as a fraction of these peaks. The figures are NVIDIA's datasheet values
for dense math (no 2:4 sparsity): FP32 on the CUDA cores, TF32 and FP16 on the tensor cores.
H200 has the H100's compute with more and faster memory. Only parts whose datasheets we have
are listed; any other device gets no fraction rather than a guessed one.
"""
from typing import Dict, Optional, Tuple

# name -> peaks in TFLOPS; matched against torch.cuda.get_device_name() by the keys in PEAK_MATCH
GPU_PEAKS_TFLOPS: Dict[str, Dict[str, float]] = {
    'NVIDIA H100 SXM': {'fp32': 67.0, 'tf32_tensor': 494.7, 'fp16_tensor': 989.4},
    'NVIDIA H200 SXM': {'fp32': 67.0, 'tf32_tensor': 494.7, 'fp16_tensor': 989.4},
    'NVIDIA A100 SXM': {'fp32': 19.5, 'tf32_tensor': 156.0, 'fp16_tensor': 312.0},
}

# substring of the reported device name (upper case) -> table entry. 'H100 PCIE' and 'H100 NVL' have
# lower clocks than the SXM part, so they are not matched to it.
PEAK_MATCH: Tuple[Tuple[str, str], ...] = (
    ('H200', 'NVIDIA H200 SXM'),
    ('H100 80GB HBM3', 'NVIDIA H100 SXM'),
    ('H100 SXM', 'NVIDIA H100 SXM'),
    ('A100-SXM', 'NVIDIA A100 SXM'),
    ('A100 SXM', 'NVIDIA A100 SXM'),
)


def peaks_for(device_name: str) -> Optional[Tuple[str, Dict[str, float]]]:
    """(table name, peaks) for a device name as torch reports it, or None when we have no datasheet."""
    upper = str(device_name or '').upper()
    for key, entry in PEAK_MATCH:
        if key in upper:
            return entry, dict(GPU_PEAKS_TFLOPS[entry])
    return None


def precision_peak(peaks: Dict[str, float], precision: str) -> float:
    """The peak that bounds a precision: strict fp32 -> CUDA cores, tf32 -> TF32 tensor, fp16 -> FP16 tensor."""
    key = {'fp32': 'fp32', 'tf32': 'tf32_tensor'}.get(precision.split('_')[0], 'fp16_tensor')
    return peaks[key]
