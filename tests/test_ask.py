"""bat ask around the model: which answers a question's form allows."""

import json

from batcli.ask import ask, load_answerer
from batcli.grammar import NO, UNANSWERABLE, YES


def test_a_yes_no_question_is_answered_yes_or_no_even_by_a_model_that_says_something_else(llm_run, questions_dir):
    """The tiny model, two steps trained, says almost anything; asked whether, it still answers yes or no."""
    audio = json.loads((questions_dir / "qa.jsonl").read_text().splitlines()[0])["audio"]
    asked = ["Is the dog on my left?", "is there a siren or not", "Can you hear a dog?", "Are there two sounds?"]
    answers = [a["answer"] for a in ask([{"audio": str(questions_dir / audio), "question": q} for q in asked],
                                        load_answerer(str(llm_run), "cpu"), max_tokens=4, show_progress=False)]
    assert all(answer in (YES, NO, UNANSWERABLE) for answer in answers), answers
