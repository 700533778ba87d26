"""Tenants' templates render in a sandbox that can only show data: missing values render empty, HTML escapes what it
prints, and output past the cap stops the rendering instead of growing."""

from __future__ import annotations

import pytest

from cloudpbx.notify import render


def test_values_conditions_loops_and_filters_render():
    data = {"user": {"first_name": "ada"}, "calls": [{"n": "911"}, {"n": "933"}], "amount": 4.2}
    source = "{{ user.first_name|title }} {% for c in calls %}{{ c.n }}{% if not loop.last %},{% endif %}{% endfor %}"
    assert render.render(source + " {{ missing.deeper }}${{ amount|round(1) }}", data) == "Ada 911,933 $4.2"


def test_html_escapes_and_text_does_not():
    assert render.render("<b>{{ name }}</b>", {"name": "<i>&"}, html=True) == "<b>&lt;i&gt;&amp;</b>"
    assert render.render("{{ name }}", {"name": "<i>&"}) == "<i>&"


def test_output_stops_at_the_cap():
    rows = ["x" * 1000] * 1000
    with pytest.raises(render.RenderError, match="over"):
        render.render("{% for a in rows %}{% for b in rows %}{{ b }}{% endfor %}{% endfor %}", {"rows": rows})


@pytest.mark.parametrize(
    "source",
    [
        "{{ cycler }}{{ joiner() }}",
        "{% macro m() %}{% endmacro %}",
        "{% set x = 1 %}",
        "{{ 1 + 1 }}",
        "{% extends 'base' %}",
        "{% block b %}{% endblock %}",
        "{% for a in x recursive %}{{ loop(a) }}{% endfor %}",
        "{{ x|map('upper') }}",
        "{{ x|truncate(*y) }}",
        "{{ x|default(y) }}",
        "x" * (render.MAX_SOURCE + 1),
    ],
)
def test_what_computes_or_reaches_outside_is_refused(source):
    with pytest.raises(render.RenderError):
        render.check(source)
