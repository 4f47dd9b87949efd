"""``python -m labtrack.cli``: the same as the ``labtrack`` command."""

from labtrack.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="labtrack")
