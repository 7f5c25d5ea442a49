"""Shared by the make bench scripts: replace one section of docs/benchmarks.md."""

import os

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def server_seconds(cluster, db, query, setup=""):
    """Seconds the server spends running query to its last row (after setup statements)."""
    out = cluster.psql(f"{setup}\nDO $$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN "
                       f"PERFORM count(*) FROM ({query}) q; "
                       "RAISE NOTICE 'seconds=%', extract(epoch FROM clock_timestamp() - t0); END $$;", db)
    for line in out[2].splitlines():
        if "seconds=" in line:
            return float(line.split("seconds=")[1])
    raise RuntimeError(out)


def replace_section(title, text):
    """Put text (which starts with '## title') in place of that section, or append it."""
    path = os.path.join(TOP, "docs", "benchmarks.md")
    doc = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    marker = "\n## " + title + "\n"
    if marker in doc:
        start = doc.index(marker)
        end = doc.find("\n## ", start + len(marker))
        rest = doc[end:] if end >= 0 else ""
        doc = doc[:start].rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n" + ("\n" + rest.lstrip("\n") if rest else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    with open(path, "w") as f:
        f.write(doc)
