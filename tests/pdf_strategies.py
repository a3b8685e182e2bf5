"""Hypothesis strategies for PDF files: built from their parts, or a valid sample damaged.

``pdf_documents()`` assembles a header, numbered objects (random dictionaries, arrays and
streams), a catalog and a page tree of random shape (with added kids that make cycles or
shared pages, dropped or replaced keys, deep chains), content streams under random filters
and /Length values (exact, wrong, indirect, self-referencing), cross-reference tables or
streams, correct or damaged, trailers, incremental updates with /Prev chains, and
``startxref``; each part is right or wrong by the draw. ``mutated_samples()`` flips, cuts,
copies and renumbers bytes of the fixture documents. Both give bytes, so that a failure
found is kept as an ``@example`` and saved as a file as it is.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field
from typing import Any

from conftest import DOCUMENTS
from hypothesis import strategies as st

# -- PDF values ---------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    number: int
    generation: int = 0


@dataclass(frozen=True)
class Name:
    text: str


@dataclass(frozen=True)
class Raw:
    """Bytes written as they are: tokens no writer emits (stray keywords, broken numbers)."""

    text: bytes


@dataclass
class Stream:
    entries: dict[str, Any]
    data: bytes


def encode(value: Any) -> bytes:
    if value is None:
        return b"null"
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, float):
        return (b"%f" % value).rstrip(b"0").rstrip(b".") or b"0"
    if isinstance(value, Name):
        return b"/" + b"".join(bytes([c]) if 0x21 < c < 0x7F and c not in b"()<>[]{}/%#" else b"#%02X" % c
                               for c in value.text.encode("latin-1"))
    if isinstance(value, bytes):
        return b"(" + value.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Ref):
        return b"%d %d R" % (value.number, value.generation)
    if isinstance(value, list):
        return b"[" + b" ".join(encode(v) for v in value) + b"]"
    if isinstance(value, dict):
        return b"<<" + b"".join(encode(Name(k)) + b" " + encode(v) + b"\n" for k, v in value.items()) + b">>"
    if isinstance(value, Stream):
        return encode(value.entries) + b"\nstream\n" + value.data + b"\nendstream"
    raise TypeError(type(value))


KEYS = ["Type", "Subtype", "Kids", "Count", "Parent", "MediaBox", "CropBox", "Resources", "Contents", "Length",
        "Filter", "DecodeParms", "Root", "Pages", "Size", "Prev", "Annots", "AcroForm", "Fields", "Font", "Rotate",
        "UserUnit", "N", "First", "Extends", "Encrypt", "ID", "Info", "XRefStm", "ToUnicode"]
RAW_TOKENS = [b"R", b"obj", b"endobj", b"stream", b"endstream", b"xref", b"trailer", b"<<", b">>", b"[", b"]",
              b"(", b"<", b"<AB", b"%", b"1 0 R 2", b"9999999999 0 R", b"-1 0 R", b"0 0 R", b"1 65535 R",
              b"1.2.3", b"+-5", b"nan", b"/", b"(\\", b"99999999999999999999999", b"\x00\xff"]
TREE_KEYS = ["Type", "Kids", "Count", "Parent", "MediaBox", "Resources", "Contents", "Pages", "Rotate", "CropBox"]

names = st.one_of(st.sampled_from(KEYS), st.text(st.characters(codec="latin-1"), max_size=8))
numbers = st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False),
                    st.sampled_from([0, -1, 2**31, -2**31, 2**63, 10**20, 3.4e38, 1e-30]))
leaves = st.one_of(
    st.none(), st.booleans(), numbers, st.builds(Name, names), st.binary(max_size=16),
    st.builds(Ref, st.integers(0, 40), st.sampled_from([0, 0, 1, 65535])), st.builds(Raw, st.sampled_from(RAW_TOKENS)),
)
values = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                      st.dictionaries(names, inner, max_size=5)), max_leaves=12)
MISSING = object()
media_boxes = st.one_of(
    st.just([0, 0, 595, 842]),
    st.lists(numbers, min_size=4, max_size=4),
    st.lists(numbers, max_size=3),  # short
    st.lists(numbers, min_size=5, max_size=6),
    st.lists(st.one_of(numbers, leaves), min_size=4, max_size=4),
    values,
    st.just(MISSING),
)

# -- streams ------------------------------------------------------------------


def _run_length(data: bytes) -> bytes:
    out = bytearray()
    for start in range(0, len(data), 128):
        chunk = data[start:start + 128]
        out += bytes([len(chunk) - 1]) + chunk
    return bytes(out + b"\x80")


ENCODERS = {
    "FlateDecode": zlib.compress,
    "ASCIIHexDecode": lambda data: data.hex().encode() + b">",
    "ASCII85Decode": lambda data: base64.a85encode(data) + b"~>",
    "RunLengthDecode": _run_length,
}
FILTERS = [*ENCODERS, "LZWDecode", "DCTDecode", "JBIG2Decode", "CCITTFaxDecode", "JPXDecode", "Crypt", "NoSuchFilter"]
LENGTHS = ["exact", "exact", "exact", "off", "huge", "negative", "indirect", "self", "dangling", "loop", "absent",
           "not-a-number"]
PADDING = [0, 0, 0, 0, 0, 0, 1 << 20, 8 << 20]  # decoded size: inflation far beyond the stream's own
decode_parms = st.fixed_dictionaries({}, optional={
    "Predictor": st.sampled_from([1, 2, 10, 12, 15, 99, -1]), "Columns": st.integers(-1, 10**6),
    "Colors": st.integers(-1, 64), "BitsPerComponent": st.sampled_from([1, 8, 16, 0, 33]),
    "EarlyChange": st.integers(-1, 2)})


@dataclass
class Builder:
    """Object numbers handed out in order; ``objects`` is the first section's body."""

    objects: dict[int, Any] = field(default_factory=dict)

    def add(self, value: Any = None) -> int:
        number = len(self.objects) + 1
        self.objects[number] = value
        return number


