"""The host's web face: the operator console, its session login, live updates, the adapters API,
OpenAPI and docs, /metrics and the OBS overlay. Mounted by ``buzzline.io.operator_api.build_app``."""
