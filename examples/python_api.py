"""bat from Python, as in a notebook: the stages on files and arrays.

Run from the repository root: python examples/python_api.py
"""

from pathlib import Path

import soundfile

import batcli

HERE = Path(__file__).resolve().parent

# Load the shipped models once; every call after that reuses them.
encoder = batcli.load_encoder()
answerer = batcli.load_answerer()

# Where are the sounds? The same records `bat localize` writes, from a file...
for record in batcli.locate(encoder, HERE / "audio" / "two-sources.wav"):
    for source in record["sources"]:
        print(f"{source['label']:>12}: {source['direction'] or 'ahead'}, {source['distance_m']:.1f} m")

# ...or from an array at any rate (here the file's own 16-bit samples, (samples, 2), left ear first).
samples, rate = soundfile.read(HERE / "audio" / "siren-left.wav", dtype="int16")
[record] = batcli.locate(encoder, samples, sample_rate=rate)
print("siren-left.wav:", record["sources"][0]["label"], "at", record["sources"][0]["azimuth_deg"], "deg azimuth")

# Questions, one or many about one recording.
print(batcli.answer(answerer, samples, "Is the siren on my left or on my right?", sample_rate=rate))
for question, reply in zip(questions := ["How many sounds are there?", "Which is closer, the typing or the cricket?"],
                           batcli.answer(answerer, HERE / "audio" / "two-sources.wav", questions)):
    print(f"{question} -> {reply}")

# A simulated scene in memory: the audio, scene record and questions `bat simulate` would write.
clip = batcli.simulate_scene({"seed": 7, "room": {"anechoic_fraction": 1.0}}, index=0)
print("simulated:", [(s["label"], s["direction"]) for s in clip.scene["sources"]], clip.questions[0]["question"], clip.questions[0]["answer"])
print("its sources as heard:", [s["label"] for s in batcli.locate(encoder, clip.audio, sample_rate=clip.sample_rate)[0]["sources"]])
