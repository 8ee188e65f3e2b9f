"""The binaural front end: shapes, the phase difference's sign, gain invariance."""

import numpy as np
import torch

from batcli.encoder.features import BinauralFeatures

RATE = 16000


def features():
    return BinauralFeatures(RATE, n_fft=512, hop=160, n_mels=32, f_min=50.0, f_max=7600.0)


def noise(seconds=1.0, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(int(RATE * seconds))).float() * 0.1


def test_shapes_are_four_maps_on_the_mel_grid():
    out = features()(torch.stack([noise(), noise(seed=1)])[None].repeat(3, 1, 1))
    assert out.shape == (3, 4, 32, RATE // 160 + 1)
    assert torch.isfinite(out).all()


def test_a_sound_that_reaches_the_left_ear_first_has_a_positive_phase_lead():
    signal = noise()
    delay = 4  # samples: the right ear hears it 0.25 ms later
    left, right = signal[delay:], signal[:-delay]
    maps = features()(torch.stack([left, right])[None])
    cos, sin = maps[0, 2], maps[0, 3]
    # low bands, below the first phase wrap (1 / (2 * 0.25 ms) = 2 kHz): the left leads by 2 pi f tau > 0
    assert sin[:8].mean() > 0.3
    assert cos[:4].mean() > 0.5
    swapped = features()(torch.stack([right, left])[None])
    assert swapped[0, 3, :8].mean() < -0.3


def test_levels_ignore_the_overall_gain_but_keep_the_ear_difference():
    left, right = noise(), noise(seed=1) * 0.25  # right ear 12 dB quieter
    maps = features()(torch.stack([left, right])[None])
    louder = features()(torch.stack([left, right])[None] * 30)
    assert torch.allclose(maps, louder, atol=1e-4)
    difference_db = (maps[0, 0] - maps[0, 1]).mean() * 40  # the maps are scaled by 1/40 dB
    assert 10 < difference_db < 14


def test_silence_gives_finite_constant_features():
    maps = features()(torch.zeros(1, 2, RATE))
    assert torch.isfinite(maps).all()
    assert maps[0, 0].std() == 0


def binaural():
    return BinauralFeatures(RATE, n_fft=512, hop=160, n_mels=32, f_min=50.0, f_max=7600.0, kind="binaural")


def test_binaural_maps_give_a_positive_level_difference_and_time_lead_for_a_source_on_the_left():
    from batcli.sim.hrtf import load_hrtf

    hrtf = load_hrtf("kemar", RATE)
    left_hrir = hrtf.irs[hrtf.nearest(np.array([0.0, 1.0, 0.0]))]  # straight to the left
    signal = noise(seconds=1.0).numpy()
    ears = np.stack([np.convolve(signal, ir)[: RATE] for ir in left_hrir])
    maps = binaural()(torch.from_numpy(ears).float()[None])
    assert maps.shape == (1, 7, 32, RATE // 160 + 1)
    ild, sin, gcc = maps[0, 2], maps[0, 4], maps[0, 6]
    assert ild.mean() > 0.1  # the left ear is louder (0.1 is 4 dB)
    assert sin[:6].mean() > 0.3  # and leads in phase at low frequency
    lead = int(gcc.mean(-1).argmax()) - 16  # and in time: GCC-PHAT peaks at a lead of 0.5-0.9 ms
    assert 8 <= lead <= 15
    mirrored = binaural()(torch.from_numpy(ears[::-1].copy()).float()[None])
    assert mirrored[0, 2].mean() < -0.1 and int(mirrored[0, 6].mean(-1).argmax()) - 16 == -lead


def test_coherence_falls_as_the_room_gets_more_reverberant():
    from dataclasses import replace

    from batcli.sim.hrtf import load_hrtf
    from batcli.sim.rooms import RoomConfig, binaural_response, draw_room

    hrtf = load_hrtf("kemar", RATE)
    signal = noise(seconds=1.5).numpy()
    coherence = []
    for rt60 in (0.0, 0.3, 1.2):
        config = RoomConfig(anechoic_fraction=1.0 if rt60 == 0 else 0.0, size_min_m=(10, 8, 3), size_max_m=(10, 8, 3), rt60_s=(max(rt60, 0.1),) * 2)
        room = replace(draw_room(np.random.default_rng(0), config), listener_m=np.array([4.0, 4.0, 1.5]), listener_yaw_deg=0.0)
        source = room.to_room(np.array([3.0, 1.0, 0.0]))  # 3 m ahead, a little to the left
        response = binaural_response(room, hrtf, source, np.random.default_rng(1), config.early_ms)
        ears = np.stack([np.convolve(signal, ir)[RATE // 2 : RATE // 2 + RATE] for ir in response])
        coherence.append(float(binaural()(torch.from_numpy(ears).float()[None])[0, 5].mean()))
    assert coherence[0] > coherence[1] > coherence[2]
    assert coherence[0] > 0.6 and coherence[2] < coherence[0] - 0.3


def test_onset_maps_hear_the_direct_sound_more_clearly_than_the_whole_reverberant_clip():
    """A source on the left starting at 0.5 s in a reverberant room: pooled over the onset, where the
    direct sound arrives before its echoes, the level and phase differences are larger than averaged
    over the whole clip, in which reverberation blurs them."""
    from dataclasses import replace

    from batcli.sim.hrtf import load_hrtf
    from batcli.sim.rooms import RoomConfig, binaural_response, draw_room

    hrtf = load_hrtf("kemar", RATE)
    signal = noise(seconds=2.0).numpy()
    signal[: RATE // 2] = 0
    config = RoomConfig(anechoic_fraction=0.0, size_min_m=(10, 8, 3), size_max_m=(10, 8, 3), rt60_s=(1.2, 1.2))
    room = replace(draw_room(np.random.default_rng(0), config), listener_m=np.array([4.0, 4.0, 1.5]), listener_yaw_deg=0.0)
    response = binaural_response(room, hrtf, room.to_room(np.array([0.0, 3.0, 0.0])), np.random.default_rng(1), config.early_ms)
    ears = torch.from_numpy(np.stack([np.convolve(signal, ir)[: 2 * RATE] for ir in response])).float()[None]
    maps = BinauralFeatures(RATE, n_fft=512, hop=160, n_mels=32, f_min=50.0, f_max=7600.0, kind="onset")(ears)[0]
    assert maps.shape == (10, 32, 2 * RATE // 160 + 1) and torch.isfinite(maps).all()
    assert torch.equal(maps[:7], binaural()(ears)[0])  # the binaural seven come first, unchanged
    ild, sin, onset_ild, onset_sin = maps[2].mean(), maps[4, :6].mean(), maps[7].mean(), maps[9, :6].mean()
    assert onset_ild > ild > 0
    assert onset_sin > sin + 0.1 and onset_sin > 0.3
    mirrored = BinauralFeatures(RATE, n_fft=512, hop=160, n_mels=32, f_min=50.0, f_max=7600.0, kind="onset")(ears.flip(1))[0]
    assert mirrored[7].mean() < 0 and mirrored[9, :6].mean() < -0.3


def test_onset_maps_of_silence_are_finite():
    maps = BinauralFeatures(RATE, n_fft=512, hop=160, n_mels=32, f_min=50.0, f_max=7600.0, kind="onset")(torch.zeros(1, 2, RATE))
    assert torch.isfinite(maps).all()


def direct_cues(ears: np.ndarray, tokens: int) -> torch.Tensor:
    """DirectCues at 32 kHz (the shipped rate: its bins reach the pinna's 16 kHz) of (2, samples) audio."""
    from batcli.encoder.features import DirectCues

    return DirectCues(256)(torch.from_numpy(np.ascontiguousarray(ears)).float()[None], tokens)[0]


def kemar_ears(azimuth_deg: float, signal: np.ndarray, delay: int = 0, rate: int = 32000):
    from batcli.geometry import unit_vector
    from batcli.sim.hrtf import load_hrtf

    hrtf = load_hrtf("kemar", rate)
    ir = hrtf.irs[hrtf.nearest(unit_vector(azimuth_deg, 0.0))]
    return np.stack([np.convolve(np.pad(signal, (delay, 0)), channel)[: len(signal)] for channel in ir])


def bursts(seed: int) -> np.ndarray:
    """2 s at 32 kHz: a 3000-sample noise burst every 0.25 s."""
    rng = np.random.default_rng(seed)
    signal = np.zeros(64000)
    for start in range(2000, 60000, 8000):
        signal[start : start + 3000] = rng.standard_normal(3000) * 0.1
    return signal


def burst_ears(hrtf, azimuth_deg: float, elevation_deg: float, seed: int) -> np.ndarray:
    """The bursts through the set's nearest measured direction, both ears."""
    from batcli.geometry import unit_vector

    ir = hrtf.irs[hrtf.nearest(unit_vector(azimuth_deg, elevation_deg))]
    signal = bursts(seed)
    return np.stack([np.convolve(signal, channel)[: len(signal)] for channel in ir])


def test_direct_cues_tell_a_source_in_front_from_its_mirror_behind():
    """KEMAR at 40 deg left and at 140 deg (the mirror behind): the interaural time difference is the
    same, but the pinna shapes the level difference per linear bin differently."""
    signal = np.random.default_rng(0).standard_normal(32000) * 0.1
    front, back = (direct_cues(kemar_ears(azimuth, signal), 10) for azimuth in (40.0, 140.0))
    bins = 128
    ild_front, ild_back = front[5, :bins] * 40, back[5, :bins] * 40  # dB
    assert ild_front.mean() > 3 and ild_back.mean() > 3  # both on the left
    high = slice(bins // 4, bins)  # above 4 kHz
    assert torch.sqrt((ild_front[high] - ild_back[high]).square().mean()) > 3.0  # dB rms, per bin
    assert front.shape == (10, 5 * bins + 1) and torch.isfinite(front).all()


def test_onset_weighted_level_differences_follow_the_direct_sound_through_an_echo():
    """Bursts from 60 deg left, each followed 3 ms later by an echo as loud from the right: the onset
    weighting keeps the per-bin level difference closer to the direct sound's than a plain average does."""
    rng = np.random.default_rng(1)
    signal = np.zeros(64000)
    for start in range(4000, 60000, 8000):  # 0.1-s bursts, one every 0.25 s
        signal[start : start + 3200] = rng.standard_normal(3200) * 0.1
    direct = kemar_ears(60.0, signal)
    echoed = direct + kemar_ears(300.0, signal, delay=96)  # 3 ms at 32 kHz
    bins = 128
    reference = direct_cues(direct, 1)[0, :bins] * 40
    onset = direct_cues(echoed, 1)[0, :bins] * 40

    def plain_ild(ears):  # the whole clip's power per bin, every frame alike
        spec = torch.stft(torch.from_numpy(ears).float(), 256, 128, window=torch.hann_window(256), return_complex=True)[:, 1:]
        power = spec.abs().square().sum(-1)
        return 10 * torch.log10(power[0] / power[1])

    plain = plain_ild(echoed)
    assert (onset - reference).abs().mean() < 0.7 * (plain - reference).abs().mean()


def test_direct_cues_ignore_the_gain_and_stay_finite_in_silence():
    signal = np.random.default_rng(2).standard_normal(16000) * 0.1
    ears = kemar_ears(90.0, signal)
    assert torch.allclose(direct_cues(ears, 4), direct_cues(ears * 20, 4), atol=1e-4)
    assert torch.isfinite(direct_cues(np.zeros((2, 16000)), 4)).all()


def test_the_hrtf_evidence_peaks_at_the_direction_of_a_source_and_not_at_its_mirror():
    """Bursts rendered through KEMAR: the grid direction that fits the onsets' interaural spectrum best
    is the source's own, front or back, up or down."""
    from batcli.encoder.features import EVIDENCE_AZIMUTHS, EVIDENCE_ELEVATIONS, DirectCues
    from batcli.geometry import great_circle_deg
    from batcli.sim.hrtf import load_hrtf

    hrtf = load_hrtf("kemar", 32000)
    cues = DirectCues(256, hrtf)
    grid = [(a, e) for a in EVIDENCE_AZIMUTHS for e in EVIDENCE_ELEVATIONS]
    for azimuth, elevation in ((40.0, 5.0), (140.0, 5.0), (300.0, 20.0), (200.0, -25.0)):
        ears = burst_ears(hrtf, azimuth, elevation, seed=3)
        evidence = cues(torch.from_numpy(ears).float()[None], 8)[0, :, 5 * 128 + 1 :]
        assert evidence.shape == (8, len(grid)) and evidence.max() == 1.0 and evidence.min() >= 0.0
        best = grid[int(evidence.mean(0).argmax())]
        assert great_circle_deg(*best, azimuth, elevation) <= 15.0  # grid points 15 deg apart in elevation share KEMAR's rings


def test_the_template_votes_go_to_the_source_in_a_free_field_and_its_side_in_a_room():
    """Bursts through KEMAR: in a free field most of the onset weight of both rows of votes (short and
    long frames) goes to measured directions within 15 deg of the source; with an echo from behind on
    the other side 3 ms later, the short frames' votes still fall on the source's side of the frontal plane."""
    from batcli.encoder.features import VOTE_ROWS, DirectCues
    from batcli.geometry import unit_vector
    from batcli.sim.hrtf import load_hrtf

    hrtf = load_hrtf("kemar", 32000)
    cues = DirectCues(256, hrtf)
    for azimuth, elevation in ((40.0, 0.0), (140.0, 0.0), (230.0, 20.0)):
        ears = burst_ears(hrtf, azimuth, elevation, seed=4)
        votes = cues.votes(torch.from_numpy(ears).float()[None])[0][0].numpy()
        source = unit_vector(azimuth, elevation)
        near = cues.vote_directions.numpy() @ source >= np.cos(np.radians(15.0))
        assert votes.shape == (VOTE_ROWS, len(hrtf.irs))
        assert all(row[near].sum() > 0.6 * row.sum() for row in votes)
    signal = bursts(seed=4)
    echoed = kemar_ears(40.0, signal) + 0.5 * kemar_ears(220.0, signal, delay=96)  # the echo from behind
    short = cues.votes(torch.from_numpy(echoed).float()[None])[0][0, 0].numpy()
    in_front = cues.vote_directions.numpy()[:, 0] > 0
    assert short[in_front].sum() > 0.8 * short.sum()


def test_the_long_frames_votes_hear_a_source_through_diffuse_noise():
    """Bursts from the front left (40 deg) in a diffuse background 6 dB below them: the long frames'
    votes, with the background's interaural spectrum taken out, still go to the source's side of the
    frontal plane and mostly within 15 deg of it (left in, the background pulls half the votes behind)."""
    from batcli.encoder.features import DirectCues
    from batcli.geometry import unit_vector
    from batcli.sim.hrtf import load_hrtf
    from batcli.sim.rooms import diffuse_noise

    hrtf = load_hrtf("kemar", 32000)
    cues = DirectCues(256, hrtf)
    ears = burst_ears(hrtf, 40.0, 0.0, seed=5)
    noise = diffuse_noise(hrtf, np.random.default_rng(5), ears.shape[1])
    ears = ears + noise * np.sqrt(np.mean(ears**2) / np.mean(noise**2) / 10 ** 0.6)
    long = cues.votes(torch.from_numpy(ears).float()[None])[0][0, 1].numpy()
    directions = cues.vote_directions.numpy()
    assert long[directions[:, 0] > 0].sum() > 0.8 * long.sum()
    assert long[directions @ unit_vector(40.0, 0.0) >= np.cos(np.radians(15.0))].sum() > 0.6 * long.sum()


def test_the_clip_coherence_tells_a_free_field_from_a_room():
    """Bursts 3 m away through KEMAR: in a free field, with or without a diffuse background 15 dB down
    (taken out as stationary noise), the clip is coherent enough to count as dry; in a room of RT60 0.6 s
    the echoes from all around make it far less so."""
    from dataclasses import replace

    from batcli.encoder.features import DirectCues
    from batcli.encoder.readout import DRY_COHERENCE
    from batcli.sim.hrtf import load_hrtf
    from batcli.sim.rooms import RoomConfig, binaural_response, diffuse_noise, draw_room

    hrtf = load_hrtf("kemar", 32000)
    cues = DirectCues(256, hrtf)
    signal = bursts(seed=6)
    clips = []
    for anechoic in (True, False):
        config = RoomConfig(anechoic_fraction=float(anechoic), size_min_m=(8, 6, 3), size_max_m=(8, 6, 3), rt60_s=(0.6, 0.6))
        room = replace(draw_room(np.random.default_rng(0), config), listener_m=np.array([3.0, 3.0, 1.5]), listener_yaw_deg=0.0)
        response = binaural_response(room, hrtf, room.to_room(np.array([2.0, 2.2, 0.0])), np.random.default_rng(1), config.early_ms)
        clips.append(np.stack([np.convolve(signal, ir)[: len(signal)] for ir in response]))
    free, room = clips
    noise = diffuse_noise(hrtf, np.random.default_rng(6), free.shape[1])
    noisy = free + noise * np.sqrt(np.mean(free**2) / np.mean(noise**2) / 10**1.5)
    coherence = cues.votes(torch.from_numpy(np.stack([free, noisy, room])).float())[1].numpy()
    assert coherence[0] > 0.99 and coherence[1] >= DRY_COHERENCE
    assert coherence[2] < DRY_COHERENCE - 0.1
