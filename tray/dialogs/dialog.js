// The companion's dialogs: talk to the companion through its bridge (pywebview's
// window.pywebview.api, or functions bound as window.tray_<name>), show its state,
// Vietnamese first with English a click away. No remote resources.
"use strict";

const TEXT = {
  vi: {
    title_consent: "Yêu cầu ký số", asks: "Trang web này yêu cầu:",
    op_sign: "Ký số một tài liệu", op_batch: "Ký số {n} tài liệu (một lần duyệt cho cả lô)",
    op_hash: "Ký một giá trị băm (nội dung không hiển thị được)", op_certificate: "Xem chứng thư số và token của bạn",
    op_raw: "Ký dữ liệu do trang web gửi (nội dung không hiển thị được)", op_auth: "Xác nhận danh tính của bạn với trang web (đăng nhập)",
    pin_each: "Khóa này yêu cầu nhập lại PIN cho từng chữ ký ({n} chữ ký).",
    documents: "Tài liệu", name: "Tên", pages: "Số trang", digest: "SHA-256", unnamed: "(không tên)",
    repaired: "Tệp PDF bị hỏng nhẹ đã được sửa (ghi lại không mất nội dung); bản sửa là bản được ký",
    certificate: "Chứng thư số", holder: "Chủ thể", issuer: "Nơi cấp", validity: "Hiệu lực",
    no_certificate: "Chưa cắm token có chứng thư số", preview: "Vị trí chữ ký trên trang",
    allow_once: "Cho phép lần này", allow_always: "Luôn cho phép trang này", refuse: "Từ chối",
    title_confirm: "Xác nhận ký số", sign: "Ký", answered_sign: "Đã đồng ý ký.",
    written: "Trang web ghi vào chữ ký", reason: "Lý do", location: "Địa điểm",
    asks_pin: "Mã PIN được yêu cầu cho:", local_client: "Chương trình trên máy này (mã API)",
    pin_op_sign: "Ký số tài liệu", pin_op_batch: "Ký số một lô tài liệu", pin_op_hash: "Ký một giá trị băm",
    pin_op_certificate: "Xem chứng thư số", pin_op_raw: "Ký dữ liệu do trang web gửi",
    pin_op_auth: "Xác nhận danh tính với trang web (đăng nhập)",
    pin_op_enroll: "Đăng ký chứng thư số (tạo khóa, nạp chứng thư)", companion_client: "Cửa sổ cài đặt ký số trên máy này",
    cli_client: "Lệnh signer trên máy này", absent_client: "Chương trình trên máy này",
    title_plugin: "Hãy cắm USB token để ký", plugin_asks: "Yêu cầu ký từ:",
    plugin_help: "Chưa thấy USB token. Hãy cắm USB token vào máy tính: việc ký sẽ tự tiếp tục khi nhận được token.",
    plugin_certificate: "Chứng thư số được yêu cầu", plugin_waits: "Còn chờ {s} giây", stop_waiting: "Thôi chờ",
    plugin_stopped: "Đã thôi chờ: yêu cầu ký đã dừng.", plugin_done: "Đã nhận token, tiếp tục ký…",
    tokens_now: "USB token đang cắm", reader: "Đầu đọc / mã USB", slot: "khe {n}", atr: "ATR", driver: "Driver",
    driver_ok: "Đã cài", driver_missing: "Chưa cài: {install}", no_tokens: "(chưa cắm token nào)",
    place_title: "Đặt vị trí chữ ký", place_help: "Không tìm thấy vị trí chữ ký trong tài liệu. Kéo khung chữ ký "
      + "(hoặc dùng các phím mũi tên) đến chỗ cần ký, rồi bấm Ký (hoặc Cho phép, khi trang web xin phép lần đầu).",
    prev_page: "‹ Trang trước", next_page: "Trang sau ›", page_of: "Trang {n}/{m}", block: "Chữ ký",
    loading_page: "Đang tải trang…", page_failed: "Không hiển thị được trang này.",
    closes_in: "Tự động từ chối sau {s} giây", answered_allow: "Đã cho phép.", answered_refuse: "Đã từ chối.",
    timeout: "Hết thời gian: yêu cầu đã bị từ chối.", disconnected: "Mất kết nối với dịch vụ ký số.",
    title_pin: "Nhập mã PIN của token", token: "Token", serial: "Số sê-ri", pin: "Mã PIN",
    title_authorise: "Cấp phép ký bằng chứng thư số từ xa", service: "Dịch vụ ký số", credential: "Chứng thư số",
    signatures: "Số chữ ký", signatures_n: "{n} chữ ký", otp: "Mã xác thực một lần (OTP)",
    otp_sent: "Dịch vụ ký số vừa gửi mã OTP cho bạn.", authorisation_sent: "Đã gửi mã cấp phép cho dịch vụ ký số.",
    per_signature: "Khóa này yêu cầu nhập PIN cho từng chữ ký.",
    pinpad: "Bấm Đồng ý, rồi nhập PIN trên bàn phím của đầu đọc thẻ (không nhập ở đây).",
    ok: "Đồng ý", cancel: "Hủy", checking: "Đang kiểm tra mã PIN…", pin_sent: "Đã gửi mã PIN cho chữ ký này.", pin_ok: "Đăng nhập token thành công.",
    pin_wrong: "Sai mã PIN. Yêu cầu ký đã dừng và không được thử lại tự động.",
    left_final: "Chỉ còn MỘT lần thử: nhập sai thêm một lần nữa token sẽ bị khóa.",
    left_low: "Số lần thử còn lại không nhiều.", left_locked: "Mã PIN của token đã bị khóa.",
    cancelled: "Đã hủy.",
    title_progress: "Tiến độ ký lô tài liệu", signed_of: "Đã ký {done}/{total}", failed_n: "Lỗi: {n}",
    cancel_batch: "Hủy lô", close: "Đóng", state: "Trạng thái",
    s_pending: "Đang chờ", s_signed: "Đã ký", s_failed: "Lỗi", s_cancelled: "Đã hủy",
    b_running: "Đang ký…", b_done: "Hoàn tất.", b_failed: "Kết thúc, có tài liệu lỗi.", b_cancelled: "Đã hủy lô.",
    website: "Trang web", title_settings: "Cài đặt ký số", origins: "Trang web được phép", consented: "Đã đồng ý", listed: "Danh sách cho phép",
    revoke: "Thu hồi", yes: "Có", no: "Không", looks: "Hình chữ ký và con dấu theo chứng thư",
    signature_image: "Chữ ký", seal_image: "Con dấu", organisation: "Cơ quan", tls: "Chứng chỉ TLS cục bộ",
    tls_present: "Có", tls_missing: "Chưa tạo", days_left: "Còn {n} ngày", fingerprint: "Dấu vân tay CA",
    needs_renewal: "Cần gia hạn", none: "(chưa có)",
    enrol: "Đăng ký chứng thư số", enrol_on: "Đăng ký chứng thư số trên token {label} (số sê-ri {serial})",
    no_enrol_tokens: "(chưa cắm token nào đã được khởi tạo)", key_type: "Loại khóa", key_label: "Nhãn khóa",
    cn: "Họ tên / tên cơ quan (CN)", title_field: "Chức vụ (T)", o: "Cơ quan, tổ chức (O)", ou: "Đơn vị (OU)",
    l: "Quận, huyện, xã (L)", st: "Tỉnh, thành phố (ST)", email: "Thư điện tử (E)",
    uid: "Số định danh (UID): CMND:…, CCCD:… hoặc MST:…", create_request: "Tạo yêu cầu", save: "Lưu",
    creating: "Đang tạo cặp khóa trên token (nhập mã PIN trong hộp thoại)…",
    request_made: "Đã tạo yêu cầu cho khóa {label} (mã khóa {id}). Lưu tệp và gửi cho nơi cấp chứng thư số.",
    saved: "Đã lưu: {path}", certificate_file: "Tệp chứng thư số đã cấp (PEM hoặc DER)",
    chain_files: "Chứng thư số của các CA cấp trên (không bắt buộc)", load_certificate: "Nạp chứng thư",
    loading: "Đang nạp chứng thư số lên token (nhập mã PIN trong hộp thoại)…", choose_file: "Hãy chọn tệp chứng thư số.",
    loaded: "Đã nạp chứng thư số {label} (mã khóa {id}) lên token.", already: "Chứng thư số đã có trên token: {label}.",
    failed: "Không thực hiện được",
  },
  en: {
    title_consent: "Signing request", asks: "This website asks to:",
    op_sign: "Sign one document", op_batch: "Sign {n} documents (one approval for the batch)",
    op_hash: "Sign a bare hash (its content cannot be shown)", op_certificate: "See your certificate and tokens",
    op_raw: "Sign data the website sent (its content cannot be shown)", op_auth: "Prove your identity to the website (log in)",
    pin_each: "This key asks for the PIN again for each signature ({n} signatures).",
    documents: "Documents", name: "Name", pages: "Pages", digest: "SHA-256", unnamed: "(unnamed)",
    repaired: "A slightly damaged PDF, repaired (rewritten without losing content); the repaired copy is signed",
    certificate: "Certificate", holder: "Holder", issuer: "Issuer", validity: "Valid",
    no_certificate: "No token with a certificate is plugged in", preview: "The signature on its page",
    allow_once: "Allow once", allow_always: "Always allow this website", refuse: "Refuse",
    title_confirm: "Confirm the signature", sign: "Sign", answered_sign: "Signing.",
    written: "Written into the signature by the website", reason: "Reason", location: "Location",
    asks_pin: "The PIN is asked for:", local_client: "A program on this computer (API token)",
    pin_op_sign: "Signing a document", pin_op_batch: "Signing a batch of documents", pin_op_hash: "Signing a hash",
    pin_op_certificate: "Reading the certificate", pin_op_raw: "Signing data the website sent",
    pin_op_auth: "Proving your identity to the website (log in)",
    pin_op_enroll: "Enrolling a certificate (key pair, certificate)", companion_client: "The signing settings window on this computer",
    cli_client: "A signer command on this computer", absent_client: "A program on this computer",
    title_plugin: "Plug in your USB token to sign", plugin_asks: "The signing request comes from:",
    plugin_help: "No USB token is plugged in. Plug your USB token into this computer: signing goes on by itself once it is found.",
    plugin_certificate: "Certificate asked for", plugin_waits: "Waiting {s} s more", stop_waiting: "Stop waiting",
    plugin_stopped: "Stopped waiting: the signing request ended.", plugin_done: "Token found, signing goes on…",
    tokens_now: "USB tokens plugged in", reader: "Reader / USB id", slot: "slot {n}", atr: "ATR", driver: "Driver",
    driver_ok: "Installed", driver_missing: "Not installed: {install}", no_tokens: "(no token plugged in)",
    place_title: "Place the signature", place_help: "No place for the signature was found in the document. Drag the "
      + "signature box (or use the arrow keys) to where it belongs, then press Sign (or Allow, the first time a website asks).",
    prev_page: "‹ Previous page", next_page: "Next page ›", page_of: "Page {n} of {m}", block: "Signature",
    loading_page: "Loading the page…", page_failed: "This page cannot be shown.",
    closes_in: "Refused automatically in {s} s", answered_allow: "Allowed.", answered_refuse: "Refused.",
    timeout: "Time is up: the request was refused.", disconnected: "The signing service went away.",
    title_pin: "Enter the token's PIN", token: "Token", serial: "Serial", pin: "PIN",
    title_authorise: "Authorise signing with a remote certificate", service: "Signing service", credential: "Certificate",
    signatures: "Signatures", signatures_n: "{n} signature(s)", otp: "One-time code (OTP)",
    otp_sent: "The signing service has just sent you a one-time code.", authorisation_sent: "Sent to the signing service.",
    per_signature: "This key asks for the PIN for each signature.",
    pinpad: "Press OK, then type the PIN on the reader's keypad (not here).",
    ok: "OK", cancel: "Cancel", checking: "Checking the PIN…", pin_sent: "PIN sent for this signature.", pin_ok: "Logged in to the token.",
    pin_wrong: "Wrong PIN. The signing request stopped; it is not retried.",
    left_final: "Only ONE try left: one more wrong PIN locks the token.",
    left_low: "Few tries remain.", left_locked: "The token's PIN is locked.",
    cancelled: "Cancelled.",
    title_progress: "Batch signing progress", signed_of: "Signed {done} of {total}", failed_n: "Failed: {n}",
    cancel_batch: "Cancel the batch", close: "Close", state: "State",
    s_pending: "Waiting", s_signed: "Signed", s_failed: "Failed", s_cancelled: "Cancelled",
    b_running: "Signing…", b_done: "Done.", b_failed: "Finished, some documents failed.", b_cancelled: "Batch cancelled.",
    website: "Website", title_settings: "Signing settings", origins: "Allowed websites", consented: "Consented", listed: "On the allowlist",
    revoke: "Revoke", yes: "Yes", no: "No", looks: "Signature and seal images by certificate",
    signature_image: "Signature", seal_image: "Seal", organisation: "Organisation", tls: "Local TLS certificate",
    tls_present: "Present", tls_missing: "Not created", days_left: "{n} days left", fingerprint: "CA fingerprint",
    needs_renewal: "Needs renewal", none: "(none)",
    enrol: "Enrol a certificate", enrol_on: "Enrol a certificate on token {label} (serial {serial})",
    no_enrol_tokens: "(no initialised token plugged in)", key_type: "Key type", key_label: "Key label",
    cn: "Name or organisation (CN)", title_field: "Title (T)", o: "Organisation (O)", ou: "Unit (OU)",
    l: "District, commune (L)", st: "Province or city (ST)", email: "E-mail (E)",
    uid: "Identity number (UID): CMND:…, CCCD:… or MST:…", create_request: "Create request", save: "Save",
    creating: "Making the key pair on the token (type the PIN in its dialog)…",
    request_made: "Request made for key {label} (key id {id}). Save it and send it to the certification authority.",
    saved: "Saved: {path}", certificate_file: "The issued certificate (PEM or DER)",
    chain_files: "The CA certificates of its chain (optional)", load_certificate: "Load certificate",
    loading: "Loading the certificate onto the token (type the PIN in its dialog)…", choose_file: "Choose the certificate file.",
    loaded: "Certificate {label} (key id {id}) loaded onto the token.", already: "The certificate is already on the token: {label}.",
    failed: "Not done",
  },
};

