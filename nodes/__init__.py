"""FrameLoom's ComfyUI side: V3 node classes and the ModelPatcher glue. The only place that imports comfy."""
