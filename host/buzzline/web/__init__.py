"""The host's web face: the operator console, its session login, live updates, the adapters API,
OpenAPI and docs, /metrics and the OBS overlay. ``buzzline.web.app`` is its root: it builds the
app and serves it."""