def stream(draw: st.DrawFn, builder: Builder, number: int, content: bytes) -> Stream:
    filters = draw(st.lists(st.sampled_from(FILTERS), max_size=3))
    honest = draw(st.booleans())
    data = content
    if honest:
        if "FlateDecode" in filters:
            data += b" " * draw(st.sampled_from(PADDING))
        for name in reversed(filters):
            data = ENCODERS.get(name, bytes)(data)
    elif draw(st.booleans()):
        data = draw(st.binary(max_size=64))
    entries: dict[str, Any] = {}
    if filters:
        entries["Filter"] = Name(filters[0]) if len(filters) == 1 and draw(st.booleans()) else [
            Name(f) for f in filters]
        if draw(st.booleans()):
            entries["DecodeParms"] = draw(decode_parms)
    mode = draw(st.sampled_from(LENGTHS))
    if mode == "exact":
        entries["Length"] = len(data)
    elif mode == "off":
        entries["Length"] = max(0, len(data) + draw(st.integers(-20, 20)))
    elif mode == "huge":
        entries["Length"] = draw(st.sampled_from([2**31, 2**63, 10**12]))
    elif mode == "negative":
        entries["Length"] = -draw(st.integers(1, 2**31))
    elif mode == "indirect":
        entries["Length"] = Ref(builder.add(len(data)))
    elif mode == "self":
        entries["Length"] = Ref(number)
    elif mode == "dangling":
        entries["Length"] = Ref(10**6)
    elif mode == "loop":  # two objects whose values are each other
        first = builder.add()
        second = builder.add(Ref(first))
        builder.objects[first] = Ref(second)
        entries["Length"] = Ref(first)
    elif mode == "not-a-number":
        entries["Length"] = draw(leaves.filter(lambda v: not isinstance(v, int | float)))
    entries.update(draw(st.dictionaries(names, values, max_size=2)))
    return Stream(entries, data)


# -- the page tree ------------------------------------------------------------

PAGE = "page"
subtrees = st.recursive(st.just(PAGE), lambda kids: st.lists(kids, max_size=4), max_leaves=10)
shapes = st.one_of(st.lists(subtrees, min_size=1, max_size=4), st.just(PAGE))  # a page as the root, too
# a font whose ToUnicode map gives the profiles' anchor: the anchor search finds "CHỦ TỊCH"
ANCHOR_TEXT = b"(CH\x80 T\x81CH) Tj"
TO_UNICODE = (b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
              b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
              b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
              b"1 begincodespacerange <00> <FF> endcodespacerange\n"
              b"6 beginbfchar <20> <0020> <43> <0043> <48> <0048> <54> <0054> <80> <1EE6> <81> <1ECA> endbfchar\n"
              b"endcmap CMapName currentdict /CMap defineresource pop end end")
