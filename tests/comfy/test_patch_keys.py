"""Coexistence (issue 8): every name FrameLoom adds to a shared ComfyUI namespace is namespaced, so packs that patch
the same MODEL (AnimateDiff-Evolved uses "ADE", "ADE_params", "ad_params", ...) or register types beside ours
(VideoHelperSuite's VHS_*) can never overwrite or read our entries, nor we theirs.

The MODEL is patched by FrameLoom's own nodes (FancyVideo Apply, FreeNoise, Randomized Blending) and by the Fairy
anchor-attention patch. Whatever each adds to model_options, transformer_options, wrappers, callbacks, attachments,
additional models or injections is diffed against its input; a new key must contain "frameloom" unless it is one of
ComfyUI's own slot names, which are read from comfy.model_patcher's source (so a new ComfyUI slot needs no edit here).
"""
from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from typing import Any, Iterator

import pytest

from tests.support import freenoise_models as tiny

pytestmark = pytest.mark.comfy

MARK = "frameloom"  # what a namespaced key contains (case-insensitive)
TYPE_PREFIX = "FRAMELOOM_"  # what a custom IO type starts with
NODE_PREFIX = "FrameLoom"


# --- ComfyUI's own names -----------------------------------------------------------------------------------------
def comfy_names() -> dict[str, set[str]]:
    """The names ComfyUI's ModelPatcher itself writes: top-level model_options keys, the transformer_options
    containers and the patch slots inside them (set_model_*_patch / *_replace)."""
    import comfy.model_patcher

    source = inspect.getsource(comfy.model_patcher)
    return {
        "model_options": set(re.findall(r'model_options\["(\w+)"\]', source)),
        "transformer_options": set(re.findall(r'\bto\["(\w+)"\]', source)),
        "slots": set(re.findall(r'set_model_patch(?:_replace)?\(\s*\w+\s*,\s*"(\w+)"', source)),
    }


def _keyed(patcher) -> Iterator[tuple[str, str]]:
    """(place, key) for every keyed registry of a ModelPatcher that several packs share."""
    for kind, by_key in patcher.wrappers.items():
        for key in by_key:
            yield f"wrappers[{kind}]", key
    for kind, by_key in patcher.callbacks.items():
        for key in by_key:
            yield f"callbacks[{kind}]", key
    for place in ("attachments", "additional_models", "injections"):
        for key in getattr(patcher, place):
            yield place, key
    options = patcher.model_options
    for key in options:
        yield "model_options", key
    transformer = options.get("transformer_options", {})
    for key in transformer:
        yield "transformer_options", key
    for container in ("patches", "patches_replace"):
        for slot in transformer.get(container, {}):
            yield f"transformer_options[{container}]", slot


def foreign_keys(before, after, names: dict[str, set[str]]) -> list[str]:
    """Keys `after` has and `before` lacks that are neither namespaced nor ComfyUI's own."""
    allowed = {
        "model_options": names["model_options"],
        "transformer_options": names["transformer_options"],
        "transformer_options[patches]": names["slots"],
        "transformer_options[patches_replace]": names["slots"],
    }
    old = set(_keyed(before))
    bad = []
    for place, key in _keyed(after):
        if (place, key) in old or key in allowed.get(place, ()):
            continue
        if MARK not in str(key).lower():
            bad.append(f"{place}: {key!r}")
    return bad


def unknown_object_patches(patcher) -> list[str]:
    """Object patches replace attributes by path; the path must name an existing attribute, never a made-up key."""
    import comfy.utils

    bad = []
    for path in patcher.object_patches:
        try:
            comfy.utils.get_attr(patcher.model, path)
        except AttributeError:
            bad.append(path)
    return bad


# --- the patched models ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chain(frameloom, comfy_runtime, vectors_dir) -> list[tuple[str, Any]]:
    """(step, MODEL) along SD1.5 -> FancyVideo Apply -> FreeNoise -> Randomized Blending -> Fairy anchor attention."""
    from FrameLoom.modules.fairy import AnchorCache
    from FrameLoom.nodes.fairy.patch import apply_anchor_attention
    from FrameLoom.nodes.fancyvideo.handles import FancyVideoHandle
    from FrameLoom.nodes.fancyvideo.nodes import FrameLoomFancyVideoApply
    from FrameLoom.nodes.freenoise.node import FrameLoomFreeNoise
    from FrameLoom.nodes.streamingt2v.node import FrameLoomRandomizedBlending

    base = tiny.sd15_model(comfy_runtime)
    handle = FancyVideoHandle(weights=tiny.fancyvideo_weights(vectors_dir), filename="tiny")
    fancy = FrameLoomFancyVideoApply.execute(base, handle, 25.0, 3.0).result[0]
    freenoise = FrameLoomFreeNoise.execute(fancy, 16, 4, "pyramid", "official_shuffle", shuffle_seed=1).result[0]
    blending = FrameLoomRandomizedBlending.execute(freenoise, 8, 2, 0, "torch").result[0]
    fairy = apply_anchor_attention(blending, AnchorCache(), "anchor")
    return [("SD1.5", base), ("FancyVideo Apply", fancy), ("FreeNoise", freenoise),
            ("Randomized Blending", blending), ("Fairy anchor attention", fairy)]


