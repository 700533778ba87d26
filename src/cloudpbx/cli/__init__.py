"""Entry points: `cloudpbx serve`, `init`, `sup <module> <function>`."""
