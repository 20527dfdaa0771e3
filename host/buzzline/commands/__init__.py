"""CLI subcommands: each module defines ``NAME``, ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int``.

`buzzline.cli` finds them by listing this package, so a new command is a new module.
"""
