"""The flowpack.io/given-files annotation (which files a list[Path] workflow parameter was given, for
`flowpack run --params-from`) stays within a budget: Kubernetes refuses a Workflow whose annotations hold over
256 KiB in all, so a list too long to record is left out rather than making the manifest unsubmittable."""

from __future__ import annotations

import json

from flowpack._bigvalue import UPLOAD_PREFIX
from flowpack._given_files import GIVEN_FILES, GIVEN_FILES_BUDGET, GivenFile, given_files_annotation, given_files_of


def _files(n: int, folder: bool = False) -> list[GivenFile]:
    return [GivenFile(f"{UPLOAD_PREFIX}/{i:064x}", folder) for i in range(n)]


def test_lists_that_fit_are_recorded_and_read_back_in_order():
    given = {"pages": _files(3), "dirs": _files(2, folder=True)}
    manifest = {"metadata": {"annotations": given_files_annotation(given)}}
    assert given_files_of(manifest) == given


def test_a_list_too_long_to_record_is_left_out_and_the_others_kept():
    given = {"many": _files(2000), "few": _files(2)}
    annotations = given_files_annotation(given)
    assert len(annotations[GIVEN_FILES]) <= GIVEN_FILES_BUDGET < 256 * 1024
    assert json.loads(annotations[GIVEN_FILES]).keys() == {"few"}
    assert given_files_of({"metadata": {"annotations": annotations}}) == {"few": given["few"]}
    assert given_files_annotation({"many": _files(2000)}) == {}
