"""footprint: production footprints of alluvial diamond fields.

A footprint is the modelled profile of what a field can really produce: where the
diamond-bearing gravels are, how many carats remain, how many a year can come out, and
what they look like. See ``../shared/docs/DOMAIN.md`` for the model chain.
"""

__version__ = "0.1.0"
