"""Pictures of where the sounds are: marks where the head frame says, the same bytes every time."""

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.image import imread

from batcli.errors import BatError
from batcli.plot import ELEVATION_COLORMAP, save_pictures


def record(azimuth_deg, audio="clip.wav", start_s=0.0, end_s=4.0):
    source = {"label": "siren", "score": 1.0, "azimuth_deg": azimuth_deg, "elevation_deg": 0.0, "distance_m": 1.5}
    return {"audio": audio, "start_s": start_s, "end_s": end_s, "sources": [source]}


def mark_pixels(path):
    """Pixels of the colour of a mark at elevation 0 (the colour bar has them too)."""
    image = imread(path)[..., :3]
    colour = np.array(colormaps[ELEVATION_COLORMAP](0.5)[:3])
    return np.linalg.norm(image - colour, axis=-1) < 0.05


def test_a_source_on_the_left_is_drawn_left_of_the_listener_and_one_in_front_above(tmp_path):
    masks = {}
    for name, azimuth in (("left", 90.0), ("right", 270.0), ("front", 0.0)):
        save_pictures([record(azimuth)], tmp_path / f"{name}.png")
        masks[name] = mark_pixels(tmp_path / f"{name}.png")
    centres = {}
    for name, mask in masks.items():
        own = mask & ~np.logical_or.reduce([other for key, other in masks.items() if key != name])  # not the colour bar
        rows, columns = np.nonzero(own)
        assert len(rows) > 50
        centres[name] = (columns.mean(), rows.mean())
    listener_x = (centres["left"][0] + centres["right"][0]) / 2  # the panel is symmetric about the listener
    assert centres["left"][0] < listener_x - 50 < listener_x + 50 < centres["right"][0]
    assert abs(centres["front"][0] - listener_x) < 5  # straight ahead is straight up
    assert centres["front"][1] < centres["left"][1] - 50  # and above the listener
    assert abs(centres["left"][1] - centres["right"][1]) < 5


def test_the_same_records_give_the_same_bytes(tmp_path):
    records = [record(30.0, "a.wav"), record(200.0, "b.wav"), {**record(0.0, "c.wav"), "sources": []}]
    save_pictures(records, tmp_path / "one.png")
    save_pictures(records, tmp_path / "two.png")
    data = (tmp_path / "one.png").read_bytes()
    assert data == (tmp_path / "two.png").read_bytes()
    assert b"matplotlib" not in data  # no version text that would change with the installed matplotlib


def test_a_folder_gets_one_picture_per_window(tmp_path):
    windows = [record(90.0, "long.wav", start, start + 2.0) for start in (0.0, 2.0, 4.0)] + [record(0.0, "short.wav")]
    written = save_pictures(windows, tmp_path / "frames")
    assert [path.name for path in written] == ["long-0000.png", "long-0001.png", "long-0002.png", "short-0000.png"]
    assert all(path.stat().st_size > 1000 for path in written)


def test_nothing_to_draw_is_an_error(tmp_path):
    with pytest.raises(BatError, match="no recordings to draw"):
        save_pictures([], tmp_path / "empty.png")
