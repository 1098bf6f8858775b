"""Poncho software environments: the spec's normal form and content hash, the build plan
(conda through micromamba, pip through uv, git and http fetches), the activation wrapper, the
tarball, the builder that runs in the build Job, and the operator's pure build decisions.

Nothing here imports kopf or the controllers.
"""
