import subprocess
import sys

import pytest

# Engine training steps of the plain CNN on real-sized batches; prints the page faults per step
# after warm-up, with glibc's defaults or after keep_freed_memory().
CHILD = """
import resource, sys
import torch
from cnnlens.training.allocator import keep_freed_memory
from cnnlens.models.cnn import build_model
from cnnlens.training.engine import Engine, TrainStep, make_optimizer
if sys.argv[1] == "kept":
    assert keep_freed_memory()
torch.manual_seed(0)
model = build_model("plain").to(memory_format=torch.channels_last)
step = TrainStep(model, make_optimizer(model, 1e-3, torch.device("cpu")), Engine())
inputs = torch.randn(64, 3, 32, 32).contiguous(memory_format=torch.channels_last)
labels = torch.randint(0, 10, (64,))
for _ in range(6):  # the heap grows to its working size
    step(inputs, labels)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step(inputs, labels)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def page_faults_per_step(mode: str) -> float:
    result = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_kept_memory_lets_training_steps_reuse_their_blocks_without_page_faults():
    default, kept = page_faults_per_step("default"), page_faults_per_step("kept")
    # By default a step's tensors go back to the kernel and fault in again (about 15,000 pages a step
    # here); kept, they come back from the heap already mapped (0 to 100).
    assert kept < default / 20
