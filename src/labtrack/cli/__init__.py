"""The ``labtrack`` command line: a thin click layer over :class:`labtrack.TrackingClient`.

The entry point is :data:`labtrack.cli.main.cli`.
"""
