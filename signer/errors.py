"""Every error the signer reports: a stable code, a message in Vietnamese and English,
and how it maps to an HTTP status and a command-line exit code.

This table is the one place where codes meet users. Failures from ``drivers`` carry the
same codes and are converted at the key layer (``signer.keys``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any



@dataclass(frozen=True)
class ErrorKind:
    code: str
    http_status: int
    exit_code: int
    message_en: str
    message_vi: str


_KINDS = (
    # 3: configuration and environment
    ErrorKind("CONFIG_INVALID", 500, 3, "The configuration is invalid: {detail}",
              "Cấu hình không hợp lệ: {detail}"),
    ErrorKind("MODULE_NOT_FOUND", 503, 3, "No PKCS#11 module found: {detail}",
              "Không tìm thấy thư viện PKCS#11 của token: {detail}"),
    ErrorKind("MODULE_LOAD_FAILED", 503, 3, "A PKCS#11 module could not be loaded: {detail}",
              "Không nạp được thư viện PKCS#11: {detail}"),
    # 4: the document
    ErrorKind("DOCUMENT_INVALID", 422, 4, "The document is not valid: {detail}",
              "Văn bản không hợp lệ: {detail}"),
    ErrorKind("DOCUMENT_ENCRYPTED", 422, 4,
              "The PDF is password-protected; remove the protection before signing",
              "Tệp PDF đang được đặt mật khẩu; hãy gỡ mật khẩu trước khi ký"),
    ErrorKind("ANCHOR_NOT_FOUND", 422, 4, "The place for the signature block was not found: {detail}",
              "Không tìm thấy vị trí đặt chữ ký trên văn bản: {detail}"),
    ErrorKind("FILE_UNREADABLE", 400, 4, "Cannot read the input file: {detail}",
              "Không đọc được tệp đầu vào: {detail}"),
    ErrorKind("OUTPUT_FAILED", 500, 4, "Cannot write the output file: {detail}",
              "Không ghi được tệp kết quả: {detail}"),
    # 5: the token
    ErrorKind("TOKEN_NOT_PRESENT", 409, 5, "No token connected: {detail}",
              "Không có token nào được cắm: {detail}"),
    ErrorKind("TOKEN_ERROR", 502, 5, "The token reported an error: {detail}",
              "Token báo lỗi: {detail}"),
    ErrorKind("CERT_NOT_FOUND", 404, 5, "Certificate not found: {detail}",
              "Không tìm thấy chứng thư số: {detail}"),
    ErrorKind("CERT_AMBIGUOUS", 409, 5, "Several certificates match: {detail}",
              "Có nhiều chứng thư số trùng khớp: {detail}"),
    ErrorKind("CERT_EXPIRED", 422, 5, "The certificate has expired: {detail}", "Chứng thư số đã hết hạn: {detail}"),
    ErrorKind("CERT_NOT_YET_VALID", 422, 5, "The certificate is not valid yet: {detail}",
              "Chứng thư số chưa đến thời hạn hiệu lực: {detail}"),
    ErrorKind("CERT_REVOKED", 422, 5, "The certificate has been revoked: {detail}",
              "Chứng thư số đã bị thu hồi: {detail}"),
    ErrorKind("REVOCATION_UNKNOWN", 422, 5,
              "The certificate's revocation status could not be checked: {detail}",
              "Không kiểm tra được tình trạng thu hồi của chứng thư số: {detail}"),
    ErrorKind("CERT_UNTRUSTED", 422, 5, "The certificate does not chain to a trusted authority: {detail}",
              "Chứng thư số không thuộc hệ thống chứng thực được tin cậy: {detail}"),
    ErrorKind("CERT_KEY_USAGE", 422, 5, "The certificate may not be used for signatures: {detail}",
              "Chứng thư số không được phép dùng để ký: {detail}"),
    ErrorKind("KEY_NOT_FOUND", 404, 5, "The token has no private key for this certificate",
              "Token không có khóa bí mật cho chứng thư số này"),
    # 6: the PIN
    ErrorKind("PIN_INCORRECT", 401, 6, "Wrong PIN. {tries_en}", "Sai mã PIN. {tries_vi}"),
    ErrorKind("PIN_LOCKED", 423, 6, "The token's PIN is locked; contact IT staff to unblock it",
              "Mã PIN của token đã bị khóa; liên hệ cán bộ CNTT để mở khóa"),
    ErrorKind("PIN_EXPIRED", 401, 6, "The token's PIN has expired; change it first",
              "Mã PIN của token đã hết hạn; hãy đổi PIN trước"),
    ErrorKind("PIN_UNAVAILABLE", 401, 6, "No PIN could be obtained: {detail}",
              "Không lấy được mã PIN: {detail}"),
    ErrorKind("PIN_SOURCE_REFUSED", 401, 6, "The PIN source refused: {detail}",
              "Nguồn cấp PIN từ chối: {detail}"),
    ErrorKind("USER_CANCELLED", 499, 7, "Cancelled by the user", "Người dùng đã hủy"),
    # 8: signing
    ErrorKind("SIGNING_FAILED", 500, 8, "Signing failed: {detail}", "Ký số thất bại: {detail}"),
    ErrorKind("TIMESTAMP_FAILED", 502, 8, "No timestamp could be obtained: {detail}",
              "Không lấy được dấu thời gian: {detail}"),
    # 9: requests to the daemon
    ErrorKind("NOT_LOOPBACK", 403, 9, "Only this computer may call the signer",
              "Chỉ chương trình trên máy này mới được gọi dịch vụ ký số"),
    ErrorKind("HOST_NOT_ALLOWED", 421, 9, "Unexpected Host header: {detail}",
              "Tên máy chủ (Host) không hợp lệ: {detail}"),
    ErrorKind("ORIGIN_NOT_ALLOWED", 403, 9, "This website is not allowed to use the signer: {detail}",
              "Trang web này không được phép sử dụng dịch vụ ký số: {detail}"),
    ErrorKind("AUTH_REQUIRED", 401, 9, "A local client must present the signer's API token",
              "Chương trình gọi cần xuất trình mã truy cập (API token) của dịch vụ ký số"),
    ErrorKind("CONSENT_DENIED", 403, 9, "The official did not allow this website to sign: {detail}",
              "Người dùng không cho phép trang web này ký số: {detail}"),
    ErrorKind("TOO_LARGE", 413, 9, "The request is too large (limit {limit_mb} MB)",
              "Yêu cầu quá lớn (giới hạn {limit_mb} MB)"),
    ErrorKind("RATE_LIMITED", 429, 9, "Too many requests from this website; try again shortly",
              "Trang web gửi quá nhiều yêu cầu; hãy thử lại sau ít phút"),
    ErrorKind("BUSY", 503, 9, "The signer is busy: {detail}", "Dịch vụ ký số đang bận: {detail}"),
    ErrorKind("BAD_REQUEST", 400, 9, "Invalid request: {detail}", "Yêu cầu không hợp lệ: {detail}"),
    ErrorKind("NOT_FOUND", 404, 9, "No such resource: {detail}", "Không có tài nguyên này: {detail}"),
    ErrorKind("METHOD_NOT_ALLOWED", 405, 9, "Method not allowed: {detail}",
              "Phương thức không được hỗ trợ: {detail}"),
    ErrorKind("URL_NOT_ALLOWED", 403, 9, "This address may not be used for documents: {detail}",
              "Không được phép tải hoặc gửi văn bản qua địa chỉ này: {detail}"),
    ErrorKind("DOWNLOAD_FAILED", 502, 9, "The document could not be downloaded: {detail}",
              "Không tải được văn bản: {detail}"),
    ErrorKind("UPLOAD_FAILED", 502, 9, "The signed document could not be uploaded: {detail}",
              "Không gửi được văn bản đã ký: {detail}"),
    ErrorKind("NOT_SUPPORTED", 501, 9, "Not supported yet: {detail}", "Chưa hỗ trợ: {detail}"),
    ErrorKind("LISTEN_FAILED", 500, 3, "Cannot listen on the port: {detail}",
              "Không mở được cổng dịch vụ: {detail}"),
    ErrorKind("DAEMON_UNREACHABLE", 503, 3, "The signing service is not running: {detail}",
              "Dịch vụ ký số chưa chạy: {detail}"),
    ErrorKind("TIMEOUT", 504, 9, "The operation took too long: {detail}",
              "Thao tác quá thời gian cho phép: {detail}"),
    ErrorKind("INTERNAL_ERROR", 500, 70, "Internal error: {detail}", "Lỗi nội bộ: {detail}"),
)

KINDS: dict[str, ErrorKind] = {kind.code: kind for kind in _KINDS}


class SignerError(Exception):
    """An error with a stable code; the message is built from the code's table entry."""

    def __init__(self, code: str, detail: str = "", **facts: Any) -> None:
        if code not in KINDS:
            raise ValueError(f"unknown error code {code}")
        self.code = code
        self.detail = detail
        self.facts = facts
        super().__init__(f"{code}: {self.message_en}")

    @property
    def kind(self) -> ErrorKind:
        return KINDS[self.code]

    @property
    def http_status(self) -> int:
        return self.kind.http_status

    @property
    def exit_code(self) -> int:
        return self.kind.exit_code

    @property
    def message_en(self) -> str:
        return self.kind.message_en.format(**self._fields("en")).strip()

    @property
    def message_vi(self) -> str:
        return self.kind.message_vi.format(**self._fields("vi")).strip()

    def _fields(self, lang: str) -> dict[str, str]:
        fields = {"detail": self.detail or "-", "limit_mb": str(self.facts.get("limit_mb", "-"))}
        if self.code == "PIN_INCORRECT":
            fields["tries_en"], fields["tries_vi"] = _tries_text(self.facts)
        return fields

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message_en, "message_vi": self.message_vi}


def _tries_text(facts: dict[str, Any]) -> tuple[str, str]:
    if facts.get("locked"):
        return "The PIN is now locked.", "Mã PIN đã bị khóa."
    if facts.get("final_try"):
        return ("One try left: another wrong PIN locks the token.",
                "Chỉ còn một lần thử: nhập sai nữa token sẽ bị khóa.")
    if facts.get("count_low"):
        return "Few tries remain.", "Số lần thử còn lại không nhiều."
    return "", ""


def as_signer_error(exc: BaseException) -> SignerError:
    """The one conversion from any failure to a reportable error."""
    if isinstance(exc, SignerError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return SignerError("USER_CANCELLED")
    if isinstance(exc, TimeoutError):
        return SignerError("TIMEOUT", "no answer in time")
    return SignerError("INTERNAL_ERROR", type(exc).__name__)
