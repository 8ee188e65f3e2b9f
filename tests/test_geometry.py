import numpy as np
import pytest

from batcli.geometry import direction_words, great_circle_deg, lateral_gap_deg, plane_angles, to_cartesian, to_spherical, unit_vector, wrap_azimuth


def test_head_frame_axes():
    np.testing.assert_allclose(unit_vector(0, 0), [1, 0, 0], atol=1e-12)  # front is +x
    np.testing.assert_allclose(unit_vector(90, 0), [0, 1, 0], atol=1e-12)  # left is +y
    np.testing.assert_allclose(unit_vector(270, 0), [0, -1, 0], atol=1e-12)  # right is -y
    np.testing.assert_allclose(unit_vector(123, 90), [0, 0, 1], atol=1e-12)  # up is +z


def test_spherical_round_trip():
    rng = np.random.default_rng(0)
    az, el, d = rng.uniform(0, 360, 500), rng.uniform(-89, 89, 500), rng.uniform(0.1, 10, 500)
    back = to_spherical(to_cartesian(az, el, d))
    np.testing.assert_allclose(back[0], az, atol=1e-9)
    np.testing.assert_allclose(back[1], el, atol=1e-9)
    np.testing.assert_allclose(back[2], d, atol=1e-9)


def test_azimuth_wraps_into_0_360():
    assert wrap_azimuth(-90) == 270.0
    assert wrap_azimuth(360.0) == 0.0
    assert wrap_azimuth(-1e-17) == 0.0
    assert np.all((wrap_azimuth(np.linspace(-1000, 1000, 77)) >= 0) & (wrap_azimuth(np.linspace(-1000, 1000, 77)) < 360))


@pytest.mark.parametrize(
    "az, el, words",
    [
        (90, 0, "left"),
        (270, 0, "right"),
        (0, 0, "front"),
        (180, 0, "behind"),
        (45, 30, "left, front, above"),
        (225, -30, "right, behind, below"),
        (5, 5, "front"),  # within the margin of both boundary planes
        (0, 90, "above"),
    ],
)
def test_direction_words(az, el, words):
    assert direction_words(az, el) == words


def test_plane_angles_signs():
    lateral, frontal, vertical = plane_angles(135, -20)
    assert lateral > 0 and frontal < 0 and vertical == pytest.approx(-20)


def test_great_circle():
    assert great_circle_deg(0, 0, 90, 0) == pytest.approx(90)
    assert great_circle_deg(359, 0, 1, 0) == pytest.approx(2)
    assert great_circle_deg(10, 90, 200, 90) == pytest.approx(0, abs=1e-6)
    assert great_circle_deg(0, 0, 180, 0) == pytest.approx(180)


def test_a_front_back_or_up_down_mirror_is_on_the_same_cone_a_side_is_not():
    assert lateral_gap_deg(30, 0, 150, 0) == pytest.approx(0, abs=1e-9)  # front/back mirror
    assert lateral_gap_deg(90, 40, 90, -40) == pytest.approx(0, abs=1e-9)  # up/down mirror
    assert lateral_gap_deg(0, 0, 180, 0) == pytest.approx(0, abs=1e-9)  # the median plane is one cone
    assert lateral_gap_deg(90, 0, 270, 0) == pytest.approx(180)  # left against right
    assert lateral_gap_deg(0, 0, 30, 0) == pytest.approx(30)
