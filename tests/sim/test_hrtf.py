import numpy as np
import pytest
import sofar

from batcli.errors import BatError
from batcli.sim.hrtf import load_hrtf


@pytest.fixture(scope="module")
def kemar():
    return load_hrtf("kemar", 32000)


def _onset(ir, fraction=0.2):
    return int(np.argmax(np.abs(ir) >= fraction * np.abs(ir).max()))


def test_kemar_ships_resampled_with_left_ear_first(kemar):
    assert kemar.sample_rate == 32000 and kemar.irs.shape[1] == 2
    assert kemar.elevation_range == (-40.0, 90.0)
    left = kemar.irs[kemar.nearest(np.array([0.0, 1.0, 0.0]))]  # a source on the +y (left) axis
    assert np.sum(left[0] ** 2) > 4 * np.sum(left[1] ** 2)
    assert _onset(left[0]) < _onset(left[1])


def test_nearest_direction_fills_the_hole_below_minus_40(kemar):
    down = kemar.nearest(np.array([0.2, 0.0, -1.0]))
    assert kemar.elevation_deg[down] == -40.0
    front = kemar.nearest(np.array([3.0, 0.0, 0.0]))  # need not be unit length
    assert kemar.azimuth_deg[front] == 0.0 and kemar.elevation_deg[front] == 0.0


def _write_sofa(path, convention, ir, positions, rate=48000):
    sofa = sofar.Sofa(convention)
    sofa.Data_IR = ir
    sofa.SourcePosition = positions
    sofa.Data_SamplingRate = rate
    sofar.write_sofa(str(path), sofa)


def test_any_simple_free_field_sofa_loads_and_is_resampled(tmp_path):
    ir = np.zeros((2, 2, 96))
    ir[0, 0, 10] = ir[0, 1, 20] = 1.0  # source at 90 deg: left ear first
    ir[1, 0, 20] = ir[1, 1, 10] = 1.0  # source at 270 deg: right ear first
    path = tmp_path / "toy.sofa"
    _write_sofa(path, "SimpleFreeFieldHRIR", ir, [[90, 0, 1.5], [270, 0, 1.5]])
    hrtf = load_hrtf(str(path), 16000)
    assert hrtf.sample_rate == 16000
    left = hrtf.irs[hrtf.nearest(np.array([0.0, 1.0, 0.0]))]
    assert _onset(left[0]) < _onset(left[1])


def test_wrong_convention_missing_and_non_sofa_files(tmp_path):
    other = tmp_path / "fir.sofa"
    sofar.write_sofa(str(other), sofar.Sofa("GeneralFIR"))
    with pytest.raises(BatError, match="GeneralFIR; only SimpleFreeFieldHRIR"):
        load_hrtf(str(other), 32000)
    with pytest.raises(BatError, match="not found"):
        load_hrtf(str(tmp_path / "absent.sofa"), 32000)
    text = tmp_path / "notes.sofa"
    text.write_text("not a sofa file")
    with pytest.raises(BatError, match="not a readable SOFA file"):
        load_hrtf(str(text), 32000)
