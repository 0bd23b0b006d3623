"""Text out of uploaded documents, and chunks of it for file search. Framework-free.

Formats: plain text, Markdown, source code and other text files (decoded as UTF-8, invalid bytes replaced),
HTML (the text of the page, without scripts and styles), PDF (pypdf's text extraction). Anything else is
refused with ``UnsupportedDocument`` naming the type.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import PurePosixPath

# A token is counted as about four characters of English text, as the tokenizers of OpenAI's models average.
CHARS_PER_TOKEN = 4
DEFAULT_MAX_CHUNK_TOKENS = 800
DEFAULT_OVERLAP_TOKENS = 400
TEXT_SUFFIXES = {
    ".txt", ".md", ".markdown", ".rst", ".csv", ".tsv", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".log",
    ".xml", ".py", ".js", ".ts", ".tsx", ".jsx", ".java", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".go", ".rs",
    ".rb", ".php", ".sh", ".sql", ".swift", ".kt", ".scala", ".r", ".lua", ".pl", ".tex", ".css",
}  # fmt: skip
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


class UnsupportedDocument(ValueError):
    """The file is of a type file search cannot read."""


class UnreadableDocument(ValueError):
    """The file claims a type it does not hold (a broken PDF, binary data in a text file)."""


def document_text(filename: str, data: bytes) -> str:
    """The text of a document, by its file name's suffix (and the PDF signature)."""
    suffix = PurePosixPath(filename.lower()).suffix
    if suffix == ".pdf" or data.startswith(b"%PDF-"):
        return _pdf_text(data)
    if suffix in HTML_SUFFIXES:
        return html_text(data.decode("utf-8", errors="replace"))
    if suffix in TEXT_SUFFIXES or not suffix:
        if b"\x00" in data[:8192]:
            raise UnreadableDocument(f"'{filename}' holds binary data, not text.")
        return data.decode("utf-8", errors="replace")
    raise UnsupportedDocument(
        f"'{filename}': file search reads text, Markdown, code, HTML and PDF files, not '{suffix}' files."
    )


def _pdf_text(data: bytes) -> str:
    # Imported here: only indexing workers read PDFs.
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableDocument(f"The PDF could not be read: {exc}") from None


class _HtmlText(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template"}
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(markup: str) -> str:
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    return re.sub(r"\n\s*\n+", "\n\n", "".join(parser.parts)).strip()


def text_chunks(
    text: str, *, max_tokens: int = DEFAULT_MAX_CHUNK_TOKENS, overlap_tokens: int = DEFAULT_OVERLAP_TOKENS
) -> list[str]:
    """Pieces of at most ``max_tokens`` (counted as characters / 4), each starting ``overlap_tokens`` before the
    previous one ended, cut at whitespace where there is any."""
    text = text.replace("\x00", "").strip()
    if not text:
        return []
    size = max_tokens * CHARS_PER_TOKEN
    step = max(size - overlap_tokens * CHARS_PER_TOKEN, 1)
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + step // 2, end)
            cut = max(cut, text.rfind("\n", start + step // 2, end))
            if cut > start:
                end = cut
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= len(text):
            break
        following = max(end - overlap_tokens * CHARS_PER_TOKEN, start + 1)
        # Start the next piece at a word boundary.
        space = text.find(" ", following, end)
        start = space + 1 if space != -1 and overlap_tokens else following
        if not overlap_tokens:
            start = end
    return chunks
