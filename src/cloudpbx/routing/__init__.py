"""Outbound routing: which carriers a dialled number leaves through (KAZOO's stepswitch resources).

`carriers` compiles stored carrier documents, `pool` gathers one partition's carriers with their rules in RE2 sets,
`decision` is the decision itself (a pure function over a pool, explainable step by step), `dialstring` shapes
the number for each gateway, and `service` keeps the pools compiled per revision of their partition's marker.
"""
