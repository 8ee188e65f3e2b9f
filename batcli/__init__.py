"""bat: binaural spatial audio and a language model, as a command-line toolkit and a Python API.

The API (api.py): load_encoder, locate, load_answerer, answer, simulate_scene; everything else is
internal. The command line (`bat`, cli.py) runs the same functions.
"""

from .api import SimulatedClip, answer, load_answerer, load_encoder, locate, simulate_scene
from .errors import BatError

__all__ = ["BatError", "SimulatedClip", "answer", "load_answerer", "load_encoder", "locate", "simulate_scene"]
