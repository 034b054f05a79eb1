#!/usr/bin/env python3
"""Draws benchmarks/sim-scaling.svg from `kith-sim-bench --json` output.

usage: scripts/plot-sim-scaling.py LABEL=FILE.json [LABEL=FILE.json ...] > benchmarks/sim-scaling.svg

One line per (file, phase): CPU microseconds per simulated node-second
against nodes, both axes log10. Phases not done within their bound are drawn
hollow.
"""
import json
import math
import sys

COLOURS = {"join": "#c0392b", "crash": "#2471a3", "partition": "#239b56", "heal": "#7d3c98"}
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 340, 70, 470, 20, 280


def load(argument):
    label, _, path = argument.partition("=")
    with open(path) as f:
        return label, json.load(f)


def main(arguments):
    if not arguments:
        sys.exit(__doc__)
    series = [load(a) for a in arguments]
    points = [(r["nodes"], r["us_per_node_second"]) for _, rows in series for r in rows if r["us_per_node_second"] > 0]
    xs = [math.log10(n) for n, _ in points]
    ys = [math.log10(v) for _, v in points]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    # The node axis always reaches 10,000, the target, so a missing point shows as a gap.
    x1, y1 = max(x1, x0 + 1, 4), max(y1, y0 + 1)

    def px(n):
        return LEFT + (math.log10(n) - x0) / (x1 - x0) * (RIGHT - LEFT)

    def py(v):
        return BOTTOM - (math.log10(v) - y0) / (y1 - y0) * (BOTTOM - TOP)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
    for e in range(x0, x1 + 1):
        x = px(10 ** e)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{BOTTOM}" stroke="#ddd"/>'
                   f'<text x="{x:.1f}" y="{BOTTOM + 16}" text-anchor="middle">{10 ** e:,}</text>')
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{RIGHT}" y2="{y:.1f}" stroke="#ddd"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{10 ** e:,}</text>')
    out.append(f'<text x="{(LEFT + RIGHT) / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle">simulated nodes (log)</text>')
    middle = (TOP + BOTTOM) / 2
    out.append(f'<text x="16" y="{middle:.1f}" transform="rotate(-90 16 {middle:.1f})" text-anchor="middle">'
               'CPU µs per simulated node-second (log)</text>')
    legend_y = TOP + 10
    for index, (label, rows) in enumerate(series):
        dash = "" if index == 0 else ' stroke-dasharray="5,3"'
        for phase, colour in COLOURS.items():
            line = sorted((r["nodes"], r["us_per_node_second"], r["took"] != "not done") for r in rows
                          if r["phase"] == phase and r["us_per_node_second"] > 0)
            if not line:
                continue
            coords = " ".join(f"{px(n):.1f},{py(v):.1f}" for n, v, _ in line)
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{coords}"/>')
            for n, v, done in line:
                fill = colour if done else "white"
                out.append(f'<circle cx="{px(n):.1f}" cy="{py(v):.1f}" r="3.5" fill="{fill}" stroke="{colour}"/>')
            out.append(f'<line x1="{RIGHT + 12}" y1="{legend_y - 4}" x2="{RIGHT + 30}" y2="{legend_y - 4}" stroke="{colour}" '
                       f'stroke-width="2"{dash}/><text x="{RIGHT + 36}" y="{legend_y}">{phase}, {label}</text>')
            legend_y += 18
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1:])
