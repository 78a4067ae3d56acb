"""Training: the LightningModule and what a ``colorize fit`` run needs around it.

- :mod:`colorize.training.module`: :class:`ColorizationGAN`, manual optimization, a D step then a G step;
- :mod:`colorize.training.losses`: the GAN loss and the VGG16 perceptual loss;
- :mod:`colorize.training.callbacks`: pictures of the validation photos, the balanced-accuracy monitor;
- :mod:`colorize.training.checkpointing`: atomic checkpoints, ``last.ckpt``, mid-epoch saves;
- :mod:`colorize.training.loggers`: the W&B logger (offline without a key).

May import evaluation, inference, models, data and the base (``color``, ``atomic``,
``provenance``, ``results``); nothing below imports training. Nothing is imported here.
"""
