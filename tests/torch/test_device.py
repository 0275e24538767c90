"""seqlib.torch.device: argument, then $SEQLIB_DEVICE, then CUDA when present, then CPU."""

import pytest
import torch

import seqlib.torch as st


def test_default_is_cuda_when_available(monkeypatch):
    monkeypatch.delenv("SEQLIB_DEVICE", raising=False)
    assert st.device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_environment_variable_overrides_the_default(monkeypatch):
    monkeypatch.setenv("SEQLIB_DEVICE", "cpu")
    assert st.device() == torch.device("cpu")
    monkeypatch.setenv("SEQLIB_DEVICE", "tpu-please")
    with pytest.raises(ValueError, match=r"\$SEQLIB_DEVICE is 'tpu-please', not a device name"):
        st.device()


def test_argument_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("SEQLIB_DEVICE", "tpu-please")
    assert st.device("cpu") == torch.device("cpu")
    assert st.device(torch.device("cpu")) == torch.device("cpu")


def test_cuda_without_a_gpu_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"argument asks for 'cuda' but CUDA is not available"):
        st.device("cuda")
    monkeypatch.setenv("SEQLIB_DEVICE", "cuda:0")
    with pytest.raises(ValueError, match=r"\$SEQLIB_DEVICE asks for 'cuda:0'"):
        st.device()
    monkeypatch.delenv("SEQLIB_DEVICE")
    assert st.device() == torch.device("cpu")
