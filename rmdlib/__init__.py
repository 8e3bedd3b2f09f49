"""rmdlib: the small tested library behind *Replaced Token Detection in Practice*.

Each module holds one concept of the course; the chapters import them::

    import rmdlib
    P = rmdlib.setup(seed=0)          # profile, device, seeds (every chapter)
    from rmdlib import synth, data, tokens

See the module map in the book's "How to use this book" page.
"""

from rmdlib.profile import Profile, setup

__all__ = ["Profile", "setup", "__version__"]
__version__ = "0.1.0"
