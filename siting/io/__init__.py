"""Reading and writing files, one reader per kind: OSM extracts (osm), tables (tables),
vector layers and the study area (vectors), coordinates and the metric CRS (coords),
OR-Library benchmark instances (orlib), output folders (outdir)."""