OPERATORS = [b"q", b"Q", b"BT", b"ET", b"Tj", b"TJ", b"Td", b"Tf", b"cm", b"re", b"f", b"Do", b"gs", b"'", b"\""]


@dataclass
class Node:
    number: int
    entries: dict[str, Any]
    kids: list[Node]
    is_page: bool


def content(draw: st.DrawFn) -> bytes:
    parts = []
    if draw(st.booleans()):
        y = draw(st.integers(-100, 900))
        parts.append(b"BT /F1 12 Tf 72 %d Td " % y + ANCHOR_TEXT + b" ET")
    for _ in range(draw(st.integers(0, 4))):
        operands = draw(st.lists(values, max_size=3))
        parts.append(b" ".join(encode(v) for v in operands) + b" " + draw(st.sampled_from(OPERATORS)))
    return b"\n".join(parts)


def page_tree(draw: st.DrawFn, builder: Builder, font: int) -> tuple[Node, list[Node]]:
    """The tree's root and all its nodes, with correct /Parent, /Kids and /Count; a deep chain
    of single-kid nodes on top of the drawn shape, sometimes."""
    shape: Any = draw(shapes)
    root = _node(builder, shape)
    nodes: list[Node] = []
    stack = [(root, shape, None)]
    while stack:
        node, node_shape, parent = stack.pop()
        nodes.append(node)
        if parent is not None:
            node.entries["Parent"] = Ref(parent.number)
        if node.is_page:
            contents = builder.add()
            builder.objects[contents] = stream(draw, builder, contents, content(draw))
            node.entries.update(Type=Name("Page"), Resources={"Font": {"F1": Ref(font)}}, Contents=Ref(contents))
            box = draw(media_boxes)
            if box is not MISSING:
                node.entries["MediaBox"] = box
            continue
        for kid_shape in node_shape:
            kid = _node(builder, kid_shape)
            node.kids.append(kid)
            stack.append((kid, kid_shape, node))
        node.entries.update(Type=Name("Pages"), Kids=[Ref(k.number) for k in node.kids],
                            Count=_leaves(node_shape))
    count = _leaves(shape)
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 0, 2, 100, 1500]))):
        top = Node(builder.add(), {}, [root], False)
        builder.objects[top.number] = top.entries
        root.entries["Parent"] = Ref(top.number)
        top.entries.update(Type=Name("Pages"), Kids=[Ref(root.number)], Count=count)
        nodes.append(top)
        root = top
    if not root.is_page and draw(st.booleans()):
        root.entries["MediaBox"] = draw(media_boxes.filter(lambda b: b is not MISSING))
    return root, nodes


def _node(builder: Builder, shape: Any) -> Node:
    node = Node(builder.add(), {}, [], shape == PAGE)
    builder.objects[node.number] = node.entries
    return node


def _leaves(shape: Any) -> int:
    count, stack = 0, [shape]
    while stack:
        item = stack.pop()
        if item == PAGE:
            count += 1
        else:
            stack.extend(item)
    return count


damages = st.one_of(
    st.tuples(st.just("kid"), st.integers(0, 999), st.integers(0, 999)),  # a node gains any node as a kid
    st.tuples(st.just("drop"), st.integers(0, 999), st.sampled_from(TREE_KEYS)),
    st.tuples(st.just("set"), st.integers(0, 999), st.sampled_from(TREE_KEYS), values),
)


def damage(draw: st.DrawFn, catalog: dict[str, Any], nodes: list[Node]) -> None:
    dictionaries = [catalog, *(n.entries for n in nodes)]
    for change in draw(st.lists(damages, max_size=4)):
        target = dictionaries[change[1] % len(dictionaries)]
        if change[0] == "kid":
            kids = target.setdefault("Kids", [])
            if isinstance(kids, list):
                kids.append(Ref(nodes[change[2] % len(nodes)].number))
        elif change[0] == "drop":
            target.pop(change[2], None)
        else:
            target[change[2]] = change[3]


# -- the file: body, cross-reference sections, trailers -----------------------

