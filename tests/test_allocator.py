import subprocess
import sys

import pytest

# Training steps of the plain CNN on a batch of 64; prints the page faults per step after warm-up.
CHILD = """
import resource, sys
import torch
import torch.nn.functional as F
from cnnlens.allocator import keep_freed_memory
from cnnlens.models import build_model
if sys.argv[1] == "kept":
    assert keep_freed_memory()
torch.set_num_threads(1)
model = build_model("plain").to(memory_format=torch.channels_last)
optimizer = torch.optim.Adam(model.parameters())
inputs, labels = torch.randn(64, 3, 32, 32).contiguous(memory_format=torch.channels_last), torch.zeros(64).long()
def step():
    optimizer.zero_grad()
    F.cross_entropy(model(inputs), labels).backward()
    optimizer.step()
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def page_faults_per_step(mode: str) -> float:
    result = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_tensors_are_reused_without_page_faults():
    default, kept = page_faults_per_step("default"), page_faults_per_step("kept")
    assert default > 500  # by default freed activations go back to the kernel and fault in again each step
    assert kept < default / 10
