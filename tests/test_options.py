"""The signature options, described once: the command line, the API's fields, the OpenAPI document
and the VGCA frame agree on them."""

from __future__ import annotations

import argparse

import pytest

from policies.profiles import copy_forms
from signer.api.openapi import document
from signer.cli import preview, sign, sign_batch
from signer.errors import SignerError
from signer.service.options import (
    SPECS,
    PdfSignOptions,
    PlacementRequest,
    from_arguments,
    from_fields,
    from_vgca,
    names,
)

GIVEN = {"cert": "clerk", "reason": "Phát hành", "location": "Hà Nội", "profile": "issued", "anchor": "Nơi nhận",
         "page": "-1", "rect": "10,20,110,60.5", "doc_number": "45/QĐ-UBND", "issued_date": "2026-11-22",
         "copy_form": "SAO LỤC", "comment": "Đồng ý", "level": "B-LT"}
EXPECTED = PdfSignOptions(reason="Phát hành", location="Hà Nội", profile="issued",
                          placement=PlacementRequest(page=-1, rect=(10, 20, 110, 60.5), anchor="Nơi nhận"),
                          doc_number="45/QĐ-UBND", issued_date="2026-11-22", copy_form="SAO LỤC", comment="Đồng ý",
                          level="B-LT")


def parse(register, command: str, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))
    return parser.parse_args([command, *argv])


def test_the_command_line_and_the_api_read_the_same_options() -> None:
    assert set(GIVEN) == {spec.name for spec in SPECS}
    argv = ["--cert", "clerk", "--reason", "Phát hành", "--location", "Hà Nội", "--profile", "issued", "--anchor",
            "Nơi nhận", "--page", "-1", "--rect", "10,20,110,60.5", "--doc-number", "45/QĐ-UBND", "--issued-date",
            "2026-11-22", "--copy-form", "SAO LỤC", "--comment", "Đồng ý", "--level", "B-LT"]
    assert from_arguments(parse(sign.register, "sign", "in.pdf", "-o", "out.pdf", *argv)) == (EXPECTED, "clerk")
    assert from_fields(GIVEN) == (EXPECTED, "clerk")


def test_left_out_or_empty_options_keep_the_defaults() -> None:
    defaults = (PdfSignOptions(), None)
    assert from_arguments(parse(sign.register, "sign", "in.pdf", "-o", "out.pdf")) == defaults
    assert from_fields({}) == defaults
    assert from_fields({name: "" for name in GIVEN}) == defaults


def test_preview_and_batches_take_their_share() -> None:
    args = parse(preview.register, "preview", "in.pdf", "-o", "out.png", "--profile", "copy", "--copy-form",
                 "TRÍCH SAO", "--cert", "leader")
    assert from_arguments(args, "preview") == (PdfSignOptions(profile="copy", copy_form="TRÍCH SAO"), None)
    with pytest.raises(SystemExit):
        parse(preview.register, "preview", "in.pdf", "-o", "out.png")  # a preview needs its profile
    assert names("batch") == ("cert", "profile", "level")
    args = parse(sign_batch.register, "sign-batch", "folder", "-o", "out", "--profile", "approved", "--cert", "x")
    assert (args.profile, args.cert, args.level) == ("approved", "x", None)


@pytest.mark.parametrize(("fields", "message"), [
    ({"page": "two"}, "page must be a number and rect four numbers x1,y1,x2,y2"),
    ({"rect": "1,2,x,4"}, "page must be a number and rect four numbers x1,y1,x2,y2"),
    ({"rect": "1,2,3"}, "rect must be four numbers x1,y1,x2,y2"),
])
def test_bad_numbers_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(SignerError) as caught:
        from_fields(fields)
    assert (caught.value.code, caught.value.detail) == ("BAD_REQUEST", message)


def test_a_bad_rectangle_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(sign.register, "sign", "in.pdf", "-o", "out.pdf", "--rect", "1,2,3")
    assert "expected four numbers: x1,y1,x2,y2" in capsys.readouterr().err


def test_the_openapi_document_lists_the_same_options() -> None:
    paths = document()["paths"]
    pdf = paths["/v1/sign/pdf"]["post"]
    assert [p["name"] for p in pdf["parameters"]] == [spec.name for spec in SPECS]
    form = pdf["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert list(form) == ["file", *(spec.name for spec in SPECS)]
    assert form["copy_form"]["enum"] == list(copy_forms())
    batch = paths["/v1/batches"]["post"]
    assert [p["name"] for p in batch["parameters"]] == list(names("batch"))
    assert set(batch["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]) == \
        {"file", *names("batch")}
    assert [p["name"] for p in paths["/v1/sign/cms"]["post"]["parameters"]] == ["cert"]


@pytest.mark.parametrize(("frame", "expected"), [
    ({"DocNumber": "12/QĐ", "IssuedDate": "2026-11-22", "CopyForm": "sao lục", "Comment": "Đồng ý"},
     {"doc_number": "12/QĐ", "issued_date": "2026-11-22", "copy_form": "SAO LỤC", "comment": "Đồng ý"}),
    ({"CopyType": "TRÍCH SAO", "Content": "Xem lại"}, {"copy_form": "TRÍCH SAO", "comment": "Xem lại"}),
    ({"CopyForm": "BẢN CHỤP", "Comment": "", "Content": "Nội dung"}, {"copy_form": "SAO Y", "comment": "Nội dung"}),
    ({"DocNumber": None, "cert": "other", "level": "B-LTA"}, {}),  # the frame names no other option
])
def test_the_vgca_frame(frame: dict, expected: dict) -> None:
    assert from_vgca(frame, "copy") == PdfSignOptions(profile="copy", **expected)
