"""Convert a PyTorch .pt/.pth/.ckpt checkpoint that FrameLoom refuses (it pickles Python objects) into .safetensors.

Run it once with ComfyUI's python, from the ComfyUI folder:
    python custom_nodes/FrameLoom/scripts/convert_checkpoint.py path/to/mp_rank_00_model_states.pt [--out-dir DIR]
Only tensors are read (DeepSpeed's 'module' entry, else the top level); no code stored in the file is run or imported.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import pathlib
import sys

PACK_ROOT = pathlib.Path(__file__).resolve().parents[1]
_PACKAGE = "frameloom_common"  # a private name, so no other 'modules' package on sys.path can be picked up instead


def _load_common():
    """FrameLoom's modules/common as a standalone package (only torch and safetensors needed, no ComfyUI)."""
    if _PACKAGE not in sys.modules:
        folder = PACK_ROOT / "modules" / "common"
        spec = importlib.util.spec_from_file_location(_PACKAGE, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[_PACKAGE] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{_PACKAGE}.pickle_convert")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=pathlib.Path, help="the .pt/.pth/.ckpt file to convert")
    parser.add_argument("--out-dir", type=pathlib.Path, default=None, help="folder for the .safetensors (default: beside it)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing .safetensors of the same name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    convert = _load_common()
    try:
        convert.convert_checkpoint(args.checkpoint, args.out_dir, overwrite=args.overwrite)  # logs what it kept and skipped
    except ValueError as exc:  # CheckpointError: a clear message, no traceback
        logging.getLogger("FrameLoom.convert").error("conversion failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
