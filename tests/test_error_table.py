"""The error table: every code has both languages, a status and an exit code."""

from __future__ import annotations

from drivers.errors import TokenError
from signer.errors import KINDS, SignerError, as_signer_error


def test_every_code_is_complete() -> None:
    for code, kind in KINDS.items():
        assert code == code.upper()
        assert kind.message_en and kind.message_vi and kind.message_en != kind.message_vi
        assert 400 <= kind.http_status < 600
        assert kind.exit_code not in (0, 1, 2)  # 1 and 2 belong to Python and argparse


def test_security_model_codes_exist() -> None:
    for code in ("TOKEN_NOT_PRESENT", "PIN_INCORRECT", "PIN_LOCKED", "USER_CANCELLED", "DOCUMENT_INVALID"):
        assert code in KINDS


def test_token_errors_map_with_their_facts() -> None:
    error = as_signer_error(TokenError("PIN_INCORRECT", "wrong PIN", final_try=True))
    assert error.code == "PIN_INCORRECT"
    assert "One try left" in error.message_en and "Chỉ còn một lần thử" in error.message_vi
    assert error.as_dict() == {"code": "PIN_INCORRECT", "message": error.message_en, "message_vi": error.message_vi}
    assert as_signer_error(TokenError("SOMETHING_NEW")).code == "TOKEN_ERROR"
    assert as_signer_error(KeyboardInterrupt()).code == "USER_CANCELLED"
    assert as_signer_error(RuntimeError("boom")).code == "INTERNAL_ERROR"
    assert as_signer_error(SignerError("CERT_NOT_FOUND", "x")).detail == "x"
