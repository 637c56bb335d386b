"""Renderers: turn a Report into text, markdown, HTML, tables and plots. They return values; never print."""
