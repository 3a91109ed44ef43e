"""Input and output: DEM tiles, vector layers, KP statistics, downloads and checks."""
