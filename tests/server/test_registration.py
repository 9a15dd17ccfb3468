"""What every FrameLoom node owes the user in the real server: category, description, a tooltip on every input."""
from __future__ import annotations


def test_every_node_has_description_and_tooltips(comfy_server):
    info = comfy_server.get("/object_info")
    ours = {k: v for k, v in info.items() if k.startswith("FrameLoom")}
    assert {"FrameLoomRIFELoader", "FrameLoomRIFEInterpolate"} <= set(ours)
    for node_id, node in ours.items():
        assert node["category"].startswith("FrameLoom/"), node_id
        assert node["description"], f"{node_id} has no description"
        inputs = {**node["input"].get("required", {}), **node["input"].get("optional", {})}
        for name, spec in inputs.items():
            assert len(spec) > 1 and spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"


def test_shipped_workflows_are_offered_as_templates(comfy_server):
    templates = comfy_server.get("/workflow_templates")
    assert "frameloom_rife_interpolate" in templates.get("FrameLoom", [])


def test_every_node_has_a_help_page(comfy_server):
    """The frontend's node help panel reads web/docs/<NodeID>.md through the pack's web directory."""
    import urllib.request

    info = comfy_server.get("/object_info")
    for node_id in (k for k in info if k.startswith("FrameLoom")):
        with urllib.request.urlopen(f"{comfy_server.url}/extensions/FrameLoom/docs/{node_id}.md", timeout=10) as resp:
            text = resp.read().decode()
        assert resp.status == 200 and text.startswith("# "), node_id
