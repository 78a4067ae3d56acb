"""``colorize serve``: a local web page that colorizes uploaded photos, with no network.

- :mod:`colorize.serve.server`: the command (options, the loopback-only default);
- :mod:`colorize.serve.app`: the Starlette routes; ``static/`` holds the page itself (``hints.js``: its hint tool);
- :mod:`colorize.serve.catalog`: which models are offered, loaded lazily, with their test rows;
- :mod:`colorize.serve.uploads`: upload limits and the temporary folder photos live in;
- :mod:`colorize.serve.render`: the gray, colorized (at a colour strength) and preview pictures;
- :mod:`colorize.serve.hints`: the colour hints of a picture request, checked as the CLI's, and their cache key;
- :mod:`colorize.serve.guard`: same-origin POSTs only, and the security headers of every answer;
- :mod:`colorize.serve.jobs`: the one worker thread, its short queue (503 beyond it), dropped jobs;
- :mod:`colorize.serve.leftovers`: removing the upload folders of servers that died.

Nothing is imported here, so ``colorize --help`` does not pay for Starlette.
"""
