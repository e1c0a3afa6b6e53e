"""Shared by the fault-injection tests: the stock image built once per test run, and the
stock system booted to a campaign's golden point.

`stock_image(tmp_path_factory)` builds guest/system.toml into a temporary folder once
(the image and its disk.img side by side) and returns the image's path.
`golden_system(image, **settings)` boots it to the golden point of a printer campaign
with those settings and returns (live, settings, golden); `live_at_golden_point` boots
another copy to the same point (the golden run moves the first one past it).
"""

from pathlib import Path

from tools.build import build_image
from tools.inject.forkserver import boot_golden_point
from tools.inject.golden import run_golden
from tools.inject.settings import make_settings

SYSTEM = Path(__file__).resolve().parent.parent / "guest" / "system.toml"
_BUILT = {}


def stock_image(tmp_path_factory):
    if "image" not in _BUILT:
        folder = tmp_path_factory.mktemp("inject-stock")
        image = folder / "minix.img"
        build_image(SYSTEM, image, folder)
        _BUILT["image"] = image
    return _BUILT["image"]


def golden_system(image, faults=100, **given):
    settings = make_settings("printer", faults, **given)
    golden = run_golden(boot_golden_point(image, settings), settings)
    return boot_golden_point(image, settings), settings, golden
