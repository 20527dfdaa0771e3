"""`buzzline bench KIND`: each module here defines ``NAME``, ``HELP``, ``add_arguments`` and ``run``."""
