"""The step script's wire format: where a step finds its inputs and leaves its outputs, and how values are tagged.

Every name here is written once and handed on: the op template (`_op`) puts Argo's parameter and artifact files at
these paths, the graph (`_graph`) writes raw artifacts with these tags, the results reader (`_results`, `_argo/_fetch`)
finds digests by this prefix, and the step script (templates/step.py.j2) gets the same values in its spec (`_script`).
The text encodings themselves (MARKER, TAGS, UNSAFE: how a parameter's text travels) live with the types in `_types`.

    /tmp/flowpack/params/<name>                  a parameter's text (Argo fills a raw artifact with it)
    /tmp/flowpack/inputs/<name>                  a file, folder or pickled input
    /tmp/flowpack/outputs/parameters/<name>      an output parameter's text
    /tmp/flowpack/outputs/artifacts/<name>       a file, folder or pickled output
    /tmp/flowpack/outputs/digests/<name>         the sha256 of a pickled output (output parameter sha256-<name>)
    /tmp/flowpack/error                          the last line of the exception a failed step raised
"""

from __future__ import annotations

from ._types import ITEM_ESCAPED, JSON, MARKER, TAGS, UNSAFE, wire_tag

IO_ROOT = "/tmp/flowpack"  # the local engine and Docker put it under the step's own folder ($FLOWPACK_ROOT)
PARAMS = "params"
INPUTS = "inputs"
OUTPUT_PARAMETERS = "outputs/parameters"
OUTPUT_ARTIFACTS = "outputs/artifacts"
OUTPUT_DIGESTS = "outputs/digests"
ERROR = "error"  # a file, not a folder: the local engine reads it into the failed step's message
LAYOUT = {"params": PARAMS, "inputs": INPUTS, "parameters": OUTPUT_PARAMETERS, "artifacts": OUTPUT_ARTIFACTS,
          "digests": OUTPUT_DIGESTS, "error": ERROR}

DIGEST_PREFIX = "sha256-"  # output parameter `sha256-<name>`: the sha256 a step reports for its pickled output <name>
# A literal handed to a pickled input travels in the manifest as a raw artifact: JSON text, or a base64 pickle.
RAW_JSON = wire_tag(JSON, False)
RAW_PICKLE = "fp-pickle-b64:"

__all__ = ["IO_ROOT", "LAYOUT", "ERROR", "DIGEST_PREFIX", "RAW_JSON", "RAW_PICKLE", "MARKER", "TAGS", "UNSAFE",
           "io_path", "script_spec"]


def io_path(folder: str, name: str) -> str:
    """The path a step reads or writes `name` at, e.g. io_path(PARAMS, "n") == "/tmp/flowpack/params/n"."""
    return f"{IO_ROOT}/{folder}/{name}"


def script_spec() -> dict:
    """The wire format as the step script reads it from its spec (root, layout, tags, marker, what needs it)."""
    return {"io_root": IO_ROOT, "layout": dict(LAYOUT), "raw_pickle": RAW_PICKLE, "marker": MARKER, "tags": TAGS,
            "unsafe": UNSAFE, "item_escaped": ITEM_ESCAPED}
