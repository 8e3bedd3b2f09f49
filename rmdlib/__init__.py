"""rmdlib: the small tested library behind *Replaced Token Detection in Practice*.

Each module holds one concept of the course; the chapters import them::

    import rmdlib
    P = rmdlib.setup(seed=0)          # profile, device, seeds (every chapter)
    from rmdlib import synth, data, tokens

See the module map in the book's "How to use this book" page.
"""

import warnings

# transformers and datasets import `tqdm.auto`. In a Jupyter kernel without ipywidgets
# tqdm then warns "IProgress not found" (with the install's path) and falls back to
# text bars, which is what the course wants: widget bars need JavaScript that the
# offline book does not load. Importing rmdlib first keeps that notice off the pages.
warnings.filterwarnings("ignore", message="IProgress not found", module=r"tqdm\.")

from rmdlib.profile import Profile, setup  # noqa: E402

__all__ = ["Profile", "setup", "__version__"]
__version__ = "0.1.0"
