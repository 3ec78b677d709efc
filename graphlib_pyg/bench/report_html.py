"""The report as one self-contained HTML file: the same tables and figures as ``report.md``,
with the PNGs embedded as base64 ``data:`` URIs, so the file can be mailed or opened anywhere
without its folder.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

#: A section: a heading and either table cells ``(header, right-aligned, body)`` or a PNG path.
Section = tuple[str, tuple[list[str], list[bool], list[list[str]]] | Path]

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #ddd; text-align: left; }
th { background: #f4f4f4; } td.r, th.r { text-align: right; } tr:hover td { background: #fafafa; }
img { max-width: 100%; } code { background: #f4f4f4; padding: 0 0.2em; }
"""
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _cell(text: str) -> str:
    """A cell's text escaped for HTML, Markdown ``**bold**`` kept as ``<strong>``."""
    return _BOLD.sub(r"<strong>\1</strong>", html.escape(text))


def html_table(header: list[str], right: list[bool], body: list[list[str]]) -> str:
    def row(tag: str, cells: list[str]) -> str:
        tds = (
            f"<{tag}{' class=r' if r else ''}>{_cell(c)}</{tag}>"
            for c, r in zip(cells, right, strict=True)
        )
        return "<tr>" + "".join(tds) + "</tr>"

    rows = [row("th", header), *(row("td", cells) for cells in body)]
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def render_html(title: str, intro: str, sections: list[Section]) -> str:
    """The page: ``title``, an ``intro`` paragraph (Markdown backticks become ``<code>``), then
    each section's heading with its table or embedded figure."""
    intro = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(intro))
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{intro}</p>",
    ]
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, Path):
            parts.append(f'<img src="{png_data_uri(content)}" alt="{html.escape(heading)}">')
        else:
            parts.append(html_table(*content))
    return "\n".join([*parts, "</body></html>"]) + "\n"
