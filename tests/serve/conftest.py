"""Fixtures for the ``colorize serve`` tests: a stand-in colorizer, an app on it, a server on a free port.

A real trained run is ``tiny_run`` of tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from colorize.inference.full_resolution import colorize_image


class ConvColor(nn.Module):
    """L (B, 1, h, w) -> ab (B, 2, h, w) in [-0.3, 0.3]: enough colour to measure, sides multiples of 4."""

    stride = 4

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator))
            self.conv.bias.copy_(torch.tensor([0.5, -0.5]))

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        return 0.3 * torch.tanh(self.conv(L))


class FakeColorizer:
    """What :func:`colorize.inference.colorizer.load_colorizer` returns, without a checkpoint: fast app tests."""

    def __init__(self, name: str = "fake", info: dict | None = None) -> None:
        self.generator = ConvColor().eval()
        self.image_size = 16
        self.name = name
        self.source = f"memory:{name}"
        self.info = info if info is not None else {}
        self.calls = 0

    @property
    def network(self) -> nn.Module:
        return self.generator  # no mirror averaging

    @property
    def takes_hints(self) -> bool:
        return False

    def colorize(self, rgb: torch.Tensor, hints=None) -> torch.Tensor:
        if hints:
            raise ValueError(f"{self.name} was trained without hints: it cannot take them")
        self.calls += 1
        return colorize_image(self.generator, rgb, target_size=self.image_size).cpu()


@contextlib.contextmanager
def running_server(app, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free port of ``host``; yields the port.

    The port is chosen by the OS (port 0) and read back, so parallel runs never collide.
    """
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start within 30 s")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def serve_app():
    """``make(**store_kwargs) -> (app, store, colorizers)`` on two fake models with a test row each."""
    from colorize.serve.app import create_app
    from colorize.serve.catalog import Catalog, ModelChoice
    from colorize.serve.uploads import PhotoStore

    model_row = {"pixel_acc@5%": 0.6, "pixel_acc@2%": 0.3, "psnr": 20.0}
    rows = {"results": {"model": model_row, "all-gray": {"pixel_acc@2%": 0.2}}}
    colorizers = {"first": FakeColorizer("first", info=rows), "second": FakeColorizer("second")}
    stores = []

    def make(allowed_hosts=None, **store_kwargs):
        choices = [ModelChoice(name, Path(name)) for name in colorizers]
        catalog = Catalog(choices, loader=lambda path, device: colorizers[str(path)])
        store = PhotoStore(**store_kwargs)
        stores.append(store)
        return create_app(catalog, store, allowed_hosts=allowed_hosts), store, colorizers

    yield make
    for store in stores:
        store.close()


@pytest.fixture(scope="session")
def serve_in_thread():
    """:func:`running_server`, for tests in other files (conftest modules are not importable by name)."""
    return running_server


@pytest.fixture
def fake_colorizer_class():
    return FakeColorizer
