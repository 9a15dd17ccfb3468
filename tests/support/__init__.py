"""Test-only helpers: rebuilding reference weights, generating tiny checkpoints, running a real ComfyUI."""
