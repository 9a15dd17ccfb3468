"""Import-only stand-in for torchvision in FrameLoom's CPU test runtime.

PyPI has no CPU build of torchvision for the pinned torch, yet a few ComfyUI model files import it at
module level. This lets those imports succeed; any real use raises. FrameLoom itself never imports it.
"""
import sys
import types

__version__ = "0.0.0+frameloom-stub"


class _Missing(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise RuntimeError(f"torchvision is a stub in the FrameLoom test runtime; '{self.__name__}.{name}' is unavailable")


for _sub in ("transforms", "transforms.functional", "transforms.v2", "ops", "io", "models", "utils", "datasets"):
    _mod = _Missing(f"{__name__}.{_sub}")
    sys.modules[_mod.__name__] = _mod


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return sys.modules.get(f"{__name__}.{name}") or _Missing(f"{__name__}.{name}")
