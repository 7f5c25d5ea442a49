"""Shared by the make bench scripts: replace one section of docs/benchmarks.md."""

import os

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def replace_section(title, text):
    """Put text (which starts with '## title') in place of that section, or append it."""
    path = os.path.join(TOP, "docs", "benchmarks.md")
    doc = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    marker = "\n## " + title + "\n"
    if marker in doc:
        start = doc.index(marker)
        end = doc.find("\n## ", start + len(marker))
        doc = doc[:start] + "\n" + doc[end:] if end >= 0 else doc[:start]
    with open(path, "w") as f:
        f.write(doc.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")
