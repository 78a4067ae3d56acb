"""CLI arguments for seconds-long runs, shared by tests/conftest.py's ``tiny_run`` and the tests that train their own.

A module of its own (not conftest): ``from conftest import`` would find tests/serve/conftest.py
first when both folders are on sys.path.
"""

TINY_NETWORKS = [
    "--model.generator.init_args.base_width=4",
    "--model.generator.init_args.depth=2",
    "--model.discriminator.init_args.base_width=4",
    "--model.discriminator.init_args.num_layers=2",
]


def tiny_run_args(root, run_dir, *extra: str, experiment: str = "vanilla") -> list[str]:
    """CLI arguments for a seconds-long run of ``experiment`` with small UNet/PatchGAN widths."""
    args = ["--config", f"{experiment}.yaml", "--config", "tiny.yaml", f"--data.root={root}"]
    args += [f"--trainer.default_root_dir={run_dir}"]
    return [*args, *(TINY_NETWORKS if experiment.startswith("vanilla") else []), *extra]
