"""rmdlib: the small tested library behind *Replaced Token Detection in Practice*.

Each module holds one concept of the course; the chapters import them::

    import rmdlib
    P = rmdlib.setup(seed=0)          # profile, device, seeds (every chapter)
    from rmdlib import synth, data, tokens

Importing ``rmdlib`` also registers the course's own architecture
(:mod:`rmdlib.custom`) with the ``transformers`` Auto classes, so that
``AutoModelForTokenClassification.from_pretrained(folder)`` can rebuild it
without ``trust_remote_code`` (chapter 8).

See the module map in the book's "How to use this book" page.
"""

from rmdlib.custom import register as _register_custom_architecture
from rmdlib.profile import Profile, setup

_register_custom_architecture()

__all__ = ["Profile", "setup", "__version__"]
__version__ = "0.2.3"
