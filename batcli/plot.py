"""Pictures of where the sounds are, drawn from localization records (`bat localize --plot`).

The listener is seen from above, front up and left to the left (azimuth counter-clockwise from the
front, as in the head frame); each source is a labelled mark at its azimuth with its distance as the
radius, coloured by elevation (a colour bar tells how) and as opaque as its score. matplotlib draws
off screen (Agg) and is imported only here, so that the command line starts without it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import BatError
from .records import atomic_write

ELEVATION_COLORMAP = "viridis"  # dark below, bright above; no light middle that a mark could vanish in
PANEL_INCHES = 4.0
COLUMNS = 3  # panels a row
DPI = 100
MIN_OPACITY = 0.2  # the faintest mark, for a score near 0
METADATA = {"Software": None}  # no matplotlib version in the PNG: the same records give the same bytes


def save_pictures(records: Iterable[dict], target: Path) -> list[Path]:
    """Draw the records: into one picture with a panel per recording when `target` ends in .png (a
    recording of several windows shows all their sources), else into the folder `target` (created) with
    one picture per window, NAME-0000.png, NAME-0001.png, ... Returns the files written."""
    by_audio: dict[str, list[dict]] = {}
    for record in records:
        by_audio.setdefault(record["audio"], []).append(record)
    if not by_audio:
        raise BatError("--plot: no recordings to draw")
    everything = [source for windows in by_audio.values() for window in windows for source in window["sources"]]
    radius = max(2.0, math.ceil(max((s["distance_m"] for s in everything), default=0.0) + 0.5))  # room for a label
    if target.suffix.lower() == ".png":
        panels = [(_file_title(audio, windows), [s for w in windows for s in w["sources"]])
                  for audio, windows in by_audio.items()]
        _draw(panels, target, radius)
        return [target]
    target.mkdir(parents=True, exist_ok=True)
    written: dict[Path, str] = {}
    for audio, windows in by_audio.items():
        for index, window in enumerate(windows):
            path = target / f"{Path(audio).stem}-{index:04d}.png"
            if path in written:
                raise BatError(f"--plot {target}: {audio} and {written[path]} would both draw {path.name}")
            span = f"{window.get('start_s', 0.0):.1f}-{window['end_s']:.1f} s"
            title = f"{Path(audio).name}  {span}\n{_count(window['sources'])}"
            _draw([(title, window["sources"])], path, radius)
            written[path] = audio
    return list(written)


def _file_title(audio: str, windows: list[dict]) -> str:
    sources = [s for w in windows for s in w["sources"]]
    return f"{Path(audio).name}\n{_count(sources)}" + (f" in {len(windows)} windows" if len(windows) > 1 else "")


def _count(sources: list[dict]) -> str:
    return "no sources" if not sources else "1 source" if len(sources) == 1 else f"{len(sources)} sources"


def _draw(panels: list[tuple[str, list[dict]]], path: Path, radius: float) -> None:
    """One PNG: a polar panel per (title, sources), in rows of COLUMNS, and the elevation colour bar."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    columns = min(len(panels), COLUMNS)
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(columns * PANEL_INCHES + 1.0, rows * (PANEL_INCHES + 0.4)), dpi=DPI, layout="constrained")
    figure.get_layout_engine().set(w_pad=0.1, h_pad=0.1, wspace=0.08)
    FigureCanvasAgg(figure)  # off screen, whatever backend the environment asks for
    colours, scale = matplotlib.colormaps[ELEVATION_COLORMAP], Normalize(-90.0, 90.0)
    axes = [figure.add_subplot(rows, columns, number, projection="polar") for number in range(1, len(panels) + 1)]
    for ax, (title, sources) in zip(axes, panels):
        _panel(ax, title, sources, radius, lambda elevation: colours(scale(elevation)))
    bar = figure.colorbar(ScalarMappable(scale, colours), ax=axes, shrink=0.75, ticks=[-90, -45, 0, 45, 90])
    bar.set_label("elevation (deg): below < 0 < above", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    with atomic_write(path, "wb") as stream:
        figure.savefig(stream, format="png", metadata=METADATA)


def _panel(ax, title: str, sources: list[dict], radius: float, colour_of) -> None:
    ax.set_theta_zero_location("N")  # front up
    ax.set_theta_direction(1)  # counter-clockwise: 90 (left) on the left
    ax.set_xticks(np.radians([0, 90, 180, 270]), ["front", "left", "behind", "right"], fontsize=8)
    step = 1 if radius <= 4 else 2
    rings = np.arange(step, radius + 0.01, step)
    ax.set_ylim(0, radius)
    ax.set_yticks(rings, [f"{ring:g} m" for ring in rings], fontsize=7, color="0.4")
    ax.set_rlabel_position(135)  # ring labels on the back-left diagonal, away from the front
    ax.grid(color="0.85", linewidth=0.8)
    ax.plot([0.0], [0.0], marker="^", markersize=11, color="0.3", zorder=3)  # the listener, nose to the front
    for rank, source in enumerate(sorted(sources, key=lambda s: s["score"])):  # the likeliest on top
        theta, r = math.radians(source["azimuth_deg"]), min(source["distance_m"], radius)
        colour = list(colour_of(source["elevation_deg"]))
        colour[3] = min(1.0, max(MIN_OPACITY, source["score"]))
        ax.scatter([theta], [r], s=150, color=[colour], edgecolors="none", zorder=4)
        # labels above and below their marks in turn (the likeliest above): two sources side by side stay readable
        above = (len(sources) - rank) % 2
        ax.annotate(source["label"], (theta, r), xytext=(8, 6 if above else -14), textcoords="offset points",
                    fontsize=8, zorder=5)
    ax.set_title(title, fontsize=9, pad=12)
