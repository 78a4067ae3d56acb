"""``colorize serve``: a local web page that colorizes uploaded photos, with no network.

- :mod:`colorize.serve.server`: the command (options, the loopback-only default);
- :mod:`colorize.serve.app`: the Starlette routes; ``static/`` holds the page itself;
- :mod:`colorize.serve.catalog`: which models are offered, loaded lazily, with their test rows;
- :mod:`colorize.serve.uploads`: upload limits and the temporary folder photos live in;
- :mod:`colorize.serve.render`: the gray, colorized (at a colour strength) and preview pictures.

Nothing is imported here, so ``colorize --help`` does not pay for Starlette.
"""
