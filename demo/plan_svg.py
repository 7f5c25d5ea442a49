"""The plan as a picture: an SVG timeline of planned syncs against deadlines.

Each row is a connector of the latest planning run (syncopt.plan_timeline):
a bar from planned start to predicted end (red when the plan predicts a
miss), a black tick at the deadline it serves.  Standard library only.
"""

from datetime import datetime
from xml.sax.saxutils import escape

ROW_H, LEFT, WIDTH, TOP = 18, 190, 980, 40


def parse(ts):
    return datetime.fromisoformat(ts) if ts else None


def render(rows, planned_at, max_rows=40):
    """rows: (connector, planned_start, predicted_end, deadline, will_miss) as strings."""
    rows = [r for r in rows if r[1]][:max_rows]
    start = parse(planned_at)
    ends = [parse(r[2]) for r in rows] + [parse(r[3]) for r in rows if r[3]]
    hours = max(1.0, min(24.0, max(((e - start).total_seconds() / 3600 for e in ends), default=1.0)))
    scale = (WIDTH - LEFT - 20) / (hours * 3600)

    def x(ts):
        return LEFT + min(hours * 3600, max(0.0, (parse(ts) - start).total_seconds())) * scale

    height = TOP + ROW_H * len(rows) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<text x="10" y="18" font-size="14" font-weight="bold">syncopt plan from {escape(planned_at)} '
           f'(bars: planned syncs, red = predicted miss; ticks: deadlines)</text>']
    for h in range(int(hours) + 1):
        gx = LEFT + h * 3600 * scale
        out.append(f'<line x1="{gx:.1f}" y1="{TOP - 8}" x2="{gx:.1f}" y2="{height - 24}" stroke="#ddd"/>')
        out.append(f'<text x="{gx:.1f}" y="{height - 10}" text-anchor="middle">+{h} h</text>')
    for i, (name, begin, end, deadline, miss) in enumerate(rows):
        y = TOP + i * ROW_H
        colour = "#d9534f" if miss == "t" else "#5cb85c"
        out.append(f'<text x="{LEFT - 6}" y="{y + 12}" text-anchor="end">{escape(name)}</text>')
        out.append(f'<rect x="{x(begin):.1f}" y="{y + 3}" width="{max(2.0, x(end) - x(begin)):.1f}" '
                   f'height="{ROW_H - 6}" fill="{colour}"><title>{escape(name)}: {escape(begin)} to '
                   f'{escape(end)}, deadline {escape(deadline or "none")}</title></rect>')
        if deadline:
            dx = x(deadline)
            out.append(f'<line x1="{dx:.1f}" y1="{y + 1}" x2="{dx:.1f}" y2="{y + ROW_H - 1}" '
                       'stroke="black" stroke-width="2"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
