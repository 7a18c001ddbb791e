"""The jinja2 environment of the P4 backend (templates lay text out; the logic is in Python)."""
from __future__ import annotations

import os

import jinja2

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                         trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def render_template(name: str, **ctx) -> str:
    from . import HOST_PORT, HOST_PART_PORT, MALFORMED_PORT, UNSELECTED_PORT
    ports = dict(HOST_PORT=HOST_PORT, HOST_PART_PORT=HOST_PART_PORT, MALFORMED_PORT=MALFORMED_PORT,
                 UNSELECTED_PORT=UNSELECTED_PORT)
    return ENV.get_template(name).render(ports=ports, **ctx)
