"""`bat simulate`: render a data set of binaural scenes and the questions about them.

Output folder:
    config.yaml       the resolved config (a rerun with the same config resumes)
    labels.txt        the class list, one per line
    audio/NNNNNN.wav  2 channels (left first), 16-bit
    scenes.jsonl      one scene record per clip
    qa.jsonl          questions and answers about those clips
    responses/, responses.jsonl   an optional bank of room responses (safetensors, float32) for on-the-fly mixing

Clip i is drawn from its own generator, seeded by (seed, i), so the output is the same bytes
whatever the worker count, and `--shard K/N` simply renders the K-th of N contiguous index ranges.
Finished clips are kept in `.parts/` until the run completes, so an interrupted run resumes; `.lock`
refuses a second run on the same folder while one is writing there (and goes when the set is complete).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..audio import save_audio
from ..config import dump_yaml
from ..errors import BatError, UsageError
from ..progress import progress_bar, stderr
from ..records import atomic_write, folder_lock, load_jsonl, read_tensors, write_jsonl
from ..runtime import follow_main_process, uninterrupted
from .hrtf import HRTF, load_hrtf
from .library import SoundConfig, SoundLibrary, load_library
from .questions import QuestionConfig, generate_questions
from .rooms import RoomConfig, draw_room
from .scenes import SceneConfig, render_response, render_scene

CLIP_STREAM, RESPONSE_STREAM, ROOM_STREAM = 0, 1, 2


@dataclass
class SimulateConfig:
    seed: int = field(default=0, metadata={"help": "seed of every random draw", "range": (0, 2**63 - 1)})
    num_clips: int = field(default=1000, metadata={"help": "clips in the whole data set (all shards)", "range": (0, 10**8)})
    responses: int = field(default=0, metadata={"help": "room responses to write to the bank as well", "range": (0, 10**8)})
    responses_per_room: int = field(default=1, metadata={"help": "bank responses that share one room and listener (source positions in it)", "range": (1, 1000)})
    split: Literal["train", "test"] = field(default="train", metadata={"help": "which phrasings and which user sound files to use"})
    shard: str = field(default="1/1", metadata={"help": "K/N: render the K-th of N equal parts of the index range"})
    sample_rate: int = field(default=32000, metadata={"help": "output sample rate (Hz)", "range": (8000, 192000)})
    duration_s: float = field(default=10.0, metadata={"help": "clip length", "range": (0.5, 600)})
    hrtf: str = field(default="kemar", metadata={"help": "'kemar' (built in) or a SOFA file (SimpleFreeFieldHRIR)"})
    sounds: SoundConfig = field(default_factory=SoundConfig)
    room: RoomConfig = field(default_factory=RoomConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)
    questions: QuestionConfig = field(default_factory=QuestionConfig)


def simulate(config: SimulateConfig, out_dir: Path, workers: int) -> dict:
    """Render this shard of the data set into `out_dir`; returns a summary for the log."""
    shard, shards = parse_shard(config.shard)
    hrtf = load_hrtf(config.hrtf, config.sample_rate)
    library = load_library(config.sounds, config.split)
    if len(library.labels) < 2 and config.scene.two_source_fraction > 0:
        raise BatError(f"{config.sounds.library}: two-source scenes need at least two classes, found {library.labels}")
    _prepare(out_dir, config, library)
    with folder_lock(out_dir, "bat simulate"):
        if (out_dir / "scenes.jsonl").exists():
            stderr.print(f"{out_dir}: already complete, nothing to do")
            return _summary(out_dir)
        clips = [("clip", i) for i in _shard_range(config.num_clips, shard, shards)]
        responses = [("response", i) for i in _shard_range(config.responses, shard, shards)]
        todo = [job for job in clips + responses if not _part_path(out_dir, *job).exists()]
        if len(todo) < len(clips) + len(responses):
            stderr.print(f"{out_dir}: resuming, {len(clips) + len(responses) - len(todo)} items already done")
        _run(todo, config, out_dir, hrtf, library, workers)
        with uninterrupted():
            _assemble(out_dir, clips, responses)
            (out_dir / ".lock").unlink()  # a finished set holds only its files; a run after this finds it complete
        return _summary(out_dir)


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' with 1 <= K <= N, or a UsageError."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"shard {text!r}: expected K/N, e.g. 2/8") from None
    if not 1 <= k <= n:
        raise UsageError(f"shard {text!r}: K must be between 1 and N")
    return k, n


def _shard_range(total: int, shard: int, shards: int) -> range:
    return range((shard - 1) * total // shards, shard * total // shards)


def _prepare(out_dir: Path, config: SimulateConfig, library: SoundLibrary) -> None:
    """Create the output folder, or check that an existing one was made with the same config."""
    wanted = dump_yaml(config)
    saved = out_dir / "config.yaml"
    if saved.exists():
        if saved.read_text(encoding="utf-8") != wanted:
            raise UsageError(f"{out_dir} holds a data set made with another config; choose another -o or remove it")
        return
    if out_dir.exists() and any(out_dir.iterdir()):
        raise UsageError(f"{out_dir} exists and is not a bat data set; choose another -o")
    for folder in ("audio", ".parts") + (("responses",) if config.responses else ()):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / "labels.txt") as stream:
        stream.write("".join(label + "\n" for label in library.labels))
    with atomic_write(saved) as stream:
        stream.write(wanted)


def _clip_name(index: int) -> str:
    return f"{index:06d}"


def _part_path(out_dir: Path, kind: str, index: int) -> Path:
    return out_dir / ".parts" / f"{kind}-{_clip_name(index)}.json"


# Each worker process holds these, set once by _init_worker, instead of receiving them per job.
_worker: dict = {}


def _init_worker(config: SimulateConfig, out_dir: Path, hrtf: HRTF, library: SoundLibrary, main_pid: int) -> None:
    import torch

    follow_main_process(main_pid)
    torch.set_num_threads(1)  # the worker processes already fill the cores
    _worker.update(config=config, out_dir=out_dir, hrtf=hrtf, library=library)


def _render_job(job: tuple[str, int]) -> tuple[str, int]:
    """Render one clip or response, write its files, then its part record (which marks it done).
    A stop that comes while a file is written waits for it: SIGTERM ends a worker at once."""
    kind, index = job
    config: SimulateConfig = _worker["config"]
    out_dir: Path = _worker["out_dir"]
    name = _clip_name(index)
    if kind == "clip":
        audio, scene, questions = render_clip(config, index, _worker["hrtf"], _worker["library"])
        with uninterrupted():
            save_audio(out_dir / "audio" / f"{name}.wav", audio, config.sample_rate)
        part = {"scene": scene, "questions": questions}
    else:
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, RESPONSE_STREAM, index]).spawn(2)[0])
        room_id = index // config.responses_per_room
        room = draw_room(np.random.default_rng([config.seed, ROOM_STREAM, room_id]), config.room)
        response, fields = render_response(rng, _worker["hrtf"], config.room, config.scene, room)
        with uninterrupted():
            save_response(out_dir / "responses" / f"{name}.safetensors", response, config.sample_rate)
        part = {"response": {"response": f"responses/{name}.safetensors", "sample_rate": config.sample_rate, "room_id": room_id, **fields}}
    with uninterrupted(), atomic_write(_part_path(out_dir, kind, index)) as stream:
        json.dump(part, stream, ensure_ascii=False)
    return job


def render_clip(config: SimulateConfig, index: int, hrtf: HRTF, library: SoundLibrary) -> tuple[np.ndarray, dict, list[dict]]:
    """Clip `index` of the data set `config` describes, in memory: its audio (2, samples), its scene
    record and its question records, the same as `bat simulate` writes for it."""
    name = _clip_name(index)
    scene_seed, question_seed = np.random.SeedSequence([config.seed, CLIP_STREAM, index]).spawn(2)
    audio, fields = render_scene(np.random.default_rng(scene_seed), library, hrtf, config.room, config.scene, config.sample_rate, config.duration_s)
    scene = {
        "clip_id": name,
        "audio": f"audio/{name}.wav",
        "sample_rate": config.sample_rate,
        "duration_s": config.duration_s,
        "split": config.split,
        **fields,
    }
    questions = generate_questions(scene, np.random.default_rng(question_seed), config.split, library.labels, config.questions)
    return audio, scene, questions


def save_response(path: Path, response: np.ndarray, sample_rate: int) -> None:
    """A BRIR as exact float32 in safetensors (float WAV files carry a time stamp, so never the same bytes)."""
    from safetensors.numpy import save

    with atomic_write(path, "wb") as stream:
        stream.write(save({"response": np.ascontiguousarray(response, dtype=np.float32)}, metadata={"sample_rate": str(sample_rate)}))


def load_response(path: Path) -> tuple[np.ndarray, int]:
    """A bank response (2, taps) and its sample rate."""
    tensors, metadata = read_tensors(path, "numpy")
    if "response" not in tensors or "sample_rate" not in metadata:
        raise BatError(f"{path}: not a bat response (needs a response tensor and its sample_rate)")
    return tensors["response"], int(metadata["sample_rate"])


def _run(todo, config, out_dir, hrtf, library, workers: int) -> None:
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    state = (config, out_dir, hrtf, library, os.getpid())
    with progress_bar() as progress:
        task = progress.add_task("simulate", total=len(todo), unit="clips")
        if not todo:
            return
        # Numerical libraries get one thread per process: the processes already fill the cores.
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, "1")
        # Workers are forked from a clean server process that has imported the simulator once: quick
        # to start, and safe, unlike forking this process, whose threads (torch's, the progress bar's)
        # may hold locks that a forked child would wait on forever.
        context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
        if context.get_start_method() == "forkserver":
            context.set_forkserver_preload([__name__])
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=state)
        try:
            pending = {pool.submit(_render_job, job) for job in todo}
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION, timeout=0.5)
                for future in done:
                    future.result()  # re-raises a worker's error here
                    progress.advance(task)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _assemble(out_dir: Path, clips, responses) -> None:
    """Write the JSONL files from the parts, in index order, then drop the parts."""
    parts = {job: json.loads(_part_path(out_dir, *job).read_text(encoding="utf-8")) for job in clips + responses}
    write_jsonl((q for job in clips for q in parts[job]["questions"]), out_dir / "qa.jsonl")
    if responses:
        write_jsonl((parts[job]["response"] for job in responses), out_dir / "responses.jsonl")
    write_jsonl((parts[job]["scene"] for job in clips), out_dir / "scenes.jsonl")  # last: it marks the set complete
    shutil.rmtree(out_dir / ".parts")


def _summary(out_dir: Path) -> dict:
    scenes = load_jsonl(out_dir / "scenes.jsonl")
    questions = load_jsonl(out_dir / "qa.jsonl")
    responses = out_dir / "responses.jsonl"
    return {
        "out_dir": str(out_dir),
        "clips": len(scenes),
        "questions": len(questions),
        "responses": len(load_jsonl(responses)) if responses.exists() else 0,
    }