def test_comfy_names_are_found(comfy_runtime):
    """The allow-lists come from ComfyUI's source; if its wording changed, fail here rather than allow nothing."""
    names = comfy_names()
    assert {"patches", "patches_replace"} <= names["transformer_options"]
    assert {"attn1", "emb_patch", "forward_timestep_embed_patch"} <= names["slots"]
    assert "transformer_options" in names["model_options"]


def test_each_patch_adds_only_namespaced_keys(chain):
    names = comfy_names()
    problems = []
    for (_, before), (step, after) in zip(chain, chain[1:]):
        problems += [f"{step}: {p}" for p in foreign_keys(before, after, names)]
        assert list(_keyed(after)) != list(_keyed(before)) or after.object_patches != before.object_patches, step
    assert not problems, "un-namespaced keys (add 'frameloom' to them):\n" + "\n".join(problems)


def test_the_patches_register_under_their_keys(chain):
    """What the audit expects to find: each patch really uses its namespaced registry entries (so the test above
    looks at the places they live, and a rename shows up here)."""
    from FrameLoom.nodes.fancyvideo.unet_patch import ATTEND_OPTION

    model = chain[-1][1]
    keys = set(_keyed(model))
    assert ("attachments", "frameloom_fancyvideo") in keys and ("attachments", "frameloom_freenoise") in keys
    assert ("additional_models", "frameloom_fancyvideo") in keys
    assert ("transformer_options", ATTEND_OPTION) in keys and MARK in ATTEND_OPTION
    wrapper_keys = {key for place, key in _keyed(model) if place.startswith("wrappers")}
    assert {"frameloom_freenoise", "frameloom_randomized_blending", "frameloom_fairy_anchor_attention"} <= wrapper_keys


def test_object_patches_name_existing_attributes(chain):
    for step, model in chain[1:]:
        assert not unknown_object_patches(model), step


def test_the_check_catches_an_unnamespaced_key(chain):
    """The audit can fail: keys like AnimateDiff-Evolved's are reported, a namespaced one is not."""
    import comfy.patcher_extension

    names = comfy_names()
    before = chain[-1][1]
    after = before.clone()
    after.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, "ADE", lambda executor, *a, **k: None)
    after.set_attachments("ADE_params", object())
    after.model_options["transformer_options"]["ad_params"] = {}
    after.model_options["transformer_options"].setdefault("patches", {})["my_patch"] = []
    after.set_attachments("frameloom_something_new", object())
    found = foreign_keys(before, after, names)
    assert sorted(found) == sorted([
        f"wrappers[{comfy.patcher_extension.WrappersMP.OUTER_SAMPLE}]: 'ADE'", "attachments: 'ADE_params'",
        "transformer_options: 'ad_params'", "transformer_options[patches]: 'my_patch'",
    ])


# --- names in the node registry ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def schemas(frameloom) -> list:
    extension = importlib.import_module("FrameLoom.nodes.extension").FrameLoomExtension()
    return [node.define_schema() for node in asyncio.run(extension.get_node_list())]


def custom_types(schemas) -> dict[str, list[str]]:
    """Our IO type names (those ComfyUI's io module does not define) -> the node.socket that uses each."""
    from comfy_api.latest import io

    builtin = {v.io_type for v in vars(io).values() if isinstance(v, type) and isinstance(getattr(v, "io_type", None), str)}
    found: dict[str, list[str]] = {}
    for schema in schemas:
        for socket in [*schema.inputs, *schema.outputs]:
            for name in socket.get_io_type().split(","):  # "FRAMELOOM_CVVAE,VAE" accepts either
                if name not in builtin:
                    found.setdefault(name, []).append(f"{schema.node_id}.{socket.id or socket.display_name}")
    return found


def test_node_ids_are_prefixed(schemas):
    ids = [schema.node_id for schema in schemas]
    assert ids and all(node_id.startswith(NODE_PREFIX) for node_id in ids), ids


def test_custom_io_types_are_prefixed(schemas):
    found = custom_types(schemas)
    assert found, "no custom IO types found: the scan is broken"
    bad = {name: users for name, users in found.items() if not name.startswith(TYPE_PREFIX)}
    assert not bad, f"custom IO types without the {TYPE_PREFIX} prefix can collide with other packs' types:\n" + "\n".join(
        f"{name} (used by {', '.join(sorted(set(users))[:3])})" for name, users in sorted(bad.items()))