HEADERS = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", b"%PDF-1.4\n", b"%PDF-2.0\n", b"%PDF-1.", b"%PDF-9.9\n", b"",
           b"garbage before the header\n%PDF-1.7\n", b"%!PS-Adobe-3.0\n"]
XREF_KINDS = ["table", "table", "table", "stream"]
PREVS = ["correct", "correct", "self", "random", "absent", "forward"]


def body(objects: dict[int, Any], start: int) -> tuple[bytes, dict[int, int]]:
    out, offsets = bytearray(), {}
    for number, value in objects.items():
        offsets[number] = start + len(out)
        out += b"%d 0 obj\n" % number + encode(value) + b"\nendobj\n"
    return bytes(out), offsets


def xref_table(draw: st.DrawFn, offsets: dict[int, int], first: bool) -> bytes:
    entries = {0: (0, 65535, b"f")} if first else {}
    entries.update({number: (offset, 0, b"n") for number, offset in offsets.items()})
    lines = [b"xref"]
    for number in sorted(entries):
        lines.append(b"%d 1" % number)
        offset, generation, kind = entries[number]
        lines.append(b"%010d %05d %s " % (offset, generation, kind))
    for index, delta in draw(st.lists(st.tuples(st.integers(1, 999), st.integers(-40, 40)), max_size=3)):
        line = 1 + index % (len(lines) - 1)  # a subsection header or an entry: counts and offsets go wrong
        lines[line] = _shift_number(lines[line], delta)
    return b"\n".join(lines) + b"\n"


def _shift_number(line: bytes, delta: int) -> bytes:
    head, _, rest = line.partition(b" ")
    return b"%0*d %s" % (len(head), max(0, int(head) + delta), rest)


def xref_stream(draw: st.DrawFn, offsets: dict[int, int], number: int, trailer: dict[str, Any]) -> Stream:
    widths = draw(st.sampled_from([[1, 4, 2], [1, 4, 2], [1, 8, 2], [0, 4, 0], [4, 1, 1], [1, 2, 1], [1, 9, 2]]))
    rows = sorted(offsets.items())
    data = bytearray()
    for _, offset in rows:
        for width, value in zip(widths, (1, offset, 0), strict=True):
            data += (value % (256 ** width)).to_bytes(width, "big") if width else b""
    entries: dict[str, Any] = {"Type": Name("XRef"), "W": widths,
                               "Index": [x for n, _ in rows for x in (n, 1)], **trailer}
    payload = bytes(data)
    if draw(st.booleans()):
        entries["Filter"] = Name("FlateDecode")
        payload = zlib.compress(payload)
    entries["Length"] = len(payload) if draw(st.booleans()) else draw(st.sampled_from([0, 1, 10**9, Ref(number)]))
    return Stream(entries, payload)


