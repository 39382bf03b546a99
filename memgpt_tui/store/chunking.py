"""Split documents into passages for archival memory.

Chunks follow the document's own structure: paragraphs (blank lines), Markdown headings and fenced
code blocks stay whole where they fit. A heading starts a new chunk; a chunk cut only because it is
full repeats the tail of the previous one (``overlap_words``) so no sentence loses its context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["markdown", "code", "text"]

MARKDOWN = {".md", ".markdown", ".mdx", ".rst", ".org", ".adoc"}
CODE = {
    ".py", ".pyi", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".scala", ".c", ".h", ".cc", ".cpp",
    ".hpp", ".cs", ".go", ".rs", ".rb", ".php", ".swift", ".m", ".lua", ".r", ".pl", ".hs", ".ex", ".exs",
    ".erl", ".clj", ".dart", ".vue", ".svelte", ".sh", ".bash", ".zsh", ".fish", ".sql", ".html", ".css",
    ".scss", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".xml", ".tex", ".proto", ".graphql", ".tf",
}  # fmt: skip
TEXT = {".txt", ".text", ".log", ".csv", ".tsv", ""}

_HEADING = re.compile(r"^(#{1,6}\s|\S.*\n[=\-~^]{3,}\s*$)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+")


@dataclass
class _Block:
    text: str
    heading: bool = False
    glue: str = "\n\n"  # how it joins the block before it; pieces of a cut block join as lines or words

    @property
    def words(self) -> int:
        return len(self.text.split())


def kind_of(path: Path) -> Kind | None:
    """How to chunk a file, from its extension; None for files that are not text we know."""
    suffix = path.suffix.lower()
    if suffix in MARKDOWN:
        return "markdown"
    if suffix in CODE:
        return "code"
    if suffix in TEXT:
        return "text"
    return None


def chunk_text(text: str, kind: Kind = "text", max_words: int = 300, overlap_words: int = 50) -> list[str]:
    """Chunks of at most about ``max_words`` words (a single over-long line may exceed it)."""
    if max_words < 1:
        raise ValueError("max_words must be positive")
    overlap_words = max(0, min(overlap_words, max_words // 2))
    blocks = []
    for block in _blocks(text.replace("\r\n", "\n"), kind):
        # pieces of a cut block leave room for the overlap that will precede them
        blocks += [block] if block.words <= max_words else _split(block, max_words - overlap_words, kind)
    chunks: list[str] = []
    current: list[_Block] = []
    size = 0
    for block in blocks:
        if current and (block.heading and size >= max_words // 4 or size + block.words > max_words):
            chunks.append(_join(current))
            carry = [] if block.heading else _tail(current, overlap_words, kind)
            if sum(b.words for b in carry) + block.words > max_words:
                carry = []
            current, size = carry, sum(b.words for b in carry)
        current.append(block)
        size += block.words
    if current and size:
        chunks.append(_join(current))
    return [c for c in chunks if c.strip()]


def _blocks(text: str, kind: Kind) -> list[_Block]:
    """Paragraphs separated by blank lines; headings start their own block; code fences stay whole."""
    blocks: list[_Block] = []
    lines: list[str] = []
    fenced = False

    def close(heading: bool = False) -> None:
        if any(line.strip() for line in lines):
            blocks.append(_Block("\n".join(lines).strip("\n"), heading))
        lines.clear()

    for line in text.split("\n"):
        if kind == "markdown" and _FENCE.match(line):
            if not fenced:
                close()
            lines.append(line)
            if fenced:
                close()
            fenced = not fenced
            continue
        if fenced:
            lines.append(line)
        elif not line.strip():
            close()
        elif kind == "markdown" and line.startswith("#") and _HEADING.match(line):
            close()
            lines.append(line)
            close(heading=True)
        else:
            lines.append(line)
    close()
    # a heading sticks to the paragraph after it, so it is never a chunk of its own
    merged: list[_Block] = []
    for block in blocks:
        if merged and merged[-1].heading and merged[-1].words < 20 and not block.heading:
            merged[-1] = _Block(f"{merged[-1].text}\n\n{block.text}", heading=True)
        else:
            merged.append(block)
    return merged


def _split(block: _Block, max_words: int, kind: Kind) -> list[_Block]:
    """An over-long block in pieces: by line for code, by sentence for prose, by words as a last resort."""
    units = block.text.split("\n") if kind == "code" or "\n" in block.text else _SENTENCE.split(block.text)
    glue = "\n" if kind == "code" or "\n" in block.text else " "
    pieces: list[_Block] = []
    current: list[str] = []
    size = 0
    for unit in units:
        words = len(unit.split())
        if words > max_words:
            tokens = unit.split()
            parts = [" ".join(tokens[i : i + max_words]) for i in range(0, len(tokens), max_words)]
        else:
            parts = [unit]
        for part in parts:
            part_words = len(part.split())
            if current and size + part_words > max_words:
                pieces.append(_Block(glue.join(current), glue=glue))
                current, size = [], 0
            current.append(part)
            size += part_words
    if current:
        pieces.append(_Block(glue.join(current), glue=glue))
    pieces[0].heading, pieces[0].glue = block.heading, block.glue
    return pieces


def _tail(blocks: list[_Block], words: int, kind: Kind) -> list[_Block]:
    """The last ``words`` words of a chunk, cut at a line or sentence boundary where possible."""
    if words <= 0:
        return []
    taken: list[_Block] = []
    budget = words
    for block in reversed(blocks):
        if block.words <= budget:
            taken.insert(0, _Block(block.text))
            budget -= block.words
            continue
        units = (
            block.text.split("\n") if kind == "code" or "\n" in block.text else _SENTENCE.split(block.text)
        )
        glue = "\n" if kind == "code" or "\n" in block.text else " "
        kept: list[str] = []
        for unit in reversed(units):
            if len(unit.split()) > budget:
                break
            kept.insert(0, unit)
            budget -= len(unit.split())
        if kept:
            taken.insert(0, _Block(glue.join(kept)))
        break
    return taken


def _join(blocks: list[_Block]) -> str:
    return blocks[0].text + "".join(b.glue + b.text for b in blocks[1:])
