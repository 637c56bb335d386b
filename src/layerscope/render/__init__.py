"""Renderers: turn a Report into text, markdown, HTML, tables and plots. They return values; never print.

Importing this package registers the string renderers behind ``Report.to_markdown``, ``Report.to_text`` and
``Report._repr_html_`` (``layerscope.report.RENDERERS``): the Report depends on no renderer.
"""

from ..report import RENDERERS
from .html import report_html
from .markdown import report_markdown
from .text import report_text

RENDERERS.update(markdown=report_markdown, text=report_text, html=report_html)
