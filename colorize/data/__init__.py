"""Photos in, batches out: finding, decoding, splitting, downloading and batching images.

Import from the submodules (``colorize.data.datamodule``, ``colorize.data.splits``, ...):
this package imports nothing itself, so tools that need only a file reader stay fast.
"""
