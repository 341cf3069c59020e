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
    /tmp/flowpack/big/inputs/<name>              a big parameter's text, when its parameter holds BIG's marker
    /tmp/flowpack/big/outputs/<name>             a big output's text (output artifact fp-big-<name>)
    /tmp/flowpack/big/allowed                    the outputs this step may send as artifacts, one per line

A value whose text is over BIG_VALUE (128 KiB) travels as an artifact, its twin: the parameter holds
`fp-big:<bytes>:<sha256>` (BIG, in _types) and the twin artifact `fp-big-<name>` holds the text (see _bigvalue).
"""

from __future__ import annotations

from ._types import BIG, ITEM_ESCAPED, JSON, MARKER, TAGS, UNSAFE, wire_tag

IO_ROOT = "/tmp/flowpack"  # the local engine and Docker put it under the step's own folder ($FLOWPACK_ROOT)
PARAMS = "params"
INPUTS = "inputs"
OUTPUT_PARAMETERS = "outputs/parameters"
OUTPUT_ARTIFACTS = "outputs/artifacts"
OUTPUT_DIGESTS = "outputs/digests"
ERROR = "error"  # a file, not a folder: the local engine reads it into the failed step's message
BIG_INPUTS = "big/inputs"
BIG_OUTPUTS = "big/outputs"
BIG_ALLOWED = "big/allowed"  # a file: the outputs this step may send as artifacts (the task says so, see _bigvalue)
LAYOUT = {"params": PARAMS, "inputs": INPUTS, "parameters": OUTPUT_PARAMETERS, "artifacts": OUTPUT_ARTIFACTS,
          "digests": OUTPUT_DIGESTS, "error": ERROR, "big_inputs": BIG_INPUTS, "big_outputs": BIG_OUTPUTS,
          "big_allowed": BIG_ALLOWED}
BIG_VALUE = 128 * 1024  # bytes of a parameter's text (UTF-8) above which it travels as its twin (see _bigvalue)
TWIN_PREFIX = "fp-big-"  # input or output artifact fp-big-<name>: the text of parameter <name> when it is big
ALLOWED_ARTIFACT = "fp-big"  # input artifact: the outputs the step may send as twins (raw data, one name a line)

DIGEST_PREFIX = "sha256-"  # output parameter `sha256-<name>`: the sha256 a step reports for its pickled output <name>
# A literal handed to a pickled input travels in the manifest as a raw artifact: JSON text, or a base64 pickle.
RAW_JSON = wire_tag(JSON, False)
RAW_PICKLE = "fp-pickle-b64:"

__all__ = ["IO_ROOT", "LAYOUT", "ERROR", "DIGEST_PREFIX", "RAW_JSON", "RAW_PICKLE", "MARKER", "TAGS", "UNSAFE",
           "BIG", "BIG_VALUE", "TWIN_PREFIX", "ALLOWED_ARTIFACT", "io_path", "twin", "script_spec"]


def io_path(folder: str, name: str) -> str:
    """The path a step reads or writes `name` at, e.g. io_path(PARAMS, "n") == "/tmp/flowpack/params/n"."""
    return f"{IO_ROOT}/{folder}/{name}"


def twin(name: str) -> str:
    """The artifact carrying parameter `name`'s text when it is big, e.g. twin("xs") == "fp-big-xs"."""
    return TWIN_PREFIX + name


def script_spec() -> dict:
    """The wire format as the step script reads it from its spec (root, layout, tags, marker, what needs it)."""
    return {"io_root": IO_ROOT, "layout": dict(LAYOUT), "raw_pickle": RAW_PICKLE, "marker": MARKER, "tags": TAGS,
            "unsafe": UNSAFE, "item_escaped": ITEM_ESCAPED, "big": BIG, "big_value": BIG_VALUE}
