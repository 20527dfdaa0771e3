"""Pages the host serves to browsers beside the operator API (the OBS overlay)."""
