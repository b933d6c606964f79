"""Pydantic request/response models of the API: ``XCreate``/``XUpdate`` in, ``XPublic`` out."""
