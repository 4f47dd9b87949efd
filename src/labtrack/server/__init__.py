"""The labtrack server: MLflow's REST API, the artifact proxy and labtrack's extensions.

Importing this package imports nothing heavy; :func:`labtrack.server.app.create_app`
builds the ASGI application.
"""
