"""Process-wide settings: what facelab sets on import, and its thread-count helper."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from facelab.device import one_cpu_thread


def _capacity(env: dict[str, str]) -> str:
    code = "import os, facelab; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_onednn_cache_is_capped_unless_the_user_set_it() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    assert _capacity(env) == "128"
    assert _capacity({**env, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"}) == "1024"


def test_one_cpu_thread_restores_the_thread_count_even_on_errors() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_cpu_thread(torch.device("cpu")):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), one_cpu_thread(torch.device("cpu")):
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 2
        with one_cpu_thread(torch.device("cuda")):  # nothing to do for a GPU
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
