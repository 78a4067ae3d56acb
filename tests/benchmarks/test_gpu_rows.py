"""benchmarks/gpu_rows.py: which GPU nvidia-smi is asked about, and what the sampler keeps of its readings."""

import os
import time

import pytest
import torch

from benchmarks import gpu_rows


def test_nvidia_smi_is_read_for_the_visible_gpu(tmp_path, monkeypatch):
    # A stand-in nvidia-smi that answers "<4 then the -i index>, 1234": which GPU was asked for shows in the reply.
    smi = tmp_path / "nvidia-smi"
    smi.write_text('#!/bin/sh\nfor a; do last=$a; done\necho "4$last, 1234"\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    source, read = gpu_rows.utilization_reader(torch.device("cuda", 1))
    assert source == "nvidia-smi" and read() == (45.0, 1234.0)  # torch's cuda:1 is the machine's GPU 5
    assert gpu_rows.utilization_reader(torch.device("cpu")) == ("n/a (no CUDA device)", None)


def test_sampler_averages_what_it_read_in_its_window():
    readings = iter([(10.0, 100.0), (30.0, None)] + [(50.0, 300.0)] * 1000)
    sampler = gpu_rows.UtilizationSampler(lambda: next(readings), interval=0.01)
    sampler.start()
    while len(sampler.samples) < 3:
        time.sleep(0.01)
    sampler.stop()
    count = len(sampler.samples)
    time.sleep(0.05)
    assert len(sampler.samples) == count  # stopped means stopped
    utilization = [u for u, _ in sampler.samples]
    assert sampler.mean_utilization() == pytest.approx(sum(utilization) / count)
    assert sampler.max_memory() == 300.0  # a reading without memory (NVML) is left out, not taken as 0
    assert gpu_rows.UtilizationSampler(None).mean_utilization() is None