@st.composite
def pdf_documents(draw: st.DrawFn) -> bytes:
    builder = Builder()
    catalog: dict[str, Any] = {"Type": Name("Catalog")}
    builder.add(catalog)
    font = builder.add({"Type": Name("Font"), "Subtype": Name("Type1"), "BaseFont": Name("Helvetica")})
    to_unicode = builder.add()
    builder.objects[to_unicode] = stream(draw, builder, to_unicode, TO_UNICODE)
    builder.objects[font]["ToUnicode"] = Ref(to_unicode)
    root, nodes = page_tree(draw, builder, font)
    catalog["Pages"] = Ref(root.number)
    damage(draw, catalog, nodes)
    for value in draw(st.lists(st.one_of(values, st.builds(lambda b: Stream({}, b), st.binary(max_size=32))),
                               max_size=4)):
        number = builder.add(value)
        if isinstance(value, Stream):
            builder.objects[number] = stream(draw, builder, number, value.data)

    out = bytearray(draw(st.sampled_from(HEADERS)))
    sections = [builder.objects]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3000]))):  # incremental updates (a long /Prev chain)
        sections.append({1: catalog} if draw(st.booleans()) or not nodes else
                        {nodes[0].number: nodes[0].entries, 1: catalog})
    kinds = [draw(st.sampled_from(XREF_KINDS)) if index < 3 else "table" for index in range(len(sections))]
    first_free = len(builder.objects) + 1  # cross-reference streams are numbered from here
    size = first_free + kinds.count("stream")
    previous: int | None = None
    for index, objects in enumerate(sections):
        data, offsets = body(objects, len(out))
        out += data
        here = len(out)
        trailer: dict[str, Any] = {"Size": draw(numbers) if index == 0 and draw(st.booleans()) else size,
                                   "Root": Ref(1)}
        if previous is not None:
            prev = draw(st.sampled_from(PREVS)) if index == len(sections) - 1 or index < 3 else "correct"
            trailer["Prev"] = {"correct": previous, "self": here, "random": draw(st.integers(-1, 10**7)),
                               "forward": here + 7}.get(prev, MISSING)
            if trailer["Prev"] is MISSING:
                del trailer["Prev"]
        if index == 0:
            trailer.update(draw(st.dictionaries(st.sampled_from(["Root", "Size", "Info", "ID", "Encrypt"]), values,
                                                max_size=1)))
        if kinds[index] == "stream":
            number = first_free + kinds[:index].count("stream")
            out += b"%d 0 obj\n" % number + encode(xref_stream(draw, offsets | {number: here}, number, trailer))
            out += b"\nendobj\n"
        else:
            out += xref_table(draw, offsets, index == 0) + b"trailer\n" + encode(trailer) + b"\n"
        out += b"startxref\n%d\n%%%%EOF\n" % _startxref(draw, here, index == len(sections) - 1)
        previous = here
    return bytes(out[:draw(st.sampled_from([len(out)] * 7 + [len(out) - 6, len(out) // 2]))])


def _startxref(draw: st.DrawFn, here: int, last: bool) -> int:
    if not last:
        return here
    return draw(st.sampled_from([here, here, here, 0, here + 3, here - 3, 10**9]))


# -- damaged samples ----------------------------------------------------------

# every fixture but the one that is not a PDF at all (damaging it shows nothing new)
SAMPLES = {p.name: p.read_bytes() for p in sorted(DOCUMENTS.glob("*.pdf")) if p.name != "bad-not-a-pdf.pdf"}
KEYWORDS = [b"obj", b"endobj", b"stream", b"endstream", b"xref", b"trailer", b"startxref", b" R", b"/Length",
            b"/Kids", b"/Count", b"/Parent", b"/Type", b"/Pages", b"/Page", b"/MediaBox", b"/Root", b"/Prev",
            b"/Filter", b"/FlateDecode", b"/Contents", b"/Size", b"%%EOF"]
mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**32), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 2**32)),
    st.tuples(st.just("duplicate"), st.integers(0, 2**32), st.integers(1, 4096), st.integers(0, 2**32)),
    st.tuples(st.just("delete"), st.integers(0, 2**32), st.integers(1, 4096)),
    st.tuples(st.just("overwrite"), st.integers(0, 2**32), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("number"), st.integers(0, 2**32), st.sampled_from([0, 1, -1, 2, 3, 10**6, 2**31, 10**20])),
    st.tuples(st.just("keyword"), st.integers(0, 2**32), st.sampled_from(KEYWORDS), st.sampled_from(KEYWORDS)),
)


def mutate(data: bytearray, change: tuple[Any, ...]) -> bytearray:
    kind, where = change[0], change[1] % max(1, len(data))
    if kind == "flip" and data:
        data[where] ^= change[2]
    elif kind == "truncate":
        del data[where:]
    elif kind == "duplicate":
        piece = data[where:where + change[2]]
        at = change[3] % (len(data) + 1)
        data[at:at] = piece
    elif kind == "delete":
        del data[where:where + change[2]]
    elif kind == "overwrite":
        data[where:where + len(change[2])] = change[2]
    elif kind == "number":  # the next number after the position: an offset, a length, a count, a reference
        start = next((i for i in range(where, len(data)) if data[i:i + 1].isdigit()), None)
        if start is not None:
            end = start
            while end < len(data) and data[end:end + 1].isdigit():
                end += 1
            data[start:end] = b"%d" % change[2]
    elif kind == "keyword":  # the next occurrence of one keyword becomes another
        at = data.find(change[2], where)
        if at >= 0:
            data[at:at + len(change[2])] = change[3]
    return data


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    data = bytearray(SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))])
    for change in draw(st.lists(mutations, min_size=1, max_size=6)):
        data = mutate(data, change)
    return bytes(data)
