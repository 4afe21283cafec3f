"""The offline demo corpus: realistic infant clips whose right answers are known.

Faces come from photos that ship inside installed packages, animated by a warp over MediaPipe's
landmark mesh; audio is synthesised (cries, laughter) and contaminated at known gains. Each clip
has a ground-truth JSON with the verdict the pipeline owes it.

Public API: `generate_corpus`, `serve_corpus`, `write_contact_sheet`. Callers that generate with
`workers > 1` from a script need the `if __name__ == "__main__":` guard (spawned workers).
"""

from __future__ import annotations

from typing import Any

__all__ = ["generate_corpus", "serve_corpus", "write_contact_sheet"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not pull in OpenCV, scipy or mediapipe.
    if name == "generate_corpus":
        from demo.corpus import generate_corpus

        return generate_corpus
    if name == "serve_corpus":
        from demo.server import serve_corpus

        return serve_corpus
    if name == "write_contact_sheet":
        from demo.preview import write_contact_sheet

        return write_contact_sheet
    raise AttributeError(name)