let language = "vi";

function t(key, values) {
  let text = (TEXT[language] || TEXT.vi)[key] || key;
  for (const [name, value] of Object.entries(values || {})) text = text.replace("{" + name + "}", value);
  return text;
}

function host(name, ...args) {
  if (window.pywebview && window.pywebview.api && window.pywebview.api[name]) {
    return window.pywebview.api[name](...args);
  }
  const bound = window["tray_" + name];
  if (typeof bound === "function") return Promise.resolve(bound(...args));
  return Promise.reject(new Error("no companion bridge"));
}

function bridgeReady() {
  return new Promise((resolve) => {
    if ((window.pywebview && window.pywebview.api) || typeof window.tray_state === "function") return resolve();
    window.addEventListener("pywebviewready", () => resolve(), { once: true });
  });
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function translate() {
  document.documentElement.lang = language;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  const toggle = document.getElementById("lang");
  if (toggle) toggle.textContent = language === "vi" ? "English" : "Tiếng Việt";
}

// Runs a dialog: render(state) now and every `pollMs` while `keepPolling(state)` holds.
async function runDialog(render, pollMs, keepPolling) {
  await bridgeReady();
  const toggle = document.getElementById("lang");
  let last = null;
  const draw = (state) => { last = state; language = state.language || language; translate(); render(state); };
  if (toggle) toggle.addEventListener("click", async () => {
    language = await host("language", language === "vi" ? "en" : "vi");
    if (last) draw({ ...last, language });
  });
  const tick = async () => {
    const state = await host("state");
    draw(state);
    if (keepPolling(state)) setTimeout(tick, pollMs);
  };
  await tick();
  return () => host("state").then(draw);
}

function notice(kind, text) {
  return el("div", { class: "notice " + kind, role: kind === "danger" ? "alert" : "status" }, text);
}

function shortDate(iso) { return iso ? iso.slice(0, 10) : ""; }
