"""What every edge says of a damaged document that was signed in its lossless rewrite
(``engine.repair``): the reply, the VGCA ``Message``, the command line, the consent dialog."""

from __future__ import annotations

NOTE_EN = "The slightly damaged PDF was repaired (rewritten without losing content) before it was signed."
NOTE_VI = "Tệp PDF bị hỏng nhẹ đã được sửa (ghi lại không mất nội dung) trước khi ký."
