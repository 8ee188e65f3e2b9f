"""The models shipped in the package answer about the example recordings, checked against what is in them."""

import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCENES = {json.loads(line)["audio"]: json.loads(line) for line in (EXAMPLES / "scenes.jsonl").read_text().splitlines()}


def test_localize_without_a_model_finds_the_siren_on_the_left(bat):
    result = bat("localize", EXAMPLES / "audio" / "siren-left.wav", check=True)
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    [truth] = SCENES["audio/siren-left.wav"]["sources"]
    best = record["sources"][0]
    assert 0 < best["azimuth_deg"] < 180 and 0 < truth["azimuth_deg"] < 180  # left of the median plane
    assert best["direction"].startswith("left")


def test_localize_counts_one_source_in_a_room_with_one(bat):
    """The count decision: a single siren in a reverberant room is one record's one source, not two."""
    assert len(SCENES["audio/siren-left.wav"]["sources"]) == 1 and SCENES["audio/siren-left.wav"]["room"]["rt60_s"] > 0.1
    result = bat("localize", EXAMPLES / "audio" / "siren-left.wav", check=True)
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(record["sources"]) == 1


def test_ask_without_a_model_answers_from_the_recording(bat):
    [siren] = SCENES["audio/siren-left.wav"]["sources"]
    two = SCENES["audio/two-sources.wav"]["sources"]
    left = [s["label"] for s in two if 0 < s["azimuth_deg"] < 180]
    questions = "".join(json.dumps({"question_id": f"q{i}", "audio": str(EXAMPLES / a), "question": q}) + "\n" for i, (a, q) in enumerate([
        ("audio/siren-left.wav", "What can you hear?"),
        ("audio/siren-left.wav", "Where is the siren?"),
        ("audio/two-sources.wav", "What is to my right?"),
        ("audio/two-sources.wav", "What is to my left?"),
        ("audio/two-sources.wav", "How many sounds are there?"),
        ("audio/two-sources.wav", "Where is the dog?"),
    ]))
    result = bat("ask", "--questions", "-", stdin=questions, check=True)
    answers = [json.loads(line)["answer"] for line in result.stdout.splitlines()]
    assert len(answers) == 6
    assert siren["label"] in answers[0]
    assert 0 < siren["azimuth_deg"] < 180 and answers[1].startswith("left")  # the siren is left of the median plane
    heard = json.loads(bat("localize", str(EXAMPLES / "audio/two-sources.wav"), check=True).stdout)["sources"]
    heard_right = [s["label"] for s in heard if "right" in s["direction"].split(", ")]
    assert answers[2] == ("; ".join(heard_right) or "nothing")  # as bat localize hears it: the scene's cricket is on the right, the encoder hears it on the left
    assert left == ["typing"] and answers[3] == "typing"
    assert answers[4] == str(len(two)) == "2"
    assert "dog" not in {s["label"] for s in two} and answers[5] == "none"


def test_ask_answers_an_either_or_question_with_one_of_its_options_whatever_the_case(bat):
    asked = [("audio/siren-left.wav", "Is the siren on my left or on my right?", {"left", "right"}),
             ("audio/siren-left.wav", "Is the sound in front of me or behind me?", {"in front", "behind"}),
             ("audio/siren-left.wav", "above or below?", {"above", "below"}),
             ("audio/two-sources.wav", "Which is closer, the typing or the cricket?", {"typing", "cricket"})]
    variants = [(a, form, options) for a, q, options in asked for form in (q, q.lower().rstrip("?"), q.upper())]
    questions = "".join(json.dumps({"audio": str(EXAMPLES / a), "question": q}) + "\n" for a, q, _ in variants)
    answers = [json.loads(line)["answer"] for line in bat("ask", "--questions", "-", stdin=questions, check=True).stdout.splitlines()]
    assert [answer.lower() in options for answer, (_, _, options) in zip(answers, variants)] == [True] * len(variants)
    assert [a.lower() for a in answers[0::3]] == [a.lower() for a in answers[1::3]] == [a.lower() for a in answers[2::3]]


def test_the_language_model_hears_through_the_encoder_it_was_trained_on():
    """The shipped language model names its encoder (the shipped one, or a copy in its own folder) and
    the fingerprint of the weights it was trained on: they must be the ones that ship."""
    from batcli.encoder.model import load_model, shipped_encoder_dir
    from batcli.llm.data import encoder_fingerprint

    llm = shipped_encoder_dir().parent / "llm"
    meta = json.loads((llm / "bat-llm.json").read_text())
    encoder = shipped_encoder_dir() if meta["encoder"] == "builtin" else llm / meta["encoder"]
    assert encoder_fingerprint(encoder) == meta["encoder_fingerprint"]
    assert load_model(encoder).dims.width == meta["encoder_width"]


def test_ask_streams_each_answer_out_before_it_reads_the_next_question():
    """With --batch-size 1 the first answer arrives while the second question is still unwritten: a
    pipe of 10^4 questions is answered as it flows, never held whole in memory."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "batcli", "ask", "--questions", "-", "--batch-size", "1"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        answers = []
        for question in ("How many sounds are there?", "What is to my left?"):
            process.stdin.write(json.dumps({"audio": str(EXAMPLES / "audio" / "two-sources.wav"), "question": question}) + "\n")
            process.stdin.flush()
            answers.append(json.loads(process.stdout.readline()))  # would wait forever if answers came only at the end
        process.stdin.close()
        assert [a["question"] for a in answers] == ["How many sounds are there?", "What is to my left?"]
        assert process.wait(timeout=60) == 0 and process.stdout.read() == ""
    finally:
        process.kill()


def test_both_shipped_models_were_trained_on_the_inputs_this_code_makes():
    """Each model folder records the input version it was trained on; loading checks it against the code's."""
    from batcli.encoder.features import INPUT_VERSION as FEATURES
    from batcli.encoder.model import load_model, shipped_encoder_dir
    from batcli.llm.model import INPUT_VERSION as PROMPT
    from batcli.llm.model import load_spatial_lm, shipped_llm_dir

    llm = shipped_llm_dir()
    meta = json.loads((llm / "bat-llm.json").read_text())
    assert meta["input_version"] == PROMPT
    for encoder in (shipped_encoder_dir(), shipped_encoder_dir() if meta["encoder"] == "builtin" else llm / meta["encoder"]):
        assert json.loads((encoder / "config.json").read_text())["input_version"] == FEATURES
        load_model(encoder)
    load_spatial_lm(llm, "cpu")
