"""Glue from stored inputs to the models: delineate a field, build a footprint, make a report."""
